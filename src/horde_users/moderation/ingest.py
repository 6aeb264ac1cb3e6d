"""Writing listed users into the index: bulk upserts per transaction, names mirrored into the trigram table.

A user's row is replaced by what the list shows now; the privileged view fetched earlier
(``details_json``) is kept. A user seen again after being marked gone is no longer gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam, update

from horde_users.endpoints import USERS_PER_PAGE
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
assert _COLUMNS[7:15] == ROLE_COLUMNS, "Rows.add writes the roles in this order"
_BOUND = _COLUMNS[:-2]
"""The columns a listed user's values fill; a user just listed is not gone (the last two columns)."""
assert _COLUMNS[-2:] == ("gone", "gone_since")
_SQLITE_MOVE_CHECKPOINT = (
    "UPDATE index_sync_runs SET next_page = ?, pages_done = ?, users_seen = ? WHERE id = ?"
)


def split_alias(username: str) -> str:
    """``"alice#3"`` -> ``"alice"``; a name without a numeric ``#id`` suffix is returned as it is."""
    name, sep, suffix = username.rpartition("#")
    return name if sep and suffix.isdigit() else username


class Rows:
    """The rows one write stores: each listed user's ``index_users`` values (in :data:`_BOUND` order),
    its public JSON and its lower-cased name, gathered page by page."""

    __slots__ = ("_no", "_yes", "names", "users", "views")

    def __init__(self, *, bits: bool) -> None:
        """``bits``: roles as 1 and 0 (for SQLite's driver, which looks every bool up in its adapters
        before binding it) rather than True and False."""
        self._yes, self._no = (1, 0) if bits else (True, False)
        self.users: list[tuple[Any, ...]] = []
        self.views: list[tuple[int, str]] = []
        self.names: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self.users)

    def add(self, users: Iterable[UserDetailsResponse], run_id: int, now: float) -> int:
        """Add the ``users`` that have an id; returns how many."""
        before = len(self.users)
        add_user, add_view, add_name = self.users.append, self.views.append, self.names.append
        to_json = _SERIALIZER.to_json
        yes, no = self._yes, self._no
        for user in users:
            # the fields straight from the model's __dict__ (its attributes cost a __getattr__ hook each)
            (
                user_id,
                username,
                kudos,
                concurrency,
                workers,
                moderator,
                trusted,
                flagged,
                service,
                education,
                customizer,
                deleted,
                pseudonymous,
                age,
            ) = _LISTED(user.__dict__)
            if user_id is None:
                continue
            username = username or ""
            name = split_alias(username)
            lower = name.lower()
            add_user(
                (
                    user_id,
                    username,
                    name,
                    lower,
                    float(kudos or 0.0),
                    concurrency,
                    int(workers or 0),
                    yes if moderator else no,
                    yes if trusted else no,
                    yes if flagged else no,
                    yes if service else no,
                    yes if education else no,
                    yes if customizer else no,
                    yes if deleted else no,
                    yes if pseudonymous else no,
                    age,
                    None if age is None else now - age,
                    now,
                    run_id,
                )
            )
            # what model_dump_json(by_alias=True, exclude_unset=True) does, without its Python wrapper
            add_view((user_id, to_json(user, by_alias=True, exclude_unset=True).decode()))
            add_name((user_id, lower))
        return len(self.users) - before


_LISTED = itemgetter("id_", "username", "kudos", "concurrency", "worker_count", *ROLE_COLUMNS, "account_age")
"""The fields of a listed user that ``index_users`` holds, by field name."""


def upsert_users(conn: Connection, users: Iterable[UserDetailsResponse], run_id: int, now: float) -> int:
    """Insert or update ``users`` (one page, or any batch) in ``conn``'s transaction; returns the count."""
    rows = Rows(bits=uses_fts(conn))
    rows.add(users, run_id, now)
    if rows:
        if uses_fts(conn):
            with _driver_cursor(conn) as cursor:
                _sqlite_upsert(cursor, rows)
        else:
            _generic_upsert(conn, rows)
    return len(rows)


