"""Fixtures of the sandbox-core tests: a running sandbox, seeded roles, PostgreSQL databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from horde_users.sandbox import Sandbox, SeededUser

if TYPE_CHECKING:
    import sqlalchemy

PG_ENV = "HORDE_USERS_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class Roles:
    """A running sandbox with ``admin#1`` (admin only), ``mod#2``, ``alice#3``, ``bob#4`` and
    ``adminmod#5`` (admin and moderator), plus an httpx client on its base URL."""

    sandbox: Sandbox
    http: httpx.Client
    admin: SeededUser
    mod: SeededUser
    alice: SeededUser
    bob: SeededUser
    adminmod: SeededUser

    def key(self, who: str | None) -> dict[str, str]:
        """The ``apikey`` header of a role name (``anon`` is the anonymous key, None no header)."""
        if who is None:
            return {}
        if who == "anon":
            return {"apikey": "0000000000"}
        user: SeededUser = getattr(self, who)
        return {"apikey": user.api_key}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (temporary SQLite file, rate limits off, test-user endpoint on)."""
    with Sandbox(test_user_endpoint=True) as sb:
        yield sb


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[tuple[Sandbox, httpx.Client]]:
    """One sandbox for a whole module (tests that only touch their own fresh users share it)."""
    with Sandbox(test_user_endpoint=True) as sb, httpx.Client(base_url=sb.url, timeout=30) as client:
        yield sb, client


def _seed_roles(sandbox: Sandbox, http: httpx.Client) -> Roles:
    admin = sandbox.create_user("admin", admin=True)
    mod = sandbox.create_user("mod", moderator=True)
    alice = sandbox.create_user("alice", kudos=100)
    bob = sandbox.create_user("bob", kudos=100)
    adminmod = sandbox.create_user("adminmod", admin=True, moderator=True)
    return Roles(sandbox, http, admin, mod, alice, bob, adminmod)


@pytest.fixture
def roles(shared_sandbox: tuple[Sandbox, httpx.Client]) -> Roles:
    """Five fresh users in the module's shared sandbox (ids differ between tests)."""
    return _seed_roles(*shared_sandbox)


@pytest.fixture
def fresh_roles(sandbox: Sandbox, http: httpx.Client) -> Roles:
    """The same five users as ids 1..5 of a sandbox of their own (for tests that change global state)."""
    return _seed_roles(sandbox, http)


def postgres_server_url() -> str:
    """The test PostgreSQL server's URL; skips the test when ``HORDE_USERS_TEST_POSTGRES_URL`` is not set."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    return base


@contextlib.contextmanager
def postgres_schema_url(prefix: str) -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards (skips without PG)."""
    base = postgres_server_url()
    import sqlalchemy

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base)
    _extensions_in_public(engine)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _extensions_in_public(engine: sqlalchemy.Engine) -> None:
    """Put ``pg_trgm`` in ``public`` before any throwaway schema exists.

    Code under test creates the extension in its current schema when it is missing; if that were a
    throwaway schema, dropping it (``CASCADE``) would take other tests' trigram indexes with it, and
    deadlock with the tests still writing to them.
    """
    import sqlalchemy

    where = sqlalchemy.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext('horde-users tests: extensions'))")
        )
        schema = conn.execute(where).scalar()
        if schema is None:
            conn.execute(sqlalchemy.text("CREATE EXTENSION pg_trgm SCHEMA public"))
        elif schema != "public":
            conn.execute(sqlalchemy.text("ALTER EXTENSION pg_trgm SET SCHEMA public"))


@contextlib.contextmanager
def postgres_database_url(prefix: str) -> Iterator[str]:
    """A PostgreSQL URL of a fresh database (no extensions), dropped afterwards (skips without PG)."""
    base = postgres_server_url()
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards (skips without PG)."""
    with postgres_schema_url("hu_test") as url:
        yield url


def is_trusted(sandbox: Sandbox, user_id: int) -> bool:
    """Whether the sandbox's stored user ``user_id`` is trusted (read from the store, not over HTTP)."""
    user = sandbox.store.get_user(user_id)
    assert user is not None
    return user.trusted
