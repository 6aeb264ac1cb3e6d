"""State a test controls: snapshots of every table kept in memory, restored in one transaction.

A snapshot is a copy of all rows (the salt and the anonymous user included), so restoring it brings the
database back exactly, ids and key hashes alike. Restoring deletes every row and inserts the copy: fast
enough between tests for the few hundred rows a test seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, text

from horde_users.sandbox.schema import meta_table, metadata
from horde_users.sandbox.store import SandboxStore

__all__ = ["Snapshot", "clear", "restore", "sync_sequences", "take_snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """Every table's rows at one moment (opaque: pass it to ``restore``)."""

    tables: tuple[tuple[str, tuple[dict[str, Any], ...]], ...]

    @property
    def row_count(self) -> int:
        return sum(len(rows) for _, rows in self.tables)

    def __repr__(self) -> str:
        return f"Snapshot({self.row_count} rows)"


def take_snapshot(store: SandboxStore) -> Snapshot:
    """Copy every table's rows."""
    with store.transaction() as conn:
        tables = tuple(
            (table.name, tuple(dict(row._mapping) for row in conn.execute(select(table))))
            for table in metadata.sorted_tables
        )
    return Snapshot(tables)


def restore(store: SandboxStore, snapshot: Snapshot) -> None:
    """Make the database hold exactly ``snapshot``'s rows (one write transaction)."""
    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"restore() takes a Snapshot from snapshot(), not {type(snapshot).__name__}")
    rows_of = dict(snapshot.tables)
    with store.transaction(write=True) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
        for table in metadata.sorted_tables:
            rows = rows_of.get(table.name, ())
            if rows:
                conn.execute(insert(table), list(rows))
        if conn.dialect.name == "postgresql":
            sync_sequences(conn, getattr(store, "_schema", None))


def clear(store: SandboxStore) -> None:
    """Empty the database as a new one is: only the salt and the anonymous user stay."""
    with store.transaction(write=True) as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name != meta_table.name:
                conn.execute(delete(table))
        if conn.dialect.name == "postgresql":
            sync_sequences(conn, getattr(store, "_schema", None))
    store.ensure_defaults()


def sync_sequences(conn: Any, schema: str | None) -> None:
    """PostgreSQL: move each serial id's sequence past the restored ids (SQLite needs nothing)."""
    for table in metadata.sorted_tables:
        column = table.c.get("id")
        if column is None or not column.autoincrement or not column.primary_key:
            continue
        highest = conn.execute(select(func.max(column))).scalar()
        name = f"{schema}.{table.name}" if schema else table.name
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name}).scalar()
        if sequence is None:
            continue
        if highest is None:
            conn.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
        else:
            conn.execute(text("SELECT setval(:s, :v, true)"), {"s": sequence, "v": highest})


def list_users(store: SandboxStore, *, show_secrets: bool = False) -> list[dict[str, Any]]:
    """Every user but the anonymous one and wiped ones, by id. ``show_secrets`` adds ``api_key``: the
    plain key when this process handed it out and it is still the user's, else None."""
    from horde_users.sandbox.schema import users

    with store.transaction() as conn:
        rows = conn.execute(
            select(
                users.c.id,
                users.c.username,
                users.c.kudos,
                users.c.moderator,
                users.c.trusted,
                users.c.deleted,
                users.c.api_key_hash,
            )
            .where(users.c.wiped.is_(False), users.c.id != 0)
            .order_by(users.c.id)
        ).all()
    listed = []
    for row in rows:
        entry: dict[str, Any] = {
            "id": row.id,
            "alias": f"{row.username}#{row.id}",
            "kudos": row.kudos,
            "moderator": bool(row.moderator),
            "trusted": bool(row.trusted),
            "deleted": bool(row.deleted),
        }
        if show_secrets:
            plain = store.known_keys.get(row.id)
            entry["api_key"] = (
                plain if plain is not None and store.hash_key(plain) == row.api_key_hash else None
            )
        listed.append(entry)
    return listed
