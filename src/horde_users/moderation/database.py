"""Where the index and the journal live: one SQLAlchemy engine over SQLite or PostgreSQL.

The default is a SQLite file in the user's data directory; ``HORDE_USERS_DATABASE`` or an explicit
URL (``--database`` on the command line) chooses another file or a PostgreSQL database, which lets a
moderation team share one index and one journal. Each part of the toolkit declares its tables on
:data:`metadata` and creates them with :func:`ensure_tables`.
"""

from __future__ import annotations

import os
from pathlib import Path

from horde_users._extras import require
from horde_users._sqlite_files import create_private_file, sqlite_url

require("moderation")

from sqlalchemy import Engine, MetaData, Table, create_engine, event, text  # noqa: E402 (after the check)
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import ArgumentError, SQLAlchemyError  # noqa: E402

from horde_users.moderation.errors import DatabaseError  # noqa: E402

DATABASE_ENV = "HORDE_USERS_DATABASE"
DEFAULT_FILE_NAME = "moderation.db"

metadata = MetaData()
"""The tables of the index and the journal."""


def default_database_path() -> Path:
    """The SQLite file used when nothing else is configured, in the user's data directory."""
    from platformdirs import user_data_path

    return user_data_path("horde-users", appauthor=False) / DEFAULT_FILE_NAME


def resolve_database_url(explicit: str | None = None) -> str:
    """``explicit``, else ``HORDE_USERS_DATABASE``, else the default file; a path becomes a SQLite URL."""
    value = explicit or os.environ.get(DATABASE_ENV) or str(default_database_path())
    if "://" not in value:
        return sqlite_url(value)
    return value


def open_database(url: str | None = None) -> Engine:
    """An engine for the configured database, checked to be writable before anything else happens.

    A SQLite file is created with mode 0600 (the journal holds the privileged views it read) in a
    directory created when missing; it runs in WAL mode with a busy timeout, so a reader never blocks a
    writer. Raises :class:`DatabaseError` with one plain sentence when the database cannot be used.
    """
    resolved = resolve_database_url(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError as error:
        raise DatabaseError(f"not a database URL or path: {resolved!r}") from error
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        _prepare_sqlite_file(Path(parsed.database))
    try:
        engine = create_engine(parsed, hide_parameters=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as error:
        raise DatabaseError(
            f"cannot use database {parsed.render_as_string(hide_password=True)}: {error}"
        ) from error
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        engine.dispose()
        where = parsed.render_as_string(hide_password=True)
        raise DatabaseError(f"cannot open database {where}: {error.__class__.__name__}") from error
    return engine


_CREATE_LOCK = 0x686F726465  # "horde": one PostgreSQL advisory lock serialises table creation


def ensure_tables(engine: Engine, *tables: Table) -> None:
    """Create ``tables`` (declared on :data:`metadata`) when they do not exist yet.

    On PostgreSQL two moderators starting at once would race on ``CREATE TABLE`` (its check-then-create
    is not atomic), so creation holds a transaction-scoped advisory lock.
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
            metadata.create_all(conn, tables=list(tables))
    except SQLAlchemyError as error:
        raise DatabaseError(f"cannot create the moderation tables: {error.__class__.__name__}") from error


def _prepare_sqlite_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private_file(path)
    except OSError as error:
        raise DatabaseError(f"cannot write the database file {path}: {error.strerror}") from error


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
