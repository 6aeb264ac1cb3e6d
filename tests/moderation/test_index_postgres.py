"""PostgreSQL: name fragments use a pg_trgm trigram index when the extension can be made, else LIKE."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from horde_users.moderation.index import Filters, SortKey, UserIndex
from horde_users.moderation.index_tables import NAMES_TRIGRAM_INDEX
from horde_users.sandbox import Sandbox
from tests.moderation.index_support import FAST_RATE, client, sandbox_users, seed
from tests.sandbox.conftest import postgres_database_url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        seed(sb, 300, seed_value=5)
        yield sb


def trigram_index_exists(index: UserIndex) -> bool:
    with index.engine.connect() as conn:
        return (
            conn.execute(text("SELECT to_regclass(:name)"), {"name": NAMES_TRIGRAM_INDEX}).scalar()
            is not None
        )


def expected_ids(sandbox: Sandbox, fragment: str) -> list[int]:
    users = [u for u in sandbox_users(sandbox).values() if fragment in u.username.lower()]
    return [u.id for u in sorted(users, key=lambda u: (-u.kudos, -u.id))]


def test_fragments_use_the_trigram_index(sandbox: Sandbox) -> None:
    """In a database without pg_trgm, opening the index creates the extension and the trigram index."""
    with postgres_database_url("hu_trgm") as url:
        index = UserIndex.open(url)
        try:
            assert trigram_index_exists(index)
            with client(sandbox) as c:
                index.sync(c, rate=FAST_RATE)
            assert [u.id for u in index.find(Filters(text="Alpha"), limit=None)] == expected_ids(
                sandbox, "alpha"
            )
            with index.engine.begin() as conn:
                conn.execute(
                    text("SET LOCAL enable_seqscan = off")
                )  # a small table: make the planner show it
                plan = "\n".join(
                    conn.execute(
                        text("EXPLAIN SELECT id FROM index_users WHERE name_lower LIKE '%lpha%'")
                    ).scalars()
                )
            assert NAMES_TRIGRAM_INDEX in plan
            UserIndex(index.engine)  # opening it again finds the index and changes nothing
            assert trigram_index_exists(index)
        finally:
            index.engine.dispose()


def test_without_the_extension_fragments_fall_back_to_like(sandbox: Sandbox) -> None:
    """A role that may not create extensions (no CREATE on the database) still gets a working index."""
    with postgres_database_url("hu_notrgm") as url:
        admin = create_engine(url)
        role = f"hu_noext_{uuid.uuid4().hex[:10]}"
        try:
            with admin.begin() as conn:
                assert not conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
                conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
                conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"'))
            index = UserIndex.open(make_url(url).set(username=role).render_as_string(hide_password=False))
            try:
                assert not trigram_index_exists(index)
                with client(sandbox) as c:
                    index.sync(c, rate=FAST_RATE)
                found = index.find(Filters(text="Alpha"), sort=SortKey.kudos, limit=None)
                assert [u.id for u in found] == expected_ids(sandbox, "alpha")
            finally:
                index.engine.dispose()
        finally:
            with admin.begin() as conn:
                if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                    conn.execute(text(f'DROP OWNED BY "{role}"'))
                    conn.execute(text(f'DROP ROLE "{role}"'))
            admin.dispose()