@contextmanager
def _driver_cursor(conn: Connection) -> Iterator[Any]:
    """The DB-API cursor of ``conn``'s transaction: SQLAlchemy's per-statement work would cost more than
    the inserts themselves."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


class ManyRowsInsert:
    """An SQLite ``INSERT`` whose ``VALUES`` list holds many rows: each statement is run (and the table's
    and its indexes' cursors opened) once for many rows rather than once for each."""

    def __init__(self, head: str, row: str, tail: str = "") -> None:
        """``head``: the statement up to ``VALUES``; ``row``: one row's values (``?`` for each bound one);
        ``tail``: what follows the ``VALUES`` list (an ``ON CONFLICT`` clause)."""
        self.per_statement = _MAX_VALUES // row.count("?")
        self.full = f"{head} VALUES {', '.join([row] * self.per_statement)}{tail}"
        self.single = f"{head} VALUES {row}{tail}"

    def run(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in their order, as one statement for each would: full statements, then the
        rows left over one by one."""
        per = self.per_statement
        full = len(rows) - len(rows) % per
        if full:
            flat = [tuple(chain.from_iterable(rows[at : at + per])) for at in range(0, full, per)]
            cursor.executemany(self.full, flat)
        if full < len(rows):
            cursor.executemany(self.single, rows[full:])


_MAX_VALUES = 999
"""Values bound to one statement at most: SQLite's limit before 3.32 (32,766 since)."""


_USERS_INSERT = ManyRowsInsert(
    f"INSERT INTO index_users ({', '.join(_COLUMNS)})",
    f"({', '.join('?' * len(_BOUND))}, 0, NULL)",
    f" ON CONFLICT (id) DO UPDATE SET {', '.join(f'{name} = excluded.{name}' for name in _UPDATED)}",
)
_VIEWS_INSERT = ManyRowsInsert(
    "INSERT INTO index_user_views (id, public_json)",
    "(?, ?)",
    " ON CONFLICT (id) DO UPDATE SET public_json = excluded.public_json",
)


def _sqlite_upsert(cursor: Any, rows: Rows, moved: tuple[int, int, int, int] | None = None) -> None:
    """Write ``rows`` (and move the checkpoint, when ``moved``) through the driver's cursor."""
    changed = _renamed_or_new(cursor, rows.names)
    _USERS_INSERT.run(cursor, rows.users)
    _VIEWS_INSERT.run(cursor, rows.views)
    if moved is not None:
        cursor.execute(_SQLITE_MOVE_CHECKPOINT, moved)
    _mirror_names(cursor, changed)


_NOT_GONE = (False, None)
"""``gone`` and ``gone_since`` of a user just listed (SQLite's statement has them as constants)."""


def _generic_upsert(conn: Connection, rows: Rows) -> None:
    users_upsert, views_upsert = _upsert_statements(conn)
    conn.execute(
        users_upsert, [dict(zip(_COLUMNS, values + _NOT_GONE, strict=True)) for values in rows.users]
    )
    conn.execute(views_upsert, [{"id": user_id, "public_json": text} for user_id, text in rows.views])


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
    rows = Rows(bits=uses_fts(conn))
    _move(checkpoint, next_page, rows.add(users, checkpoint.run_id, now))
    _write_pages(conn, rows, checkpoint)


def _move(checkpoint: Checkpoint, next_page: int, stored: int) -> None:
    """Count the page at ``checkpoint.next_page``, which held ``stored`` users, and move on."""
    page = checkpoint.next_page
    if checkpoint.pages_done >= page:
        # The short last page, read again by a resumed run (it may have grown since): its new count
        # replaces the old one. Every page before it was a full one.
        checkpoint.users_seen = (page - 1) * USERS_PER_PAGE
    else:
        checkpoint.pages_done = page
    checkpoint.next_page = next_page
    checkpoint.users_seen += stored


def _write_pages(conn: Connection, rows: Rows, checkpoint: Checkpoint) -> None:
    """Write ``rows`` and set the stored checkpoint to ``checkpoint``, in ``conn``'s transaction."""
    moved = (checkpoint.next_page, checkpoint.pages_done, checkpoint.users_seen, checkpoint.run_id)
    if uses_fts(conn):
        with _driver_cursor(conn) as cursor:
            _sqlite_upsert(cursor, rows, moved)
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
        self._pending: Rows | None = None
        self._opened = 0.0

    def add(self, users: Iterable[UserDetailsResponse], *, next_page: int, now: float, last: bool) -> bool:
        """Store one page; returns True when it (and any before it) is committed."""
        if self._pending is None:
            self._pending = Rows(bits=uses_fts(self.conn))
            self._opened = time.monotonic()
        _move(self.checkpoint, next_page, self._pending.add(users, self.checkpoint.run_id, now))
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
    """On SQLite, commit without waiting for the disk (``synchronous=NORMAL``), checkpoint the log less
    often and keep more pages in memory while the sync writes.

    In WAL mode the database stays consistent after a crash; a power cut may lose the last pages,
    which the next sync simply reads again. The connection's previous settings are restored afterwards,
    so the journal's writes on the same pooled connection keep their own durability.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    checkpoint_pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    temp_store = conn.exec_driver_sql("PRAGMA temp_store").scalar()
    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={_SYNC_CHECKPOINT_PAGES}")
    conn.exec_driver_sql(f"PRAGMA cache_size={_SYNC_CACHE}")
    conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.exec_driver_sql(f"PRAGMA synchronous={int(previous or 2)}")
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages or 1000)}")
        conn.exec_driver_sql(f"PRAGMA cache_size={int(cache or -2000)}")
        conn.exec_driver_sql(f"PRAGMA temp_store={int(temp_store or 0)}")
        conn.commit()


_SYNC_CHECKPOINT_PAGES = 8000
"""While a sync writes, the write-ahead log is copied into the database (with its disk flush) every
8,000 pages (32 MiB with 4 KiB pages) instead of SQLite's 1,000: a sync writes about 1.5 KiB a user."""

_SYNC_CACHE = -65536
"""While a sync writes, up to 64 MiB of the database's pages stay in memory (SQLite's default: 2 MiB):
each user's row lands at a different place in each index, and a page read back from the file costs a
system call."""


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


def _renamed_or_new(cursor: Any, names: Sequence[tuple[int, str]]) -> list[tuple[int, str, bool]]:
    """The names the trigram table lacks, read before the users' upsert: new users and renamed ones, each
    with whether it is a rename.

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
    return [
        (user_id, name, user_id in known) for user_id, name in latest.items() if known.get(user_id) != name
    ]


def _mirror_names(cursor: Any, changed: Sequence[tuple[int, str, bool]]) -> None:
    """Keep the trigram table in step: only new users and renamed ones are written.

    Called last in a transaction: once FTS5 is written to, every later statement that may need undoing
    (a savepoint) makes it flush its pending terms, and flushing once per statement would cost more
    than all the inserts."""
    renamed = [(user_id,) for user_id, _, rename in changed if rename]
    if renamed:
        cursor.executemany(f"DELETE FROM {NAMES_FTS} WHERE rowid = ?", renamed)
    cursor.executemany(
        f"INSERT INTO {NAMES_FTS}(rowid, name_lower) VALUES (?, ?)",
        [(user_id, name) for user_id, name, _ in changed],
    )


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
