"""The index's tables: one row per listed user, and one row per sync run (the resumable checkpoint).

Times are UTC Unix seconds (floats), so age filters are plain number comparisons on every database.
The JSON views live in ``index_user_views`` (the list's public view, and the moderator's view when
fetched), so the rows that searches scan and sort stay small.
On SQLite a trigram FTS5 table (:data:`NAMES_FTS`) mirrors ``name_lower`` for fast fragment search; on
PostgreSQL a ``pg_trgm`` GIN index (:data:`NAMES_TRIGRAM_INDEX`) does, when the extension can be created.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    Table,
    Text,
    text,
    true,
)
from sqlalchemy.exc import SQLAlchemyError

from horde_users.moderation.database import _CREATE_LOCK, ensure_tables, metadata

ROLE_COLUMNS = (
    "moderator",
    "trusted",
    "flagged",
    "service",
    "education",
    "customizer",
    "deleted",
    "pseudonymous",
)
"""The public boolean fields of a listed user, each stored in a column of its own."""

NAMES_FTS = "index_user_names"
"""SQLite only: the FTS5 trigram table over ``index_users.name_lower`` (rowid = user id)."""

_USER_ID = BigInteger().with_variant(Integer, "sqlite")
"""A user id; on SQLite an ``INTEGER PRIMARY KEY``, the table's rowid itself (no separate key index:
one B-tree fewer to write, one lookup fewer to read, and the same number as the trigram table's rowid)."""

index_users = Table(
    "index_users",
    metadata,
    Column("id", _USER_ID, primary_key=True, autoincrement=False),
    Column("username", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("name_lower", Text, nullable=False),
    Column("kudos", Float, nullable=False),
    Column("concurrency", Integer),
    Column("worker_count", Integer, nullable=False),
    *(Column(name, Boolean, nullable=False) for name in ROLE_COLUMNS),
    Column("account_age", BigInteger),
    Column("created_at", Float),
    Column("listed_at", Float, nullable=False),
    Column("seen_in_run", Integer, nullable=False),
    Column("gone", Boolean, nullable=False, default=False),
    Column("gone_since", Float),
    Column("suspicious", Integer),
    Index("ix_index_users_kudos", "kudos"),
    Index("ix_index_users_created_at", "created_at"),
    Index("ix_index_users_name_lower", "name_lower"),
)
"""One row per user the list has shown (users that left it stay, marked ``gone``)."""

RARE_ROLES = ("moderator", "flagged", "service", "education", "customizer", "deleted", "gone")
"""Roles few users hold: each has partial indexes (by kudos, by creation) over just those users. Common ones
(``trusted``, ``pseudonymous``) need none: walking the sort column's index finds them quickly."""

for _role in RARE_ROLES:
    _holds = index_users.c[_role] == true()
    for _column in ("kudos", "created_at"):
        Index(
            f"ix_index_users_{_role}_{_column}",
            index_users.c[_column],
            sqlite_where=_holds,
            postgresql_where=_holds,
        )
_has_workers = index_users.c.worker_count > 0
Index(
    "ix_index_users_workers_kudos",
    index_users.c.kudos,
    sqlite_where=_has_workers,
    postgresql_where=_has_workers,
)

index_user_views = Table(
    "index_user_views",
    metadata,
    Column("id", _USER_ID, primary_key=True, autoincrement=False),
    Column("public_json", Text, nullable=False),
    Column("details_json", Text),
    Column("details_at", Float),
)
"""Each indexed user's JSON: as the list showed it, and the moderator's view when fetched."""

index_sync_runs = Table(
    "index_sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("next_page", Integer, nullable=False),
    Column("pages_done", Integer, nullable=False, default=0),
    Column("users_seen", Integer, nullable=False, default=0),
    Column("gone_marked", Integer),
    Column("reached_page_limit", Boolean, nullable=False, default=False),
)
"""Sync runs; the unfinished one (``finished_at`` NULL) is the checkpoint a new sync resumes from."""


def create_index_tables(engine: Engine) -> None:
    """Create the index's tables (and, on SQLite, the trigram name table) when missing."""
    ensure_tables(engine, index_users, index_user_views, index_sync_runs)
    if engine.dialect.name == "postgresql":
        postgres_trigram_index(engine)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {NAMES_FTS} "
                    "USING fts5(name_lower, tokenize='trigram case_sensitive 1', detail='none')"
                )
            )


NAMES_TRIGRAM_INDEX = "ix_index_users_name_trgm"
"""PostgreSQL only: the GIN trigram index (``pg_trgm``) over ``index_users.name_lower``."""

_EXTENSION_SCHEMA = text(
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'pg_trgm'"
)


def postgres_trigram_index(engine: Engine) -> bool:
    """On PostgreSQL, index ``name_lower`` by trigrams so ``LIKE '%fragment%'`` need not read every row.

    Needs the ``pg_trgm`` extension: it is created when missing (PostgreSQL 13 and later let any user
    with ``CREATE`` on the database do so). When it cannot be created, or its schema is not usable,
    nothing changes and fragments are matched by scanning the table; returns whether the index exists.
    """
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT to_regclass(:name)"), {"name": NAMES_TRIGRAM_INDEX}).scalar():
                return True
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
            schema = conn.execute(_EXTENSION_SCHEMA).scalar()
            if schema is None:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                schema = conn.execute(_EXTENSION_SCHEMA).scalar_one()
            quoted = conn.dialect.identifier_preparer.quote_identifier(str(schema))
            conn.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {NAMES_TRIGRAM_INDEX} "
                    f"ON index_users USING gin (name_lower {quoted}.gin_trgm_ops)"
                )
            )
    except SQLAlchemyError:
        return False
    return True


def uses_fts(conn: Connection | Engine) -> bool:
    """Whether fragment search can use the trigram table (SQLite)."""
    return conn.dialect.name == "sqlite"
