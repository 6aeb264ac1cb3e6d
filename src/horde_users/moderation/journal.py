"""The journal: an append-only record of every change sent through horde-users.

An entry is written (outcome ``pending``) before a change is sent and completed once, after it:
``done``, ``refused`` (the server's status, ``rc`` and message), or ``unknown`` (no answer came, so
the change may or may not have been applied). A crash between the two leaves ``pending``, never a
silent change. Completing is the only update ever made, and only to a pending entry.

Entries hold the privileged views read before and after the change, without credentials (proxy
passkeys and shared key ids are never stored).
"""

from __future__ import annotations

import builtins
import csv
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import IO, Any, Literal

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from horde_users.moderation.database import ensure_tables, metadata, open_database
from horde_users.moderation.errors import DatabaseError, ModerationError

Outcome = Literal["pending", "done", "refused", "unknown"]
Action = Literal["modify", "delete", "undelete"]
ExportFormat = Literal["csv", "jsonl"]

OUTCOMES: tuple[Outcome, ...] = ("pending", "done", "refused", "unknown")

journal_table = Table(
    "journal_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime, nullable=False),
    Column("completed_at", DateTime),
    Column("action", String(16), nullable=False),
    Column("actor_id", Integer, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("user_name", String(200)),
    Column("reason", Text),
    Column("changes", JSON, nullable=False),
    Column("before", JSON),
    Column("reply", JSON),
    Column("after", JSON),
    Column("outcome", String(16), nullable=False),
    Column("error", JSON),
    Column("undoes", Integer, ForeignKey("journal_entries.id")),
    Column("bulk_key", String(100)),
    Index("ix_journal_user", "user_id", "id"),
    Index("ix_journal_actor", "actor_id", "id"),
    Index("ix_journal_bulk_key", "bulk_key"),
    Index("ix_journal_undoes", "undoes"),
)
"""One row per change; ``id`` orders entries as they were written."""


class EntryNotFound(ModerationError):
    """No journal entry has this id."""


@dataclass(frozen=True)
class JournalEntry:
    """One journaled change. ``before``/``after`` are the views read around it (wire names)."""

    id: int
    time: datetime
    action: Action
    actor_id: int
    actor: str
    user_id: int
    user_name: str | None
    reason: str | None
    changes: dict[str, Any]
    outcome: Outcome
    before: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    undoes: int | None = None
    bulk_key: str | None = None
    completed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON-ready data (times in ISO 8601, UTC)."""
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["completed_at"] = self.completed_at.isoformat() if self.completed_at else None
        return data

    def summary(self) -> str:
        """One line: what was changed, on whom, by whom, and how it ended."""
        what = self.action if self.action != "modify" else _describe_changes(self.changes)
        target = self.user_name or f"user {self.user_id}"
        text = f"#{self.id} {self.outcome}: {what} on {target} by {self.actor}"
        if self.undoes is not None:
            text += f" (undoes #{self.undoes})"
        return text


def _describe_changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{name}={json.dumps(value)}" for name, value in changes.items()) or "nothing"


def _utc_naive(moment: datetime) -> datetime:
    """Times are stored as naive UTC, the one form SQLite and PostgreSQL compare alike."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Journal:
    """The journal in a database (see :func:`horde_users.moderation.open_database`).

    ``Journal(engine)`` creates its table when missing. :meth:`open` resolves the database the same
    way the command line does (an explicit URL or path, ``HORDE_USERS_DATABASE``, else the default
    file). Every method raises :class:`DatabaseError` when the database cannot be read or written.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_tables(engine, journal_table)

    @classmethod
    def open(cls, url: str | None = None) -> Journal:
        """The journal in the configured database, checked to be writable (close it when done)."""
        engine = open_database(url)
        try:
            return cls(engine)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------

    def begin(
        self,
        *,
        action: Action,
        actor_id: int,
        actor: str,
        user_id: int,
        user_name: str | None,
        reason: str | None,
        changes: dict[str, Any],
        before: dict[str, Any] | None,
        undoes: int | None = None,
        bulk_key: str | None = None,
    ) -> JournalEntry:
        """Record a change about to be sent (outcome ``pending``); send it only after this returns."""
        values = {
            "time": _now(),
            "action": action,
            "actor_id": actor_id,
            "actor": actor,
            "user_id": user_id,
            "user_name": user_name,
            "reason": reason,
            "changes": changes,
            "before": before,
            "outcome": "pending",
            "undoes": undoes,
            "bulk_key": bulk_key,
        }
        with _transaction(self.engine, "write to") as conn:
            result = conn.execute(insert(journal_table), values)
            entry_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return self.get(entry_id)

    def complete(
        self,
        entry_id: int,
        outcome: Outcome,
        *,
        reply: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> JournalEntry:
        """Record how a pending change ended. A completed entry is never changed again."""
        if outcome == "pending":
            raise ValueError("an entry is completed with done, refused or unknown")
        statement = (
            update(journal_table)
            .where(journal_table.c.id == entry_id, journal_table.c.outcome == "pending")
            .values(outcome=outcome, reply=reply, after=after, error=error, completed_at=_now())
        )
        with _transaction(self.engine, "write to") as conn:
            changed = conn.execute(statement).rowcount
        entry = self.get(entry_id)
        if not changed:
            raise ModerationError(f"journal entry #{entry_id} is already completed ({entry.outcome})")
        return entry

    # -- reading ----------------------------------------------------------------------------------

    def get(self, entry_id: int) -> JournalEntry:
        """The entry with this id; :class:`EntryNotFound` when there is none."""
        rows = self._read(select(journal_table).where(journal_table.c.id == entry_id))
        if not rows:
            raise EntryNotFound(f"no journal entry #{entry_id}")
        return rows[0]

    def list(
        self,
        *,
        user: int | str | None = None,
        actor: int | str | None = None,
        since: datetime | None = None,
        outcome: Outcome | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[JournalEntry]:
        """Entries, newest first. ``user`` and ``actor`` match an id, an alias (``alice#3``) or a name."""
        statement = select(journal_table).order_by(journal_table.c.id.desc()).offset(offset)
        statement = statement.where(*_filters(user, actor, since, outcome))
        if limit is not None:
            statement = statement.limit(limit)
        return self._read(statement)

    def count(
        self,
        *,
        user: int | str | None = None,
        actor: int | str | None = None,
        since: datetime | None = None,
        outcome: Outcome | None = None,
    ) -> int:
        """How many entries :meth:`list` would give with these filters and no limit (for paging)."""
        statement = (
            select(func.count()).select_from(journal_table).where(*_filters(user, actor, since, outcome))
        )
        with _transaction(self.engine, "read") as conn:
            return int(conn.execute(statement).scalar_one())

    def by_bulk_keys(self, keys: Iterable[str]) -> dict[str, builtins.list[JournalEntry]]:
        """The entries of bulk rows by their key (file digest and row number), oldest first."""
        wanted = list(keys)
        found: dict[str, builtins.list[JournalEntry]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            statement = (
                select(journal_table).where(journal_table.c.bulk_key.in_(chunk)).order_by(journal_table.c.id)
            )
            for entry in self._read(statement):
                found.setdefault(entry.bulk_key or "", []).append(entry)
        return found

    def undone_by(self, entry_id: int) -> builtins.list[JournalEntry]:
        """The entries that undo ``entry_id``, oldest first."""
        statement = (
            select(journal_table).where(journal_table.c.undoes == entry_id).order_by(journal_table.c.id)
        )
        return self._read(statement)

    def export(self, out: IO[str], format: ExportFormat = "jsonl", **filters: Any) -> int:
        """Write the entries matching :meth:`list`'s ``filters`` to ``out``, oldest first; return the count.

        ``jsonl`` writes one entry per line as in :meth:`JournalEntry.to_json`; ``csv`` writes one row
        per entry, the nested values (changes, views, reply, error) as JSON text.
        """
        entries = list(reversed(self.list(**filters)))
        if format == "jsonl":
            for entry in entries:
                out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
        elif format == "csv":
            writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for entry in entries:
                writer.writerow({name: _csv_cell(value) for name, value in entry.to_json().items()})
        else:
            raise ValueError(f"unknown export format {format!r}: csv or jsonl")
        return len(entries)

    # -- plumbing ---------------------------------------------------------------------------------

    def _read(self, statement: Any) -> builtins.list[JournalEntry]:
        with _transaction(self.engine, "read") as conn:
            return [_entry(row._mapping) for row in conn.execute(statement)]


EXPORT_COLUMNS = [field_.name for field_ in JournalEntry.__dataclass_fields__.values()]


def _csv_cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def _filters(
    user: int | str | None, actor: int | str | None, since: datetime | None, outcome: Outcome | None
) -> list[Any]:
    conditions = []
    if user is not None:
        conditions.append(_matches(journal_table.c.user_id, journal_table.c.user_name, user))
    if actor is not None:
        conditions.append(_matches(journal_table.c.actor_id, journal_table.c.actor, actor))
    if since is not None:
        conditions.append(journal_table.c.time >= _utc_naive(since))
    if outcome is not None:
        conditions.append(journal_table.c.outcome == outcome)
    return conditions


def _matches(id_column: Any, name_column: Any, wanted: int | str) -> Any:
    text = str(wanted).strip()
    if text.isdigit():
        return id_column == int(text)
    if "#" in text:
        name, _, number = text.rpartition("#")
        if number.isdigit():
            return id_column == int(number)
        text = name
    return or_(name_column == text, name_column.like(text.replace("%", r"\%") + "#%", escape="\\"))


def _entry(row: Any) -> JournalEntry:
    return JournalEntry(
        id=row["id"],
        time=_aware(row["time"]) or datetime.now(timezone.utc),
        action=row["action"],
        actor_id=row["actor_id"],
        actor=row["actor"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        reason=row["reason"],
        changes=row["changes"] or {},
        outcome=row["outcome"],
        before=row["before"],
        reply=row["reply"],
        after=row["after"],
        error=row["error"],
        undoes=row["undoes"],
        bulk_key=row["bulk_key"],
        completed_at=_aware(row["completed_at"]),
    )


@contextmanager
def _transaction(engine: Engine, verb: str) -> Iterator[Connection]:
    """A connection in a transaction; a database failure becomes a one-sentence DatabaseError."""
    try:
        with engine.begin() as conn:
            yield conn
    except SQLAlchemyError as error:
        raise DatabaseError(f"cannot {verb} the journal: {error.__class__.__name__}") from error
