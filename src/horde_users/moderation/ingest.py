"""Writing listed users into the index: one bulk upsert per page, names mirrored into the trigram table.

A user's row is replaced by what the list shows now; the privileged view fetched earlier
(``details_json``) is kept. A user seen again after being marked gone is no longer gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from horde_users.models import UserDetailsResponse
from horde_users.moderation.index_tables import NAMES_FTS, ROLE_COLUMNS, index_users, uses_fts

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
    "public_json",
    "listed_at",
    "seen_in_run",
    "gone",
    "gone_since",
)


def split_alias(username: str) -> str:
    """``"alice#3"`` -> ``"alice"``; a name without a numeric ``#id`` suffix is returned as it is."""
    name, sep, suffix = username.rpartition("#")
    return name if sep and suffix.isdigit() else username


def user_row(user: UserDetailsResponse, run_id: int, now: float) -> dict[str, Any]:
    """The ``index_users`` values of one listed user (its public JSON kept by wire name)."""
    username = user.username or ""
    name = split_alias(username)
    age = user.account_age
    row: dict[str, Any] = {
        "id": user.id_,
        "username": username,
        "name": name,
        "name_lower": name.lower(),
        "kudos": float(user.kudos or 0.0),
        "concurrency": user.concurrency,
        "worker_count": int(user.worker_count or 0),
        "account_age": age,
        "created_at": None if age is None else now - age,
        "public_json": user.model_dump_json(by_alias=True, exclude_unset=True),
        "listed_at": now,
        "seen_in_run": run_id,
        "gone": False,
        "gone_since": None,
    }
    for role in ROLE_COLUMNS:
        row[role] = bool(getattr(user, role))
    return row


def upsert_users(conn: Connection, users: Iterable[UserDetailsResponse], run_id: int, now: float) -> int:
    """Insert or update ``users`` (one page, or any batch) in ``conn``'s transaction; returns the count."""
    rows = [user_row(user, run_id, now) for user in users if user.id_ is not None]
    if not rows:
        return 0
    if uses_fts(conn):
        _mirror_names(conn, rows)
    conn.execute(_upsert_statement(conn), rows)
    return len(rows)


def _upsert_statement(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(index_users)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(index_users)
    return statement.on_conflict_do_update(
        index_elements=[index_users.c.id], set_={name: statement.excluded[name] for name in _UPDATED}
    )


def _mirror_names(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Keep the trigram table in step: only new users and renamed ones are written."""
    ids = [row["id"] for row in rows]
    known = dict(
        conn.execute(
            select(index_users.c.id, index_users.c.name_lower).where(index_users.c.id.in_(ids))
        ).all()
    )
    changed = [row for row in rows if known.get(row["id"]) != row["name_lower"]]
    if not changed:
        return
    renamed = [(row["id"],) for row in changed if row["id"] in known]
    if renamed:
        conn.exec_driver_sql(f"DELETE FROM {NAMES_FTS} WHERE rowid = ?", renamed)
    conn.exec_driver_sql(
        f"INSERT INTO {NAMES_FTS}(rowid, name_lower) VALUES (?, ?)",
        [(row["id"], row["name_lower"]) for row in changed],
    )


def mark_gone(conn: Connection, run_id: int, now: float) -> int:
    """Users not seen in ``run_id`` (a completed run) left the list: mark them gone since ``now``."""
    result = conn.execute(
        update(index_users)
        .where(index_users.c.seen_in_run < run_id, index_users.c.gone.is_(False))
        .values(gone=True, gone_since=now)
    )
    return int(result.rowcount or 0)
