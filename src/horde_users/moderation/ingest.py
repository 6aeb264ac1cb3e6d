"""Writing listed users into the index: one bulk upsert per page, names mirrored into the trigram table.

A user's row is replaced by what the list shows now; the privileged view fetched earlier
(``details_json``) is kept. A user seen again after being marked gone is no longer gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, update

from horde_users.models import UserDetailsResponse
from horde_users.moderation.index_tables import (
    NAMES_FTS,
    ROLE_COLUMNS,
    index_sync_runs,
    index_user_views,
    index_users,
    uses_fts,
)

_UPDATED = (
    "username",
    "name",
    "name_lower",
    "kudos",
    "concurrency",
    "worker_count",
    *ROLE_COLUMNS,
    "account_age",
    "created_at",
    "listed_at",
    "seen_in_run",
    "gone",
    "gone_since",
)


_SERIALIZER = UserDetailsResponse.__pydantic_serializer__
_COLUMNS = ("id", *_UPDATED)
assert _COLUMNS[7:15] == ROLE_COLUMNS, "user_row() writes the roles in this order"
_SQLITE_UPSERT = (
    f"INSERT INTO index_users ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{name} = excluded.{name}' for name in _UPDATED)}"
)
_SQLITE_MOVE_CHECKPOINT = (
    "UPDATE index_sync_runs SET next_page = ?, pages_done = ?, users_seen = ? WHERE id = ?"
)
_SQLITE_VIEWS_UPSERT = (
    "INSERT INTO index_user_views (id, public_json) VALUES (?, ?) "
    "ON CONFLICT (id) DO UPDATE SET public_json = excluded.public_json"
)


def split_alias(username: str) -> str:
    """``"alice#3"`` -> ``"alice"``; a name without a numeric ``#id`` suffix is returned as it is."""
    name, sep, suffix = username.rpartition("#")
    return name if sep and suffix.isdigit() else username


def user_row(user: UserDetailsResponse, run_id: int, now: float) -> tuple[tuple[Any, ...], str]:
    """One listed user's ``index_users`` values (in :data:`_COLUMNS` order) and its public JSON."""
    username = user.username or ""
    name = split_alias(username)
    age = user.account_age
    values = (
        user.id_,
        username,
        name,
        name.lower(),
        float(user.kudos or 0.0),
        user.concurrency,
        int(user.worker_count or 0),
        bool(user.moderator),
        bool(user.trusted),
        bool(user.flagged),
        bool(user.service),
        bool(user.education),
        bool(user.customizer),
        bool(user.deleted),
        bool(user.pseudonymous),
        age,
        None if age is None else now - age,
        now,
        run_id,
        False,
        None,
    )
    # what model_dump_json(by_alias=True, exclude_unset=True) does, without its Python wrapper
    return values, _SERIALIZER.to_json(user, by_alias=True, exclude_unset=True).decode()


def upsert_users(conn: Connection, users: Iterable[UserDetailsResponse], run_id: int, now: float) -> int:
    """Insert or update ``users`` (one page, or any batch) in ``conn``'s transaction; returns the count."""
    rows = _rows(users, run_id, now)
    if rows:
        if uses_fts(conn):
            with _driver_cursor(conn) as cursor:
                _sqlite_upsert(cursor, rows)
        else:
            _generic_upsert(conn, rows)
    return len(rows)


Row = tuple[tuple[Any, ...], str]


def _rows(users: Iterable[UserDetailsResponse], run_id: int, now: float) -> list[Row]:
    return [user_row(user, run_id, now) for user in users if user.id_ is not None]


@contextmanager
def _driver_cursor(conn: Connection) -> Iterator[Any]:
    """The DB-API cursor of ``conn``'s transaction: SQLAlchemy's per-statement work would cost more than
    the inserts themselves."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def _sqlite_upsert(cursor: Any, rows: Sequence[Row]) -> None:
    _mirror_names(cursor, [(values[0], values[3]) for values, _ in rows])
    cursor.executemany(_SQLITE_UPSERT, [values for values, _ in rows])
    cursor.executemany(_SQLITE_VIEWS_UPSERT, [(values[0], text) for values, text in rows])


def _generic_upsert(conn: Connection, rows: Sequence[Row]) -> None:
    users_upsert, views_upsert = _upsert_statements(conn)
    conn.execute(users_upsert, [dict(zip(_COLUMNS, values, strict=True)) for values, _ in rows])
    conn.execute(views_upsert, [{"id": values[0], "public_json": text} for values, text in rows])


_MOVE_CHECKPOINT = (
    update(index_sync_runs)
    .where(index_sync_runs.c.id == bindparam("run"))
    .values(next_page=bindparam("next"), pages_done=bindparam("pages"), users_seen=bindparam("users"))
)


@dataclass
class Checkpoint:
    """Where a sync run stands: the next page to read, and what it stored so far."""

    run_id: int
    next_page: int
    pages_done: int
    users_seen: int


def store_page(
    conn: Connection,
    checkpoint: Checkpoint,
    users: Iterable[UserDetailsResponse],
    *,
    next_page: int,
    now: float,
) -> None:
    """Write one page's users and move ``checkpoint`` on, in ``conn``'s transaction (both or neither)."""
    rows = _rows(users, checkpoint.run_id, now)
    _move(checkpoint, next_page, len(rows))
    _write_pages(conn, rows, checkpoint)


def _move(checkpoint: Checkpoint, next_page: int, stored: int) -> None:
    checkpoint.next_page = next_page
    checkpoint.pages_done += 1
    checkpoint.users_seen += stored


def _write_pages(conn: Connection, rows: Sequence[Row], checkpoint: Checkpoint) -> None:
    """Write ``rows`` and set the stored checkpoint to ``checkpoint``, in ``conn``'s transaction."""
    moved = (checkpoint.next_page, checkpoint.pages_done, checkpoint.users_seen, checkpoint.run_id)
    if uses_fts(conn):
        with _driver_cursor(conn) as cursor:
            if rows:
                _sqlite_upsert(cursor, rows)
            cursor.execute(_SQLITE_MOVE_CHECKPOINT, moved)
    else:
        if rows:
            _generic_upsert(conn, rows)
        conn.execute(_MOVE_CHECKPOINT, dict(zip(("next", "pages", "users", "run"), moved, strict=True)))


