"""Storage: key hashing, ids, restarts, several processes, atomic kudos on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from horde_users.sandbox import Sandbox, SandboxStore, SeededUser
from horde_users.sandbox.domain import ANON_ID, KUDOS_FLOORS
from horde_users.sandbox.schema import users
from horde_users.sandbox.store import InexactKudosError, new_api_key

from .frozen_clock import FrozenClock


def test_keys_are_stored_only_as_salted_sha256(tmp_path: Path) -> None:
    store = SandboxStore(str(tmp_path / "keys.db"))
    user = store.create_user("alice")
    with store.engine.connect() as conn:
        salt = conn.execute(sqlalchemy.text("SELECT value FROM horde_meta WHERE key = 'salt'")).scalar_one()
        stored = conn.execute(
            sqlalchemy.select(users.c.api_key_hash).where(users.c.id == user.id)
        ).scalar_one()
        dump = "\n".join(str(row) for row in conn.execute(sqlalchemy.select(users)))
    assert stored == hashlib.sha256((salt + user.api_key).encode()).hexdigest()
    assert user.api_key not in dump
    assert store.find_by_api_key(user.api_key) is not None
    store.close()


def test_api_keys_are_22_url_safe_characters() -> None:
    keys = {new_api_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(
        len(k) == 22 and set(k) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for k in keys
    )


def test_seeded_users_never_show_their_key() -> None:
    user = SeededUser(id=3, alias="alice#3", api_key="secret-key-value-12345")
    assert "secret" not in repr(user)
    assert "secret" not in str(user)
    user_id, alias, key = user
    assert (user_id, alias, key, user.username) == (3, "alice#3", "secret-key-value-12345", "alice")


def test_anonymous_exists_and_real_ids_start_at_1() -> None:
    store = SandboxStore()
    anon = store.find_by_api_key("0000000000")
    assert anon is not None
    assert (anon.id, anon.username, anon.concurrency, anon.public_workers) == (0, "Anonymous", 500, True)
    assert [store.create_user(f"u{n}").id for n in range(3)] == [1, 2, 3]
    store.close()


def test_user_references_are_ids_aliases_or_seeded_users() -> None:
    store = SandboxStore()
    alice = store.create_user("alice")
    for ref in (alice, alice.id, alice.alias):
        assert store.resolve(ref) == alice.id
    for bad in ("alice", "bob#1", 99, "alice#x"):
        with pytest.raises(KeyError):
            store.resolve(bad)
    with pytest.raises(TypeError):
        store.set_records(alice, nonsense=1)
    with pytest.raises(ValueError, match="type"):
        store.add_style(alice, "s", "video")
    store.close()


def test_seeding_sets_what_it_says(tmp_path: Path) -> None:
    store = SandboxStore(str(tmp_path / "seed.db"))
    created = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    user = store.create_user(
        "seeded", moderator=True, service=True, education=True, pseudonymous=True, kudos=3, created=created
    )
    store.set_kudos_details(user, accumulated=1.5, styled=2)
    store.set_records(user, usage_megapixelsteps=1.25, request_text=4)
    assert store.add_suspicion(user) == 1
    store.set_last_active(user.alias, None)
    data = store.get_user(user.id)
    assert data is not None
    assert data.created == datetime(2026, 1, 1, 10, 0)  # stored as naive UTC
    assert (data.moderator, data.trusted, data.service, data.education, data.pseudonymous) == (True,) * 5
    assert data.concurrency == 200
    assert data.kudos == 3.0  # exact, no floor
    assert data.kudos_details["accumulated"] == 1.5
    assert data.kudos_details["gifted"] is None
    assert data.records["request_text"] == 4
    assert data.last_active is None
    assert store.admin_aliases() == set()
    store.create_user("boss", admin=True)
    assert store.admin_aliases() == {"boss#2"}
    store.close()


def test_the_store_dates_what_it_records_with_its_clock() -> None:
    clock = FrozenClock(datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc))
    store = SandboxStore(clock=clock)
    at = datetime(2026, 11, 1, 12, 0)
    anon = store.get_user(0)
    assert anon is not None and (anon.created, anon.last_active) == (at, at)
    clock.advance(timedelta(minutes=5))
    user = store.get_user(store.create_user("later").id)
    assert user is not None and (user.created, user.last_active) == (at + timedelta(minutes=5),) * 2
    store.add_monthly_kudos(user.id, 5)
    user = store.get_user(user.id)
    assert user is not None and user.monthly_last_received == at + timedelta(minutes=5)
    store.close()


def test_a_wiped_user_cannot_be_undeleted() -> None:
    store = SandboxStore()
    user = store.create_user("gone")
    store.soft_delete(user.id)
    store.wipe(user.id)
    assert store.undelete(user.id) is False
    with store.engine.connect() as conn:
        row = conn.execute(
            sqlalchemy.select(users.c.deleted, users.c.wiped).where(users.c.id == user.id)
        ).one()
    assert (row.deleted, row.wiped) == (True, True)
    store.close()


def test_a_file_database_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "restart.db")
    with Sandbox(path) as first:
        alice = first.create_user("alice", kudos=100, admin=True)
        shared = first.create_shared_key(alice, "bot")
        worker = first.add_worker(alice)
        with httpx.Client(base_url=first.url) as http:
            headers = {"apikey": alice.api_key}
            assert (
                http.put(f"/v2/users/{alice.id}", headers=headers, json={"contact": "a@b.cd"}).status_code
                == 200
            )
            assert http.put(f"/v2/users/{alice.id}", headers=headers, json={"kudos": 5}).status_code == 200
    assert Path(path).exists()
    with Sandbox(path) as second, httpx.Client(base_url=second.url) as http:
        own = http.get("/v2/find_user", headers={"apikey": alice.api_key}).json()
        assert own["username"] == "alice#1"
        assert own["kudos"] == 105.0
        assert own["contact"] == "a@b.cd"
        assert own["sharedkey_ids"] == [shared]
        assert own["worker_ids"] == [worker]
        assert http.get("/v2/find_user", headers={"apikey": shared}).json()["id"] == 1
        assert second.create_user("bob").id == 2
        reply = http.put("/v2/users/2", headers={"apikey": alice.api_key}, json={"kudos": 1})
        assert reply.status_code == 200  # the seeded admin is still an admin


def test_a_temporary_database_is_deleted_on_stop() -> None:
    sandbox = Sandbox()
    sandbox.start()
    url = sandbox.store.url
    db_file = Path(url.removeprefix("sqlite:///"))
    assert db_file.exists()
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.url.endswith("/api")
    sandbox.stop()
    assert not db_file.exists()
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_another_process_can_seed_a_running_sandbox(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    with Sandbox(path) as sb, httpx.Client(base_url=sb.url) as http:
        code = (
            "import sys; from horde_users.sandbox import SandboxStore\n"
            "u = SandboxStore(sys.argv[1]).create_user('fromcli', moderator=True)\n"
            "print(u.id, u.api_key)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True, text=True)
        user_id, key = out.stdout.split()
        body = http.get(f"/v2/users/{user_id}", headers={"apikey": key}).json()
        assert body["username"] == f"fromcli#{user_id}"
        assert "suspicious" in body  # moderator view: the key works in the server process


# --------------------------------------------------------------------------- atomic kudos


def _concurrent_deltas(sandbox: Sandbox) -> None:
    """50 kudos deltas from 10 threads (each its own client) through HTTP; none may be lost."""
    admin = sandbox.create_user("admin", admin=True)
    target = sandbox.create_user("target", kudos=1000)
    deltas = [(n % 7) + 1 for n in range(50)]
    barrier = threading.Barrier(10)

    def worker(chunk: list[int]) -> list[int]:
        statuses = []
        with httpx.Client(base_url=sandbox.url, timeout=60) as http:
            barrier.wait()
            for delta in chunk:
                reply = http.put(
                    f"/v2/users/{target.id}", headers={"apikey": admin.api_key}, json={"kudos": delta}
                )
                statuses.append(reply.status_code)
        return statuses

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(worker, [deltas[i::10] for i in range(10)]))
    assert all(status == 200 for chunk in results for status in chunk)
    final = sandbox.store.get_user(target.id)
    assert final is not None
    assert final.kudos == 1000 + sum(deltas)
    assert final.kudos_details["admin"] == sum(deltas)


def test_concurrent_kudos_deltas_sqlite(tmp_path: Path) -> None:
    with Sandbox(str(tmp_path / "concurrent.db")) as sb:
        _concurrent_deltas(sb)


@pytest.mark.postgres
def test_concurrent_kudos_deltas_postgres(postgres_url: str) -> None:
    with Sandbox(postgres_url) as sb:
        _concurrent_deltas(sb)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kudos_changes_the_float_cannot_hold_change_nothing(backend: str, tmp_path: Path) -> None:
    from .conftest import postgres_schema_url

    with contextlib.ExitStack() as stack:
        url = str(tmp_path / "exact.db")
        if backend == "postgres":
            url = stack.enter_context(postgres_schema_url("hu_exact"))
        store = SandboxStore(url)
        stack.callback(store.close)
        user = store.create_user("near", kudos=2**53 - 2)
        assert store.add_kudos(user.id, 1) == 2**53 - 1
        with pytest.raises(InexactKudosError):
            store.add_kudos(user.id, 1)
        with pytest.raises(InexactKudosError):
            store.add_monthly_kudos(user.id, 1)
        assert store.add_kudos(user.id, 0) == 2**53 - 1
        assert store.add_monthly_kudos(user.id, -1) == 0
        data = store.get_user(user.id)
        assert data is not None
        assert (data.kudos, data.kudos_details["admin"], data.kudos_details["recurring"]) == (
            2**53 - 1,
            1,
            None,
        )
        assert data.monthly_kudos == 0


def _store_deltas(make_store: Callable[[], SandboxStore]) -> None:
    """Two stores (as two processes would) apply floor-aware deltas from many threads at once."""
    stores = [make_store(), make_store()]
    user = stores[0].create_user("floor", kudos=0)
    deltas = [5, -3, 7, 1, -2] * 10

    def apply(index: int) -> None:
        stores[index % 2].add_kudos(user.id, deltas[index])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(apply, range(len(deltas))))
    final = stores[1].get_user(user.id)
    assert final is not None
    # the first change lifts 0 to at least the floor; after that the balance stays above it
    assert final.kudos >= 25
    assert final.kudos_details["admin"] == sum(deltas)
    for store in stores:
        store.close()


def test_two_sqlite_stores_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "two.db")
    _store_deltas(lambda: SandboxStore(path))


@pytest.mark.postgres
def test_two_postgres_stores_share_one_database(postgres_url: str) -> None:
    _store_deltas(lambda: SandboxStore(postgres_url))


@pytest.mark.postgres
def test_postgres_keeps_everything_across_restarts(postgres_url: str) -> None:
    with Sandbox(postgres_url) as first:
        alice = first.create_user("alice", kudos=10)
        first.create_shared_key(alice)
    with Sandbox(postgres_url) as second, httpx.Client(base_url=second.url) as http:
        own = http.get("/v2/find_user", headers={"apikey": alice.api_key}).json()
        assert own["username"] == "alice#1"
        assert len(own["sharedkey_ids"]) == 1
        assert http.get("/v2/users/0", headers={"apikey": "0000000000"}).json()["concurrency"] == 500


@pytest.mark.parametrize(
    ("given", "url"),
    [
        (None, "sqlite://"),
        (":memory:", "sqlite://"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_database_urls(given: str | None, url: str) -> None:
    from horde_users.sandbox.store import database_url

    assert database_url(given) == url


def test_a_plain_path_is_a_sqlite_file(tmp_path: Path) -> None:
    from horde_users.sandbox.store import database_url

    assert database_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"


def test_several_processes_open_a_fresh_file_at_once(tmp_path: Path) -> None:
    """Processes racing to create the schema agree on one salt; every key works everywhere."""
    path = str(tmp_path / "race.db")
    code = (
        "import sys; from horde_users.sandbox import SandboxStore\n"
        "s = SandboxStore(sys.argv[1])\n"
        "keys = [s.create_user(f'p{i}').api_key for i in range(5)]\n"
        "for _ in range(20): s.add_kudos(0, 1)\n"
        "print(' '.join(keys))\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0]
    store = SandboxStore(path)
    keys = [key for out in outputs for key in out.split()]
    assert len(keys) == 15
    assert all(store.find_by_api_key(key) is not None for key in keys)
    assert store.count_users() == 16
    anon = store.get_user(0)
    assert anon is not None
    assert anon.kudos == 60.0
    store.close()


def test_the_store_floors_balances_where_the_rules_say() -> None:
    """The SQL floor and UserData.kudos_floor read the one table of floors (domain.KUDOS_FLOORS)."""
    store = SandboxStore()
    try:
        registered = store.create_user("reg", kudos=1000).id
        pseudonymous = store.create_user("pseudo", kudos=1000, pseudonymous=True).id
        expected = {
            ANON_ID: KUDOS_FLOORS.anonymous,
            registered: KUDOS_FLOORS.registered,
            pseudonymous: KUDOS_FLOORS.pseudonymous,
        }
        for user_id, floor in expected.items():
            assert store.add_kudos(user_id, -(10**9)) == float(floor)
            user = store.get_user(user_id)
            assert user is not None
            assert user.kudos_floor == floor
    finally:
        store.close()
