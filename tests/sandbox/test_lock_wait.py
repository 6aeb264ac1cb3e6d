"""Another program holding the SQLite write lock: the sandbox keeps answering, a blocked write gets 503."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from horde_users.sandbox import Sandbox, SandboxStore
from horde_users.sandbox.store import StoreBusyError

from .conftest import is_trusted


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another program's connection holds the database's write lock (``BEGIN IMMEDIATE``)."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_requests_are_answered_while_a_write_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with (
        Sandbox(str(path), lock_timeout=60) as sb,
        httpx.Client(base_url=sb.url, timeout=20) as http,
        httpx.Client(base_url=sb.url, timeout=60) as writer,
        ThreadPoolExecutor(1) as pool,
    ):
        mod = sb.create_user("mod", moderator=True)
        alice = sb.create_user("alice")
        assert writer.get("/v2/status/heartbeat").status_code == 200  # its connection is open
        sent = threading.Event()
        writer.event_hooks["request"] = [lambda _request: sent.set()]
        with write_lock_held(path):
            waiting = pool.submit(
                writer.put, f"/v2/users/{alice.id}", headers={"apikey": mod.api_key}, json={"trusted": True}
            )
            assert sent.wait(30)
            # For a while (the PUT reaches the server early in it), the others are answered as it waits.
            probe_until = time.monotonic() + 1.0
            while time.monotonic() < probe_until:
                assert http.get("/v2/status/heartbeat").status_code == 200
                assert http.get(f"/v2/users/{alice.id}").json()["trusted"] is False
                assert http.get("/v2/users").status_code == 200
            assert not waiting.done()
        reply = waiting.result(timeout=60)  # the lock is free again: the PUT goes through
        assert (reply.status_code, reply.json()) == (200, {"trusted": True})
        assert is_trusted(sb, alice.id)


def test_a_write_that_cannot_get_the_lock_in_time_answers_503(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with Sandbox(str(path), lock_timeout=0.3) as sb, httpx.Client(base_url=sb.url, timeout=20) as http:
        mod = sb.create_user("mod", moderator=True)
        alice = sb.create_user("alice")
        url, headers = f"/v2/users/{alice.id}", {"apikey": mod.api_key}
        with write_lock_held(path):
            reply = http.put(url, headers=headers, json={"trusted": True})
            assert reply.status_code == 503
            assert reply.headers["retry-after"] == "1"
            assert reply.headers["content-type"] == "application/json; charset=utf-8"
            assert reply.json() == {
                "message": "The sandbox database stayed locked by another connection for 0.3 s; "
                "nothing was changed. Try again shortly."
            }
            deleted = http.delete(url, headers=headers)
            assert (deleted.status_code, deleted.headers["retry-after"]) == (503, "1")
            assert http.get("/v2/status/heartbeat").status_code == 200
        assert not is_trusted(sb, alice.id)
        assert http.put(url, headers=headers, json={"trusted": True}).json() == {"trusted": True}


def test_the_503_keeps_its_retry_after_under_rate_limits(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with Sandbox(str(path), lock_timeout=0.1, rate_limits=True) as sb:
        mod = sb.create_user("mod", moderator=True)
        with write_lock_held(path):
            reply = httpx.put(
                f"{sb.url}/v2/users/{mod.id}", headers={"apikey": mod.api_key}, json={"vpn": True}
            )
        assert reply.status_code == 503
        assert reply.headers.get_list("retry-after") == ["1"]
        assert reply.headers["x-ratelimit-limit"] == "60"


def test_the_store_fails_fast_on_a_lock_it_cannot_get(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SandboxStore(str(path))
    user = store.create_user("alice")
    with write_lock_held(path):
        assert store.get_user(user.id) is not None  # reading does not need the lock (WAL)
        with store.fail_fast(), pytest.raises(StoreBusyError):
            store.set_fields(user.id, trusted=True)
    store.set_fields(user.id, trusted=True)  # the same connections work once the lock is free
    found = store.get_user(user.id)
    assert found is not None and found.trusted
    store.close()
