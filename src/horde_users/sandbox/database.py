"""The sandbox's database connection: the engine, one transaction per request, the locks.

A store method joins the transaction open in its context, so a request's reads and writes are one
transaction. SQLite writers take the write lock at BEGIN; a transaction that finds the database
locked waits (30 s), or fails at once under :meth:`Database.fail_fast` so an event loop can wait
without blocking; a lock that stays taken raises :class:`StoreBusyError` (the app answers 503).

On PostgreSQL a read transaction sends no BEGIN or COMMIT: its statements run on their own (under
READ COMMITTED each statement of a transaction saw its own snapshot anyway), one round trip each. A
write transaction is BEGIN ... COMMIT; under :meth:`Database.fail_fast` a row lock held by another
transaction fails it at once (``lock_timeout``) instead of blocking, with the same StoreBusyError.
A pooled PostgreSQL connection the server has closed is replaced at checkout without a round trip.
"""

from __future__ import annotations

import contextlib
import select
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import StaticPool

from horde_users._sqlite_files import create_private_file, sqlite_url
from horde_users.sandbox.schema import metadata

_WRITE = "horde_write"  # Connection.info key: the transaction being begun writes (set while it runs)
_BUSY_MS = "horde_busy_ms"  # Connection.info key: the SQLite connection's busy timeout now
_WAIT_MS = 30000  # how long a SQLite transaction waits for another connection's lock, but see fail_fast
_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")
_PG_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout (or NOWAIT) that ran out
# A write transaction's start, in one round trip (the simple query protocol takes several statements).
# synchronous_commit off, as SQLite's synchronous=NORMAL: COMMIT does not wait for the WAL flush, so a
# crash may lose the last transactions, never the database's consistency.
_PG_BEGIN = "BEGIN; SET LOCAL synchronous_commit = off"
_PG_BEGIN_FAIL_FAST = _PG_BEGIN + "; SET LOCAL lock_timeout = '1ms'"


_STALE_TABLES = text(
    "SELECT t.name FROM unnest(CAST(:names AS text[])) AS t(name) "
    "JOIN pg_stat_user_tables s ON s.relid = to_regclass(t.name) "
    "WHERE s.n_mod_since_analyze > 50 + 0.1 * s.n_live_tup"
)


_DriverStatement = tuple[
    str, "tuple[str, ...] | None", "dict[str, Any]", "tuple[tuple[int, Callable[[Any], Any]], ...] | None"
]
"""A statement for the driver: its SQL, its parameters' order (positional styles), the values of its
literal parameters, its result processors."""


class StoreBusyError(Exception):
    """Another connection held the SQLite database's lock too long; nothing was done, try again."""


def _is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, or SQLAlchemy's wrapping of one) is SQLite's "locked" or
    PostgreSQL's lock timeout."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).startswith(_BUSY_MESSAGES)
    return getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE


