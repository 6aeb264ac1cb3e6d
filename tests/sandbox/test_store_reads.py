"""The store's hot reads (straight to psycopg on PostgreSQL) give what SQLAlchemy's result layer gives,
the list pages are the slices of one ordering, and the start-up tidy of PostgreSQL tables runs when
they are stale."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy

from horde_users.sandbox import SandboxStore
from horde_users.sandbox.schema import USER_BY_ID, USER_BY_KEY_HASH, USER_PAGES, users

from .conftest import postgres_schema_url, postgres_server_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "pg_schema"])
def store(request: pytest.FixtureRequest) -> Iterator[SandboxStore]:
    """A store on SQLite, on PostgreSQL by search_path, and on PostgreSQL by ``schema=`` (translated)."""
    if request.param == "sqlite":
        sqlite_store = SandboxStore()
        yield sqlite_store
        sqlite_store.close()
        return
    if request.param == "pg_schema":
        request.applymarker(pytest.mark.postgres)
        schema_store = SandboxStore(postgres_server_url(), schema=f"t_reads_{uuid.uuid4().hex[:12]}")
        yield schema_store
        schema_store.drop_schema()
        schema_store.close()
        return
    with postgres_schema_url("hu_reads") as url:
        pg_store = SandboxStore(url)
        yield pg_store
        pg_store.close()


def _varied_users(store: SandboxStore) -> list[int]:
    """Users with every kind of value a row can hold: side-table entries, records, kudos details,
    dates, deleted and wiped marks, NULLs."""
    long_ago = datetime.now(timezone.utc) - timedelta(days=400)
    ids = []
    for n in range(12):
        user = store.create_user(
            f"u{n}", kudos=n * 1.5 - 3, moderator=n % 3 == 0, pseudonymous=n % 4 == 0, created=long_ago
        )
        ids.append(user.id)
        if n % 2:
            store.add_worker(user)
            store.create_shared_key(user, name=f"k{n}" if n % 3 else None)
            store.add_style(user, f"s{n}", public=n % 5 != 0)
            store.add_suspicion(user)
            store.set_records(user, usage_megapixelsteps=n * 0.25, request_image=n)
            store.set_kudos_details(user, accumulated=n + 0.5, gifted=n)
        if n == 5:
            store.add_monthly_kudos(user.id, 7)
        if n == 7:
            store.set_fields(user.id, contact="me@example.org", last_active=None)
    store.soft_delete(ids[3])
    store.wipe(ids[4])
    return ids


def test_fast_reads_equal_sqlalchemy_reads(store: SandboxStore) -> None:
    ids = _varied_users(store)
    with store.engine.connect() as conn:
        hashes = dict(conn.execute(sqlalchemy.select(users.c.id, users.c.api_key_hash)).all())
        cases: list[tuple[sqlalchemy.Select[Any], dict[str, Any]]]
        cases = [(USER_BY_ID, {"user_id": i}) for i in [0, *ids, 99999]]
        cases += [(USER_BY_KEY_HASH, {"key_hash": hashes[i] or "none"}) for i in ids]
        cases += [
            (USER_PAGES[sort], {"offset": offset, "limit": limit})
            for sort in ("kudos", "age")
            for offset, limit in ((0, 25), (3, 4), (10, 25))
        ]
        for statement, params in cases:
            slow = [tuple(row) for row in conn.execute(statement, params)]
            fast = store.rows(conn, statement, params)
            assert fast == slow, (statement, params)
            assert [[type(v) for v in row] for row in fast] == [[type(v) for v in row] for row in slow]


def test_pages_are_slices_of_one_ordering(store: SandboxStore) -> None:
    _varied_users(store)
    whole = store.list_users("kudos", 0, 100)
    assert [u.id for u in whole] == [u.id for u in sorted(whole, key=lambda u: (-u.kudos, u.id))]
    for sort in ("kudos", "age"):
        everyone = store.list_users(sort, 0, 100)
        assert len(everyone) == 12  # the wiped user is not listed
        paged = [u for start in range(0, 12, 5) for u in store.list_users(sort, start, 5)]
        assert paged == everyone


def test_a_failing_fast_read_raises_sqlalchemys_error_without_its_values(store: SandboxStore) -> None:
    broken = sqlalchemy.select(users.c.id).where(
        users.c.id == sqlalchemy.bindparam("user_id"), sqlalchemy.func.no_such_function(users.c.id) == 1
    )
    with store.engine.connect() as conn, pytest.raises(sqlalchemy.exc.DBAPIError) as caught:
        store.rows(conn, broken, {"user_id": 424242})
    assert "424242" not in str(caught.value)
    store.get_user(0)  # the store goes on working


@pytest.mark.postgres
def test_a_stale_postgres_table_is_analyzed_at_start() -> None:
    stats = sqlalchemy.text(
        "SELECT n_mod_since_analyze, last_analyze FROM pg_stat_user_tables "
        "WHERE relid = to_regclass('horde_users')"
    )
    with postgres_schema_url("hu_tidy") as url:
        engine = sqlalchemy.create_engine(url)
        first = SandboxStore(url)
        for n in range(120):
            first.create_user(f"bulk{n}")
        first.close()  # its sessions end, and with them the counts of their changes are published
        deadline = time.monotonic() + 10
        with engine.connect() as conn:
            while (row := conn.execute(stats).one())[0] < 120 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert row[0] >= 120 and row[1] is None
        second = SandboxStore(url)
        with engine.connect() as conn:
            changed, analyzed = conn.execute(stats).one()
        assert (changed, analyzed is not None) == (0, True)
        third = SandboxStore(url)  # nothing changed since: no second ANALYZE
        with engine.connect() as conn:
            assert conn.execute(stats).one()[1] == analyzed
        second.close()
        third.close()
        engine.dispose()
