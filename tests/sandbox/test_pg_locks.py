"""PostgreSQL: a row lock held by another program, and connections the server closes.

A write that meets another transaction's row lock must not hold up the other requests: they are
answered, and the write goes through once the lock is free. Under ``fail_fast`` the store does not
wait for the lock at all (what running PostgreSQL work on an event loop would need). A pooled
connection the server has ended is replaced unseen.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy

from horde_users.sandbox import Sandbox, SandboxStore
from horde_users.sandbox.store import StoreBusyError

from .conftest import is_trusted, postgres_schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema_url("hu_locks") as url:
        yield url


@contextlib.contextmanager
def row_lock_held(url: str, user_id: int) -> Iterator[None]:
    """Another program's transaction holds the user's row lock (``SELECT ... FOR UPDATE``)."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(
                sqlalchemy.text("SELECT id FROM horde_users WHERE id = :id FOR UPDATE"), {"id": user_id}
            )
            yield
    finally:
        engine.dispose()


def test_requests_are_answered_while_a_write_waits_for_a_row_lock(pg_url: str) -> None:
    with (
        Sandbox(pg_url, lock_timeout=60) as sb,
        httpx.Client(base_url=sb.url, timeout=20) as http,
        httpx.Client(base_url=sb.url, timeout=60) as writer,
        ThreadPoolExecutor(1) as pool,
    ):
        mod = sb.create_user("mod", moderator=True)
        alice = sb.create_user("alice")
        bob = sb.create_user("bob")
        assert writer.get("/v2/status/heartbeat").status_code == 200
        sent = threading.Event()
        writer.event_hooks["request"] = [lambda _request: sent.set()]
        with row_lock_held(pg_url, alice.id):
            waiting = pool.submit(
                writer.put, f"/v2/users/{alice.id}", headers={"apikey": mod.api_key}, json={"trusted": True}
            )
            assert sent.wait(30)
            probe_until = time.monotonic() + 1.0
            while time.monotonic() < probe_until:
                assert http.get("/v2/status/heartbeat").status_code == 200
                assert http.get(f"/v2/users/{alice.id}").json()["trusted"] is False
                assert http.get("/v2/users").status_code == 200
                other = http.put(
                    f"/v2/users/{bob.id}", headers={"apikey": mod.api_key}, json={"trusted": True}
                )
                assert other.status_code == 200  # a write to another row
            assert not waiting.done()
        reply = waiting.result(timeout=60)
        assert (reply.status_code, reply.json()) == (200, {"trusted": True})
        assert is_trusted(sb, alice.id)


def test_the_store_fails_fast_on_a_row_lock_and_waits_for_it_otherwise(pg_url: str) -> None:
    store = SandboxStore(pg_url)
    try:
        user = store.create_user("alice")
        with ThreadPoolExecutor(1) as pool:
            with row_lock_held(pg_url, user.id):
                assert store.get_user(user.id) is not None  # reading takes no row lock
                with store.fail_fast(), pytest.raises(StoreBusyError):
                    store.set_fields(user.id, trusted=True)
                waiting = pool.submit(store.set_fields, user.id, trusted=True)
                time.sleep(0.3)
                assert not waiting.done()  # without fail_fast a write waits for the lock
            waiting.result(timeout=30)
        found = store.get_user(user.id)
        assert found is not None and found.trusted
    finally:
        store.close()


def test_connections_the_server_ended_are_replaced_without_an_error(pg_url: str) -> None:
    with Sandbox(pg_url) as sb, httpx.Client(base_url=sb.url, timeout=20) as http:
        mod = sb.create_user("mod", moderator=True)
        alice = sb.create_user("alice")
        assert http.get(f"/v2/users/{alice.id}").status_code == 200
        pool = sb.store.engine.pool
        pooled = [sb.store.engine.raw_connection() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
        pids = [conn.driver_connection.info.backend_pid for conn in pooled]  # type: ignore[union-attr]
        for conn in pooled:
            conn.close()  # back to the pool
        assert pids
        engine = sqlalchemy.create_engine(pg_url)
        with engine.connect() as admin:
            for pid in pids:
                ended = admin.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p, 10000)"), {"p": pid})
                assert ended.scalar() is True
        engine.dispose()
        for _ in range(3):
            assert http.get(f"/v2/users/{alice.id}").status_code == 200
            reply = http.put(f"/v2/users/{alice.id}", headers={"apikey": mod.api_key}, json={"trusted": True})
            assert reply.status_code == 200
