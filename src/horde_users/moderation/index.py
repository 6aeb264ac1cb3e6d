"""The local index of a horde's users: :class:`UserIndex`, the one object the CLI and the console use.

    from horde_users import HordeUsers
    from horde_users.moderation.database import open_database
    from horde_users.moderation.index import Filters, SortKey, UserIndex, parse_age

    index = UserIndex(open_database())            # or UserIndex.open("postgresql+psycopg://...")
    with HordeUsers(max_retries=0) as client:
        report = index.sync(client, rate=80)      # every page of GET /v2/users, resumable
    trusted = index.find(Filters(trusted=True, older_than=parse_age("30d")), sort=SortKey.kudos, limit=20)
    with open("flagged.jsonl", "w") as out:
        index.export(Filters(flagged=True), "jsonl", out)

The index holds the list's public view of each user (``IndexedUser.public``, exactly the keys the list
sent) plus, for users chosen with :meth:`UserIndex.fetch_details`, the moderator's view.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from horde_users.moderation.database import open_database
from horde_users.moderation.details import DetailsReport, fetch_details
from horde_users.moderation.errors import DatabaseError
from horde_users.moderation.export import ExportFormat, write_users
from horde_users.moderation.filters import (
    FilterError,
    Filters,
    SortKey,
    fragment_of,
    order_by,
    parse_age,
    text_clause,
    trigram_matcher,
    trigram_query,
    where_clauses,
)
from horde_users.moderation.index_tables import (
    NAMES_FTS,
    create_index_tables,
    index_sync_runs,
    index_user_views,
    index_users,
    uses_fts,
)
from horde_users.moderation.pacing import DEFAULT_RATE_PER_MINUTE, Pacer
from horde_users.moderation.sync import (
    ProgressCallback,
    SourceMismatchError,
    SyncProgress,
    SyncReport,
    run_sync,
)

if TYPE_CHECKING:
    from horde_users.client import HordeUsers

__all__ = [
    "DetailsReport",
    "ExportFormat",
    "FilterError",
    "Filters",
    "IndexState",
    "IndexedUser",
    "SortKey",
    "SourceMismatchError",
    "SyncProgress",
    "SyncReport",
    "UserIndex",
    "parse_age",
]

_EXPORT_BATCH = 1000


@dataclass(frozen=True)
class IndexedUser:
    """One user as the index holds it. Times are UTC Unix seconds."""

    id: int
    username: str
    """The alias, ``name#id``."""
    kudos: float
    concurrency: int | None
    worker_count: int
    moderator: bool
    trusted: bool
    flagged: bool
    service: bool
    education: bool
    customizer: bool
    deleted: bool
    pseudonymous: bool
    account_age: int | None
    """Seconds, as listed at ``listed_at`` (see :attr:`age_now`)."""
    created_at: float | None
    """When the account was created (``listed_at - account_age``)."""
    listed_at: float
    gone: bool
    """The list no longer shows this user (wiped); kept for the record."""
    gone_since: float | None
    suspicious: int | None
    """From the moderator's view (None until fetched)."""
    public_json: str
    """The user as the list sent it (JSON text, by wire name)."""
    details_json: str | None
    """The moderator's view, when fetched with :meth:`UserIndex.fetch_details`."""
    details_at: float | None

    @property
    def public(self) -> dict[str, Any]:
        """The public view as a dict, as the API shaped it."""
        value: dict[str, Any] = json.loads(self.public_json)
        return value

    @property
    def details(self) -> dict[str, Any] | None:
        """The moderator's view as a dict, or None."""
        return None if self.details_json is None else dict(json.loads(self.details_json))

    def age_now(self, now: float | None = None) -> float | None:
        """The account's age in seconds at ``now`` (default: the current time)."""
        if self.created_at is None:
            return None
        return (time.time() if now is None else now) - self.created_at


_VIEW_FIELDS = ("public_json", "details_json", "details_at")
_ROW_FIELDS = tuple(name for name in IndexedUser.__dataclass_fields__ if name not in _VIEW_FIELDS)


@dataclass(frozen=True)
class IndexState:
    """How fresh the index is: the last completed sync and an unfinished one, if any."""

    source: str | None
    """The server the index was synced from."""
    synced_at: float | None
    """When the last completed sync finished (None: never)."""
    users: int
    """Users on the server, as far as the index knows (gone ones not counted)."""
    gone: int
    unfinished_run: int | None
    """The id of a sync that was interrupted (the next sync resumes it)."""
    unfinished_next_page: int | None


