"""Secrets stay out of the server's logs and output, and its database files are private."""

from __future__ import annotations

import logging
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from horde_users.sandbox import Sandbox, SandboxStore

INTERNAL_ERROR = {"message": "Internal Server Error"}
#: How a bound API key or passkey appears in a statement's parameters: a quoted 22-character key.
QUOTED_KEY = re.compile(r"'[A-Za-z0-9_-]{22}'")


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at every level, the server's own (uvicorn does not propagate) included.

    SQLAlchemy's INFO (``echo=True``) logs each statement with its parameters, so those are checked
    too; its DEBUG level would add the result rows themselves, an explicit dump of the data.
    """
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy")
    server_logger = logging.getLogger("uvicorn")
    server_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        server_logger.removeHandler(caplog.handler)


def _sql(path: Path, *statements: str) -> None:
    """Run statements through a connection of another program."""
    with sqlite3.connect(path, timeout=30) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def test_failing_statements_log_no_key_hash_shared_key_or_passkey(
    tmp_path: Path, server_logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secrets.db"
    with Sandbox(str(path)) as sb, httpx.Client(base_url=sb.url, timeout=60) as http:
        service = sb.create_user("service", service=True)
        shared = sb.create_shared_key(service, "ci")
        key_hash = sb.store.hash_key(service.api_key)

        # A fresh proxy passkey whose UPDATE fails.
        _sql(
            path,
            "CREATE TRIGGER refuse_passkeys BEFORE UPDATE OF proxy_passkey ON horde_users "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        reply = http.put(
            f"/v2/users/{service.id}",
            headers={"apikey": service.api_key},
            json={"generate_proxy_passkey": True},
        )
        assert (reply.status_code, reply.json()) == (500, INTERNAL_ERROR)
        # A shared key sent to find_user, whose lookup fails.
        _sql(path, "DROP TABLE horde_shared_keys")
        reply = http.get("/v2/find_user", headers={"apikey": shared.upper()})
        assert (reply.status_code, reply.json()) == (500, INTERNAL_ERROR)
        # An API key's hash, whose lookup fails.
        _sql(path, "DROP TABLE horde_suspicions")
        reply = http.get(f"/v2/users/{service.id}", headers={"apikey": service.api_key})
        assert (reply.status_code, reply.json()) == (500, INTERNAL_ERROR)

    out, err = capfd.readouterr()
    logged = server_logs.text
    assert "database error on GET /api/v2/find_user: OperationalError" in logged
    for text in (logged, out, err):
        for secret in (service.api_key, key_hash, shared, shared.upper()):
            assert secret not in text
        assert not QUOTED_KEY.search(text)


def test_database_files_the_sandbox_creates_are_private(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    with Sandbox(str(path)) as sb:
        service = sb.create_user("service", service=True)
        reply = httpx.put(
            f"{sb.url}/v2/users/{service.id}",
            headers={"apikey": service.api_key},
            json={"generate_proxy_passkey": True},
        )
        assert reply.status_code == 200
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    with Sandbox() as temporary:  # the default: a temporary file
        database = Path(temporary.store.url.removeprefix("sqlite:///"))
        assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    SandboxStore(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.postgres
def test_a_failing_statement_on_postgres_logs_no_shared_key(
    postgres_url: str, server_logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    import sqlalchemy

    with Sandbox(postgres_url) as sb, httpx.Client(base_url=sb.url, timeout=60) as http:
        owner = sb.create_user("owner")
        shared = sb.create_shared_key(owner)
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DROP TABLE horde_shared_keys"))
        engine.dispose()
        reply = http.get("/v2/find_user", headers={"apikey": shared})
        assert (reply.status_code, reply.json()) == (500, INTERNAL_ERROR)
    out, err = capfd.readouterr()
    assert "database error on GET /api/v2/find_user: UndefinedTable (SQLSTATE 42P01)" in server_logs.text
    for text in (server_logs.text, out, err):
        assert shared not in text