class PageWriter:
    """Stores pages with their checkpoint, committing at least every ``commit_every`` seconds.

    At a server's pace (a page every 0.7 s) every page is its own transaction; when pages arrive
    faster (a local sandbox, a benchmark) several share one, so commits do not set the speed. The
    pages of one transaction are written together when it commits (a few statements for all their
    users rather than a few per page); nothing is visible before the commit either way. A crash
    loses only uncommitted pages, and the checkpoint in the database never runs ahead of the users.
    """

    def __init__(self, conn: Connection, checkpoint: Checkpoint, commit_every: float = 0.25) -> None:
        self.conn = conn
        self.checkpoint = checkpoint
        self.commit_every = commit_every
        self._pending: list[Row] | None = None
        self._opened = 0.0

    def add(self, users: Iterable[UserDetailsResponse], *, next_page: int, now: float, last: bool) -> bool:
        """Store one page; returns True when it (and any before it) is committed."""
        if self._pending is None:
            self._pending = []
            self._opened = time.monotonic()
        rows = _rows(users, self.checkpoint.run_id, now)
        self._pending.extend(rows)
        _move(self.checkpoint, next_page, len(rows))
        if last or time.monotonic() - self._opened >= self.commit_every:
            self.commit()
            return True
        return False

    def commit(self) -> None:
        """Write and commit the pages added so far."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            with self.conn.begin():
                _write_pages(self.conn, pending, self.checkpoint)


@contextmanager
def relaxed_durability(conn: Connection) -> Iterator[None]:
    """On SQLite, commit without waiting for the disk (``synchronous=NORMAL``) and checkpoint the log
    less often while the sync writes.

    In WAL mode the database stays consistent after a crash; a power cut may lose the last pages,
    which the next sync simply reads again. The connection's previous setting is restored afterwards,
    so the journal's writes on the same pooled connection keep their own durability.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    checkpoint_pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={_SYNC_CHECKPOINT_PAGES}")
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.exec_driver_sql(f"PRAGMA synchronous={int(previous or 2)}")
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages or 1000)}")
        conn.commit()


_SYNC_CHECKPOINT_PAGES = 8000
"""While a sync writes, the write-ahead log is copied into the database (with its disk flush) every
8,000 pages (32 MiB with 4 KiB pages) instead of SQLite's 1,000: a sync writes about 1.5 KiB a user."""


_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _upsert_statements(conn: Connection) -> tuple[Any, Any]:
    """The dialect's ``INSERT ... ON CONFLICT (id) DO UPDATE`` for the users and their views, built once."""
    cached = _STATEMENTS.get(conn.dialect.name)
    if cached is None:
        cached = _STATEMENTS[conn.dialect.name] = (
            _build_upsert(conn, index_users, _UPDATED),
            _build_upsert(conn, index_user_views, ("public_json",)),
        )
    return cached


def _build_upsert(conn: Connection, table: Any, updated: Sequence[str]) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.id], set_={name: statement.excluded[name] for name in updated}
    )


def _mirror_names(cursor: Any, names: Sequence[tuple[int, str]]) -> None:
    """Keep the trigram table in step: only new users and renamed ones are written.

    A user listed twice in one batch (the list shifted between two of its pages) is written once, with
    the last name seen, as the users' upsert leaves it."""
    latest = dict(names)
    ids = list(latest)
    known: dict[int, str] = {}
    for start in range(0, len(ids), _IDS_PER_SELECT):
        chunk = ids[start : start + _IDS_PER_SELECT]
        marks = ", ".join("?" * len(chunk))
        cursor.execute(f"SELECT id, name_lower FROM index_users WHERE id IN ({marks})", chunk)
        known.update(cursor.fetchall())
    changed = [(user_id, name) for user_id, name in latest.items() if known.get(user_id) != name]
    if not changed:
        return
    renamed = [(user_id,) for user_id, _ in changed if user_id in known]
    if renamed:
        cursor.executemany(f"DELETE FROM {NAMES_FTS} WHERE rowid = ?", renamed)
    cursor.executemany(f"INSERT INTO {NAMES_FTS}(rowid, name_lower) VALUES (?, ?)", changed)


_IDS_PER_SELECT = 500
"""Ids looked up per statement: well under SQLite's limit on bound parameters (999 before 3.32)."""


def mark_gone(conn: Connection, run_id: int, now: float) -> int:
    """Users not seen in ``run_id`` (a completed run) left the list: mark them gone since ``now``."""
    result = conn.execute(
        update(index_users)
        .where(index_users.c.seen_in_run < run_id, index_users.c.gone.is_(False))
        .values(gone=True, gone_since=now)
    )
    return int(result.rowcount or 0)
