"""Concurrent DELETE and PUT on one user give an outcome some serial order of them gives (§6.3, §7).

Each race sends its requests at the same moment from its own threads and connections to a sandbox on
a real port, on SQLite and PostgreSQL, then checks the answers and the stored row against every
serial order of the same requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from horde_users.sandbox import Sandbox, SeededUser
from horde_users.sandbox.schema import users

LONG_AGO = datetime.now(timezone.utc) - timedelta(days=60)
Request = Callable[[httpx.Client], int]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def racing_sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox on a SQLite file or on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        with Sandbox(str(tmp_path / "race.db")) as sb:
            yield sb
        return
    from .conftest import postgres_schema_url

    with postgres_schema_url("hu_race") as url, Sandbox(url) as sb:
        yield sb


class Racer:
    """Open connections to a sandbox (one per thread) that send a batch of requests at the same moment."""

    def __init__(self, sandbox: Sandbox, width: int) -> None:
        self.clients = [httpx.Client(base_url=sandbox.url, timeout=60) for _ in range(width)]
        for client in self.clients:  # open the connections before any race
            assert client.get("/v2/status/heartbeat").status_code == 200
        self.pool = ThreadPoolExecutor(width)

    def at_once(self, requests: list[Request]) -> list[int]:
        """Send ``requests`` together, each from its own thread and connection; their status codes."""
        barrier = threading.Barrier(len(requests))

        def run(index: int) -> int:
            barrier.wait()
            return requests[index](self.clients[index])

        return list(self.pool.map(run, range(len(requests))))

    def close(self) -> None:
        self.pool.shutdown()
        for client in self.clients:
            client.close()


@pytest.fixture
def racer(racing_sandbox: Sandbox) -> Iterator[Racer]:
    racer = Racer(racing_sandbox, 5)
    yield racer
    racer.close()


def _state(sandbox: Sandbox, user_id: int) -> tuple[bool, bool]:
    """The stored ``(deleted, wiped)`` marks of a user row."""
    with sandbox.store.engine.connect() as conn:
        row = conn.execute(
            sqlalchemy.select(users.c.deleted, users.c.wiped).where(users.c.id == user_id)
        ).one()
    return bool(row.deleted), bool(row.wiped)


def _delete(mod: SeededUser, target: SeededUser) -> Request:
    return lambda http: http.delete(f"/v2/users/{target.id}", headers={"apikey": mod.api_key}).status_code


def _undelete(mod: SeededUser, target: SeededUser) -> Request:
    return lambda http: (
        http.put(
            f"/v2/users/{target.id}", headers={"apikey": mod.api_key}, json={"undelete": True}
        ).status_code
    )


def test_delete_racing_undelete_never_wipes_an_undeleted_user(racing_sandbox: Sandbox, racer: Racer) -> None:
    sandbox = racing_sandbox
    mod = sandbox.create_user("mod", moderator=True)
    outcomes = []
    for n in range(20):
        target = sandbox.create_user(f"v{n}", created=LONG_AGO)
        sandbox.store.soft_delete(target.id)
        delete_status, put_status = racer.at_once([_delete(mod, target), _undelete(mod, target)])
        outcome = (delete_status, put_status, _state(sandbox, target.id))
        outcomes.append(outcome)
        # DELETE first: the wipe, then the PUT finds no user. PUT first: undeleted, then soft-deleted.
        assert outcome in {(200, 404, (True, True)), (200, 200, (True, False))}, outcomes


def test_five_deletes_at_once_soft_delete_then_wipe(racing_sandbox: Sandbox, racer: Racer) -> None:
    sandbox = racing_sandbox
    mod = sandbox.create_user("mod", moderator=True)
    outcomes = []
    for n in range(10):
        target = sandbox.create_user(f"v{n}", created=LONG_AGO)
        statuses = racer.at_once([_delete(mod, target)] * 5)
        outcome = (sorted(statuses), _state(sandbox, target.id))
        outcomes.append(outcome)
        # In any order: the first soft-deletes, the second wipes, the rest find no user.
        assert outcome == ([200, 200, 404, 404, 404], (True, True)), outcomes
