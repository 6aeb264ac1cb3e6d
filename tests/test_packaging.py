"""The lean install: ``pip install horde-users`` brings the models and clients only, extras the rest.

The subprocess tests run Python with the server and CLI stack made unimportable (tests/blocked_imports.py),
which is what a machine with only the lean install looks like.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import metadata, packages_distributions
from pathlib import Path

import pytest

from horde_users._extras import EXTRA_MODULES, MissingExtraError, missing_extra_message, require
from tests.blocked_imports import BLOCKED, env_without_extras

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "tests" / "data" / "examples"

LEAN_BUDGET = 12 + (sys.version_info < (3, 11))  # anyio needs the exceptiongroup backport before 3.11
"""Distributions a fresh ``pip install horde-users`` may bring, ours included."""

HEAVY = {
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "bleach",
    "typer",
    "click",
    "rich",
    "platformdirs",
    "psycopg",
}


def canonical(name: str) -> str:
    """A distribution name in PEP 503 form (``typing_extensions`` -> ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def run_python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


# --- what the distribution declares ---------------------------------------------------------------


def declared(extra: str | None) -> set[str]:
    """Distributions the installed horde-users requires for ``extra`` (None: the core), self-references
    (``horde-users[moderation]``) expanded."""
    found: set[str] = set()
    for requirement in metadata("horde-users").get_all("Requires-Dist") or []:
        spec, _, marker = requirement.partition(";")
        in_extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if (in_extra.group(1) if in_extra else None) != extra:
            continue
        name = re.match(r"[A-Za-z0-9._-]+", spec.strip())
        assert name is not None, requirement
        if canonical(name.group()) == "horde-users":
            inner = re.search(r"\[([^\]]+)\]", spec)
            assert inner is not None, requirement
            for sub in inner.group(1).split(","):
                found |= declared(sub.strip())
        else:
            found.add(canonical(name.group()))
    return found


def test_the_extras_are_exactly_these() -> None:
    extras = set(metadata("horde-users").get_all("Provides-Extra") or [])
    assert extras == {"cli", "sandbox", "postgres", "fast", "moderation", "console", "all", "dev"}


def test_the_core_declares_what_it_imports_and_nothing_heavy() -> None:
    core = declared(None)
    assert core == {"pydantic", "httpx", "anyio", "typing-extensions"}
    assert not core & HEAVY


def test_each_extra_installs_the_modules_the_code_checks_for() -> None:
    providers = packages_distributions()
    for extra, modules in EXTRA_MODULES.items():
        packages = declared(extra)
        for module in modules:
            assert {canonical(d) for d in providers.get(module, [])} & packages, (extra, module)


def test_all_is_every_extra_and_dev_adds_the_tools() -> None:
    every = set().union(*(declared(extra) for extra in EXTRA_MODULES))
    assert declared("all") == every
    assert declared("dev") - every >= {"pytest", "hypothesis", "ruff", "mypy", "types-bleach", "selenium"}
    # httptools is the sandbox server's HTTP parser (sandbox/fast_http.py), nothing else's
    assert {extra for extra in EXTRA_MODULES if "httptools" in declared(extra)} == {"sandbox"}


@pytest.mark.slow
def test_a_fresh_lean_install_brings_at_most_twelve_small_packages(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    result = subprocess.run(
        [*pip, "--report", str(report), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = {canonical(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    assert "horde-users" in names
    assert {"pydantic", "httpx"} <= names
    assert not names & HEAVY, sorted(names & HEAVY)
    assert len(names) <= LEAN_BUDGET, sorted(names)


# --- the require() helper -------------------------------------------------------------------------


def test_require_names_the_extra_and_the_command() -> None:
    with pytest.raises(MissingExtraError) as caught:
        require("sandbox", "horde_users_no_such_module")
    assert isinstance(caught.value, ImportError)
    assert caught.value.extra == "sandbox"
    assert caught.value.name == "horde_users_no_such_module"
    assert "horde-users[sandbox]" in str(caught.value)
    assert "pip install 'horde-users[sandbox]'" in str(caught.value)


def test_require_passes_when_installed() -> None:
    require("sandbox")  # the dev install has every extra
    require("cli", "typer")


def test_a_plain_missing_module_of_an_extra_gets_the_same_hint() -> None:
    message = missing_extra_message(ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn.config"))
    assert message is not None
    assert "pip install 'horde-users[sandbox]'" in message
    assert "pip install 'horde-users[postgres]'" in (
        missing_extra_message(ModuleNotFoundError("No module named 'psycopg'", name="psycopg")) or ""
    )
    assert missing_extra_message(ModuleNotFoundError("No module named 'lxml'", name="lxml")) is None
    assert missing_extra_message(ImportError("cannot import name 'x'")) is None


# --- a lean install, simulated -------------------------------------------------------------------

LEAN_USE = f"""
import asyncio, json, sys
from pathlib import Path

from horde_users import (
    AsyncHordeUsers, HordeUsers, ModifyUserRequest, RequestErrorResponse, UserDetailsResponse,
    ListUsersDetailsResponse,
)

request = ModifyUserRequest(user_id="3", apikey="a" * 22, trusted=True, concurrency=40)
method, url, query, headers, body = request.build_http_request()
assert str(method).upper().endswith("PUT") and url.endswith("/v2/users/3"), (method, url)
assert body == {{"concurrency": 40, "trusted": True}}, body

examples = Path({str(EXAMPLES)!r})
exchange = json.loads((examples / "072_get_user_after_mod_changes_modview.json").read_text())
user = UserDetailsResponse.model_validate(exchange["response"]["json"])
assert user.id_ == 3 and user.monthly_kudos.last_received is not None
page = json.loads((examples / "010_list_users_page1.json").read_text())["response"]["json"]
assert len(ListUsersDetailsResponse.model_validate(page).root) == 25
error = json.loads((examples / "056_put_moderator_kudos_forbidden.json").read_text())["response"]["json"]
assert RequestErrorResponse.model_validate(error).rc == "NotAdmin"

with HordeUsers(api_key="b" * 22, base_url="http://127.0.0.1:9/api") as client:
    assert "b" * 22 not in repr(client)

async def main() -> None:
    async with AsyncHordeUsers(base_url="http://127.0.0.1:9/api") as client:
        assert client is not None

asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in {set(BLOCKED)!r})
assert not loaded, loaded
print("lean ok")
"""


def test_models_and_both_clients_work_without_any_extra(tmp_path: Path) -> None:
    result = run_python(env_without_extras(tmp_path), "-c", LEAN_USE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lean ok"


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    """Guards the tests above: with the blocker, the extras' packages are not importable."""
    result = run_python(env_without_extras(tmp_path), "-c", "import fastapi")
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'fastapi'" in result.stderr


@pytest.mark.parametrize("command", [["-m", "horde_users", "--help"], ["-m", "horde_users", "whoami"]])
def test_the_cli_without_its_extra_says_what_to_install(tmp_path: Path, command: list[str]) -> None:
    result = run_python(env_without_extras(tmp_path), *command)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install 'horde-users[cli]'" in lines[0]


def test_a_sandbox_command_without_the_sandbox_extra_says_what_to_install(tmp_path: Path) -> None:
    # the cli extra brings SQLAlchemy itself (for the journal): block what only the sandbox brings
    sandbox_only = ("fastapi", "starlette", "uvicorn", "uvloop", "bleach")
    env = env_without_extras(tmp_path / "blocker", sandbox_only)
    database = str(tmp_path / "sandbox.db")
    for command in (["create-user", "alice", "--database", database], ["serve", "--database", database]):
        result = run_python(env, "-m", "horde_users", "sandbox", *command)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "pip install 'horde-users[sandbox]'" in result.stderr.splitlines()[-1]
    assert not Path(database).exists()


def test_the_sandbox_without_its_extra_raises_an_import_error_naming_it(tmp_path: Path) -> None:
    code = (
        "import horde_users.sandbox\n"
        "try:\n"
        "    from horde_users.sandbox import Sandbox\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    result = run_python(env_without_extras(tmp_path), "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MissingExtraError ")
    assert "horde-users[sandbox]" in result.stdout


def test_the_pytest_plugin_loads_without_the_sandbox_extra(tmp_path: Path) -> None:
    code = "import horde_users.sandbox.pytest_plugin as plugin; print(plugin.MARKER)"
    result = run_python(env_without_extras(tmp_path), "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "horde_sandbox"


@pytest.mark.slow
def test_the_demo_needs_only_the_extras_make_demo_installs(tmp_path: Path) -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^\$\(DEMO_STAMP\):.*\n\t.*pip install .*-e '\.\[([\w,]+)\]'", makefile, re.MULTILINE)
    assert recipe is not None
    installed = set().union(*(EXTRA_MODULES[extra] for extra in recipe.group(1).split(",")))
    not_installed = set().union(*EXTRA_MODULES.values()) - installed
    blocked = (*sorted(not_installed), "pytest", "hypothesis", "selenium", "mypy")
    result = run_python(env_without_extras(tmp_path, blocked), "-m", "horde_users.cli.demo")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