class UserIndex:
    """A local, searchable copy of the users list, on any SQLAlchemy engine (SQLite or PostgreSQL).

    Creating it creates the tables when missing. Every method raises :class:`DatabaseError` (one plain
    sentence) when the database fails, and :class:`FilterError` for unusable filter values.
    """

    fragment_cap: int = 5000
    """SQLite: a name fragment held by at most this many users (by the trigram table) is answered by
    looking those users up; a more common one first by a walk of the sort order (see ``fragment_walk``)."""
    fragment_walk: int = 2000
    """SQLite: how many users in sort order a search for a common fragment looks at before it falls back
    to looking up every user the trigram table gives (only searches that want fewer users than this)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_index_tables(engine)

    @classmethod
    def open(cls, url: str | None = None) -> UserIndex:
        """The index in the database at ``url`` (default: ``HORDE_USERS_DATABASE``, else the data dir)."""
        return cls(open_database(url))

    # -- syncing -----------------------------------------------------------------------------------

    def sync(
        self,
        client: HordeUsers,
        *,
        rate: float = DEFAULT_RATE_PER_MINUTE,
        progress: ProgressCallback | None = None,
        pacer: Pacer | None = None,
        verify_gone: bool = True,
    ) -> SyncReport:
        """Read every page of the list into the index, ``rate`` requests a minute at most; resumable.

        Build ``client`` with ``max_retries=0``: 429s and connection failures are handled here, with the
        pacer. ``progress`` is called after each commit of pages; an exception it raises (KeyboardInterrupt
        included) stops the sync with everything so far stored, and the next sync continues from there.
        """
        chosen = pacer or Pacer(rate_per_minute=rate)
        with _database_errors():
            report = run_sync(self.engine, client, pacer=chosen, progress=progress, verify_gone=verify_gone)
            self._analyze()
        return report

    def fetch_details(
        self,
        client: HordeUsers,
        ids: Iterable[int],
        *,
        rate: float = DEFAULT_RATE_PER_MINUTE,
        progress: Callable[[int, int], None] | None = None,
        pacer: Pacer | None = None,
    ) -> DetailsReport:
        """Store the moderator's view of the indexed users ``ids`` (``client`` needs a moderator's key)."""
        with _database_errors():
            return fetch_details(
                self.engine, client, ids, pacer=pacer or Pacer(rate_per_minute=rate), progress=progress
            )

    # -- reading -----------------------------------------------------------------------------------

    def find(
        self,
        filters: Filters | None = None,
        sort: SortKey | str = SortKey.kudos,
        limit: int | None = 50,
        offset: int = 0,
        *,
        reverse: bool = False,
    ) -> list[IndexedUser]:
        """The users matching ``filters`` in ``sort`` order; ``limit`` None means all of them."""
        return list(self.iter_users(filters, sort, limit, offset, reverse=reverse))

    def iter_users(
        self,
        filters: Filters | None = None,
        sort: SortKey | str = SortKey.kudos,
        limit: int | None = None,
        offset: int = 0,
        *,
        reverse: bool = False,
    ) -> Iterator[IndexedUser]:
        """Like :meth:`find`, streamed in batches (memory stays flat for any number of users)."""
        if limit is not None and limit < 0:
            raise FilterError("the limit must not be negative")
        if offset < 0:
            raise FilterError("the offset must not be negative")
        try:
            chosen = SortKey(sort)
        except ValueError:
            names = ", ".join(key.value for key in SortKey)
            raise FilterError(f"unknown sort {sort!r}: choose one of {names}") from None
        with _database_errors(), self.engine.connect() as conn:
            if filters is not None and limit is not None and self._walks_first(conn, filters, limit, offset):
                found = self._walk(conn, filters, chosen, reverse, offset + limit)
                if found is not None:  # the first matches in sort order: the answer
                    ids = found[offset:]
                    walked = self._query(conn, None, chosen, reverse, None, 0, ids=ids)
                    yield from (IndexedUser(*row) for row in conn.execute(walked))
                    return
            query = self._query(conn, filters, chosen, reverse, limit, offset)
            result = conn.execution_options(yield_per=_EXPORT_BATCH).execute(query)
            for row in result:
                yield IndexedUser(*row)

    def _query(
        self,
        conn: Connection,
        filters: Filters | None,
        sort: SortKey,
        reverse: bool,
        limit: int | None,
        offset: int,
        ids: list[int] | None = None,
    ) -> Any:
        """Choose the page of users on the small rows first, then join their JSON to just that page.

        ``ids``: the users already chosen (``filters`` then ignored).
        """
        views = index_user_views.c
        where = self._where(conn, filters) if ids is None else [index_users.c.id.in_(ids)]
        picked = (
            select(*(index_users.c[name] for name in _ROW_FIELDS), index_users.c.name_lower)
            .where(*where)
            .order_by(*order_by(sort, reverse))
            .offset(offset or None)
            .limit(limit)
            .subquery()
        )
        return (
            select(
                *(picked.c[name] for name in _ROW_FIELDS),
                views.public_json,
                views.details_json,
                views.details_at,
            )
            .join_from(picked, index_user_views, views.id == picked.c.id)
            .order_by(*order_by(sort, reverse, picked.c))
        )

    def _walk(
        self, conn: Connection, filters: Filters, sort: SortKey, reverse: bool, wanted: int
    ) -> list[int] | None:
        """The ids of the first ``wanted`` users matching ``filters`` in sort order, found by walking at
        most :attr:`fragment_walk` users that meet the other filters; None when those hold too few.

        The text is matched in SQL, row by row, and the walk stops at the ``wanted``-th match.
        """
        c = index_users.c
        hit = text_clause(filters.text or "", None).label("hit")
        steps = (
            select(c.id, hit)
            .where(*where_clauses(filters, text=False))
            .order_by(*order_by(sort, reverse))
            .limit(self.fragment_walk)
        )
        found: list[int] = []
        result = conn.execute(steps)
        try:
            for user_id, matched in result:
                if matched:
                    found.append(int(user_id))
                    if len(found) == wanted:
                        return found
        finally:
            result.close()
        return None

    def _where(self, conn: Connection, filters: Filters | None) -> list[Any]:
        return where_clauses(filters or Filters(), names=trigram_matcher if uses_fts(conn) else None)

    def _walks_first(self, conn: Connection, filters: Filters | None, limit: int | None, offset: int) -> bool:
        """Whether to try the bounded walk of the sort order before the trigram table (SQLite): for a
        limited search for a fragment too short for trigrams or too common to look its users up."""
        if filters is None or limit is None or limit <= 0 or limit + offset > self.fragment_walk:
            return False
        fragment = fragment_of(filters)
        if fragment is None or not uses_fts(conn):
            return False
        query = trigram_query(fragment)
        if query is None:
            return True
        candidates = conn.exec_driver_sql(
            f"SELECT count(*) FROM (SELECT rowid FROM {NAMES_FTS} WHERE {NAMES_FTS} MATCH ? LIMIT ?)",
            (query, self.fragment_cap + 1),
        ).scalar_one()
        return int(candidates) > self.fragment_cap

    def get(self, user_id: int) -> IndexedUser | None:
        """One indexed user by id (gone ones included), or None."""
        found = self.find(Filters(text=f"#{user_id}", gone=None), limit=1)
        return found[0] if found else None

    def count(self, filters: Filters | None = None) -> int:
        """How many users match ``filters``."""
        with _database_errors(), self.engine.connect() as conn:
            query = select(func.count()).select_from(index_users).where(*self._where(conn, filters))
            return int(conn.execute(query).scalar_one())

    def export(
        self,
        filters: Filters | None,
        fmt: ExportFormat | str,
        stream: TextIO,
        sort: SortKey | str = SortKey.id,
    ) -> int:
        """Write every user matching ``filters`` to ``stream`` as ``csv`` or ``jsonl``; returns the count."""
        try:
            chosen = ExportFormat(fmt)
        except ValueError:
            raise FilterError(f"unknown export format {fmt!r}: choose csv or jsonl") from None
        return write_users(self.iter_users(filters, sort), chosen, stream)

    def synced_at(self) -> float | None:
        """When the last completed sync finished (UTC Unix seconds), or None if it never completed."""
        return self.state().synced_at

    def state(self) -> IndexState:
        """The index's freshness and size, for "synced 4 min ago" lines and status pages."""
        runs = index_sync_runs.c
        with _database_errors(), self.engine.connect() as conn:
            done = conn.execute(
                select(runs.source, runs.finished_at)
                .where(runs.finished_at.is_not(None))
                .order_by(runs.id.desc())
                .limit(1)
            ).first()
            open_run = conn.execute(
                select(runs.id, runs.source, runs.next_page)
                .where(runs.finished_at.is_(None))
                .order_by(runs.id.desc())
                .limit(1)
            ).first()
            counts: dict[bool, int] = dict(
                conn.execute(select(index_users.c.gone, func.count()).group_by(index_users.c.gone)).all()
            )
        source = done.source if done is not None else (open_run.source if open_run is not None else None)
        return IndexState(
            source=source,
            synced_at=None if done is None else float(done.finished_at),
            users=int(counts.get(False, 0)),
            gone=int(counts.get(True, 0)),
            unfinished_run=None if open_run is None else int(open_run.id),
            unfinished_next_page=None if open_run is None else int(open_run.next_page),
        )

    def _analyze(self) -> None:
        """Refresh the planner's statistics, so searches pick the right index."""
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                conn.exec_driver_sql("ANALYZE index_users")
            elif self.engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE index_users"))


@contextmanager
def _database_errors() -> Iterator[None]:
    """Turn SQLAlchemy failures into :class:`DatabaseError` (one plain sentence)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseError(f"the index database failed: {type(exc).__name__}") from exc
