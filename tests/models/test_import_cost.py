"""`import horde_users` stays light: no HTTP, server or CLI library until something needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "typer",
    "rich",
    "click",
    "bleach",
    "anyio",
)


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(output)}


@pytest.mark.parametrize(
    ("code", "also_forbidden"),
    [
        ("import horde_users", ("pydantic",)),
        ("from horde_users import UserDetailsResponse, ModifyUserRequest, RC", ()),
    ],
)
def test_importing_the_package_or_its_models_loads_no_heavy_library(
    code: str, also_forbidden: tuple[str, ...]
) -> None:
    loaded = _modules_after(code)
    assert loaded.isdisjoint(HEAVY + also_forbidden), sorted(loaded & set(HEAVY + also_forbidden))


def test_importtime_confirms_it() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import horde_users"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "horde_users" in imported
    assert not any(name.split(".")[0] in HEAVY for name in imported)


def test_public_names_resolve_lazily_and_unknown_names_fail_clearly() -> None:
    import horde_users

    assert horde_users.ANON_API_KEY == "0000000000"
    assert "UserDetailsResponse" in dir(horde_users)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = horde_users.Nope