def _closed_by_server(dbapi_connection: Any) -> bool:
    """Whether an idle PostgreSQL connection has something to read: the server's goodbye (it was
    restarted or ended the session) or the end of the stream. A live idle connection has nothing."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def database_url(database: str | Path | None) -> str:
    """A SQLAlchemy URL: URLs pass through, a plain path becomes a SQLite file, None is in-memory."""
    if database is None or str(database) in ("", ":memory:"):
        return "sqlite://"
    text_db = str(database)
    if "://" in text_db:
        return text_db
    return sqlite_url(text_db)


class Database:
    """A SQLAlchemy engine for ``url`` (a URL, a SQLite file path, or None for in memory) and its
    transactions; ``schema`` (PostgreSQL only) is where the tables live."""

    def __init__(self, url: str | Path | None = None, *, schema: str | None = None) -> None:
        self.url = database_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self._is_sqlite = self.dialect == "sqlite"
        self._memory = self._is_sqlite and parsed.database in (None, "", ":memory:")
        if self._is_sqlite and not self._memory and not parsed.query.get("uri"):
            # an existing file keeps its mode; a missing directory is reported by SQLite as before
            with contextlib.suppress(FileNotFoundError):
                create_private_file(Path(str(parsed.database)))
        # An in-memory database is one shared connection, so its transactions are serialised here.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._memory else contextlib.nullcontext()
        )
        self._current: ContextVar[Connection | None] = ContextVar(f"horde_store_{id(self)}", default=None)
        self._fail_fast: ContextVar[bool] = ContextVar(f"horde_fail_fast_{id(self)}", default=False)
        self.engine = self._make_engine(schema)
        self._schema = schema
        self._driver_sql: dict[Select[Any], _DriverStatement] = {}  # hot statements, for rows()

    def _make_engine(self, schema: str | None) -> Engine:
        # hide_parameters: a failing statement's error (and so any log of it) never shows the values
        # bound to it, which can be a shared key, a key hash or a proxy passkey.
        if not self._is_sqlite:
            return self._make_pg_engine(schema)
        if self._memory:
            engine = create_engine(
                "sqlite://",
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                hide_parameters=True,
            )
        else:
            engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=10,
                hide_parameters=True,
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={_WAIT_MS}")
            record.info[_BUSY_MS] = _WAIT_MS
            if not self._memory:
                # WAL with synchronous=NORMAL: commits skip the fsync (a sandbox may lose its last
                # transactions on power loss, never its consistency).
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            driver: Any = conn.connection.driver_connection
            busy_ms = 0 if self._fail_fast.get() else _WAIT_MS
            if conn.info.get(_BUSY_MS) != busy_ms:
                driver.execute(f"PRAGMA busy_timeout={busy_ms}")
                conn.info[_BUSY_MS] = busy_ms
            # Writers take the write lock up front, so SQLite never has to upgrade a read lock
            # (which fails at once with "database is locked" under concurrency).
            driver.execute("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN DEFERRED")

        return engine

    def _make_pg_engine(self, schema: str | None) -> Engine:
        # AUTOCOMMIT: the driver sends no BEGIN of its own; write transactions send theirs (below).
        options: dict[str, Any] = {"pool_size": 10, "max_overflow": 20, "isolation_level": "AUTOCOMMIT"}
        if schema is not None:
            options["execution_options"] = {"schema_translate_map": {None: schema}}
        engine = create_engine(self.url, hide_parameters=True, **options)

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            # Instead of a ping (a round trip per request): the pool replaces a connection the
            # server has closed, which an idle connection shows by being readable.
            if _closed_by_server(dbapi_connection):
                raise DisconnectionError("the server closed the connection")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if not conn.info.get(_WRITE):
                return  # a read: each statement commits on its own
            driver: Any = conn.connection.driver_connection
            driver.execute(_PG_BEGIN_FAIL_FAST if self._fail_fast.get() else _PG_BEGIN)

        return engine

    @contextlib.contextmanager
    def transaction(self, write: bool = False) -> Iterator[Connection]:
        """One connection and transaction; the store calls made inside it (in this context) join it.

        A ``write`` transaction takes SQLite's write lock at BEGIN; a write cannot join a read one.
        Raises StoreBusyError (after rolling back) when SQLite's lock stays taken by another
        connection: for 30 s, or at once under :meth:`fail_fast`.
        """
        current = self._current.get()
        if current is not None:
            if write and not current.info.get(_WRITE):
                raise RuntimeError("a write cannot join a read transaction")
            yield current
            return
        with self._lock, self.engine.connect() as conn:
            conn.info[_WRITE] = write
            token = self._current.set(conn)
            try:
                with conn.begin():
                    yield conn
            except Exception as exc:
                if _is_busy(exc):
                    raise StoreBusyError("the database is locked by another connection") from None
                raise
            finally:
                self._current.reset(token)
                del conn.info[_WRITE]  # the pooled connection's info outlives this checkout

    def rows(self, conn: Connection, statement: Select[Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of a SELECT (without expanding parameters) as tuples, on ``conn``.

        The statement's SQL, compiled once, goes straight to the driver's cursor: SQLAlchemy's result
        layer (and, on PostgreSQL, the column descriptions psycopg builds for it) cost more than the
        query itself. The values are SQLAlchemy's: its result processors are applied (SQLite's dates).
        Driver errors are raised as SQLAlchemy's, without the bound values.
        """
        prepared = self._driver_sql.get(statement)
        if prepared is None:
            prepared = self._driver_sql[statement] = self._prepare(statement)
        sql, names, defaults, processors = prepared
        if defaults:
            params = {**defaults, **params}
        bound: Any = params if names is None else tuple(params[name] for name in names)
        dialect = self.engine.dialect
        dbapi_connection: Any = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, bound)
            if processors is None:  # the first run: the driver's column types pick the processors
                processors = self._processors(statement, cursor.description)
                self._driver_sql[statement] = (sql, names, defaults, processors)
            found = cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            gone = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if gone:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                sql,
                params,
                exc,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=gone,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()
        if not processors:
            return [tuple(row) for row in found]
        out = []
        for row in found:
            values = list(row)
            for at, process in processors:
                values[at] = process(values[at])
            out.append(tuple(values))
        return out

    def _prepare(self, statement: Select[Any]) -> _DriverStatement:
        translate = {None: self._schema} if self._schema is not None and not self._is_sqlite else None
        dialect = self.engine.dialect
        compiled: Any = statement.compile(
            dialect=dialect, schema_translate_map=translate, render_schema_translate=translate is not None
        )
        names = tuple(compiled.positiontup) if compiled.positional else None
        defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        return compiled.string, names, defaults, None

    def _processors(self, statement: Select[Any], description: Any) -> tuple[tuple[int, Any], ...]:
        dialect = self.engine.dialect
        processors = []
        for at, column in enumerate(statement.selected_columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, description[at][1])
            if process is not None:
                processors.append((at, process))
        return tuple(processors)

    @contextlib.contextmanager
    def fail_fast(self) -> Iterator[None]:
        """Transactions begun inside (in this context) do not wait for another connection's lock
        (SQLite's database lock, a PostgreSQL row lock): they raise StoreBusyError at once, so a
        caller on an event loop can wait without blocking it."""
        token = self._fail_fast.set(True)
        try:
            yield
        finally:
            self._fail_fast.reset(token)

    def tidy_pg_tables(self) -> None:
        """PostgreSQL: VACUUM ANALYZE the tables that changed much since their last ANALYZE (by
        autovacuum's own rule), as autovacuum would, when it is off or has not come round yet.

        Without statistics the planner reads and sorts the whole users table for every list page; and
        an index-only scan of a never vacuumed table still visits each row it skips. A sandbox started
        on a freshly seeded database would otherwise pay both on every request.
        """
        if self._is_sqlite:
            return
        prefix = f'"{self._schema}".' if self._schema is not None else ""
        names = [f"{prefix}{table.name}" for table in metadata.sorted_tables]
        with self.engine.connect() as conn:  # autocommit: VACUUM cannot run in a transaction
            stale = conn.execute(_STALE_TABLES, {"names": names}).scalars().all()
            if stale:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(stale)}")

    def create_pg_schema(self) -> None:
        """Create the PostgreSQL schema given at construction, if any and if missing."""
        if self._schema is not None and not self._is_sqlite:
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"'))

    def drop_schema(self) -> None:
        """Drop every table (and the PostgreSQL schema given at construction). For tests."""
        with self.engine.begin() as conn:
            metadata.drop_all(conn)
            if self._schema is not None and not self._is_sqlite:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE'))

    def close(self) -> None:
        """Release the connections (the data stays)."""
        self.engine.dispose()
