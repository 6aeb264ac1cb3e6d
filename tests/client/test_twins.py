"""The twins check (``make lint``) passes on the clients as they are and fails on any drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.twins import PAIRS, SRC, compare

CLIENT = (SRC / "client.py").read_text()
TRANSPORT = (SRC / "_transport.py").read_text()
ROOT = Path(__file__).resolve().parents[2]


def _in_async_class(source: str, old: str, new: str, class_name: str = "class AsyncHordeUsers") -> str:
    """``source`` with ``old`` replaced by ``new`` once, inside the async class only."""
    head, marker, tail = source.partition(class_name)
    assert marker and old in tail
    return head + marker + tail.replace(old, new, 1)


def test_the_clients_and_their_transports_are_twins() -> None:
    for path, sync_name, async_name in PAIRS:
        assert compare(path.read_text(), sync_name, async_name) == []


def test_make_lint_runs_the_check_and_it_passes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-m tests.client.twins" in makefile.split("lint:", 1)[1].split("\n\n", 1)[0]
    done = subprocess.run(
        [sys.executable, "-m", "tests.client.twins"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        # a changed retry loop
        ("            retries_done += 1\n", "            retries_done += 2\n", "_send"),
        # a paging decision made here again instead of in the core
        ("        while pager.page is not None:", "        while pager.page:", "_iter_users"),
        # a signature drifting: a default changed
        (
            'page: int = 1, sort: Sort = "kudos") -> ListUsersDetailsResponse',
            'page: int = 2, sort: Sort = "kudos") -> ListUsersDetailsResponse',
            "list_users",
        ),
        # a sync-only call left in the async client
        ("await self._sleep(decision.delay or 0.0)", "await self._sleep(decision.delay or 1.0)", "_send"),
    ],
)
def test_a_deliberate_drift_in_the_async_client_is_reported(old: str, new: str, named: str) -> None:
    problems = compare(_in_async_class(CLIENT, old, new), "HordeUsers", "AsyncHordeUsers")
    assert len(problems) == 1
    assert f"AsyncHordeUsers.{named}()" in problems[0]


def test_a_method_only_one_client_has_is_reported() -> None:
    extra = "    async def ping(self) -> None:\n        return None\n\n    async def close(self) -> None:"
    drifted = _in_async_class(CLIENT, "    async def close(self) -> None:", extra)
    assert compare(drifted, "HordeUsers", "AsyncHordeUsers") == [
        "AsyncHordeUsers.ping() has no twin in HordeUsers"
    ]
    missing = CLIENT.replace("    def undelete_user(", "    def _undelete_user(", 1)
    problems = compare(missing, "HordeUsers", "AsyncHordeUsers")
    assert "AsyncHordeUsers lacks _undelete_user() (the twin of HordeUsers._undelete_user)" in problems


def test_a_drift_in_the_httpx_transports_is_reported() -> None:
    drifted = _in_async_class(
        TRANSPORT, "            await response.aclose()", "            pass", "class AsyncHttpxTransport"
    )
    problems = compare(drifted, "HttpxTransport", "AsyncHttpxTransport")
    assert len(problems) == 1
    assert "AsyncHttpxTransport.exchange()" in problems[0]


def test_docstrings_may_differ() -> None:
    drifted = _in_async_class(
        CLIENT, '"""Send any request model.', '"""Send, asynchronously, any request model.'
    )
    assert compare(drifted, "HordeUsers", "AsyncHordeUsers") == []
