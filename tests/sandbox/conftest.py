"""Fixtures of the sandbox-core tests: a running sandbox, seeded roles, PostgreSQL databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from horde_users.sandbox import Sandbox, SeededUser

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


@contextlib.contextmanager
def postgres_schema_url(prefix: str) -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards (skips without PG)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import sqlalchemy

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards (skips without PG)."""
    with postgres_schema_url("hu_test") as url:
        yield url
