"""Bulk changes from a file: validated whole, planned, then sent row by row, paced and journaled.

A file is CSV (a ``user_id`` column, one column per PUT field, an optional ``reason`` column; an empty
cell leaves the field out) or JSON Lines (one object per line with the same members). Every row is
validated with :class:`~horde_users.models.ModifyUser` before anything is sent.

Each row is journaled under a key made of the file's SHA-256 digest and the row number, so running
the same file again sends only the rows not done yet: a row already ``done`` is skipped, a row whose
outcome is ``unknown`` (or ``pending``) is reported and never re-sent blindly, and a refused row is
sent again only when the views read around it show that none of its non-repeatable effects (a kudos
or monthly kudos delta, a new proxy passkey) happened.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import ValidationError

from horde_users.endpoints import MAX_USER_ID
from horde_users.errors import HordeAPIError
from horde_users.models.users import ModifyUser
from horde_users.moderation.changes import Actor, error_data, send_change
from horde_users.moderation.journal import Journal, JournalEntry
from horde_users.moderation.pacing import Pacer
from horde_users.moderation.roles import ROLE_REFUSALS, Role, roles_needed

if TYPE_CHECKING:
    from horde_users.client import HordeUsers

FIELDS = tuple(ModifyUser.model_fields)
"""The change columns a file may have, besides ``user_id`` and ``reason``."""

NOT_REPEATABLE = ("kudos", "monthly_kudos", "generate_proxy_passkey")
"""Fields whose effect doubles when sent twice (docs/users-api.md §11)."""

RowState = Literal["send", "done earlier", "unknown earlier", "unsafe to resend"]
RowOutcome = Literal["done", "refused", "unknown", "done earlier", "unknown earlier", "not sent"]


@dataclass(frozen=True)
class BulkRow:
    """One valid row: its 1-based number in the file, target, changes (wire names) and own reason."""

    number: int
    user_id: int
    changes: dict[str, Any]
    reason: str | None
    key: str


@dataclass(frozen=True)
class BulkFile:
    """A loaded file: its digest, the valid rows, and every error found (``row N: ...``)."""

    path: Path
    digest: str
    rows: list[BulkRow]
    errors: list[str]

    @property
    def ok(self) -> bool:
        """True when every row is valid (and there is at least one)."""
        return not self.errors


def load_bulk_file(path: str | Path) -> BulkFile:
    """Read and validate a CSV or JSON Lines file of changes; nothing is sent.

    The format comes from the suffix (``.csv``; ``.jsonl``, ``.ndjson`` or ``.json``), else from the
    first character (``{`` is JSON Lines). Unreadable files raise ``OSError``.
    """
    file = Path(path)
    raw = file.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return BulkFile(file, digest, [], ["the file is not UTF-8 text"])
    records, errors = _read_jsonl(text) if _is_jsonl(file, text) else _read_csv(text)
    rows: list[BulkRow] = []
    for number, record in records:
        row = _validate(number, record, digest, errors)
        if row is not None:
            rows.append(row)
    if not records and not errors:
        errors.append("the file has no rows")
    return BulkFile(file, digest, rows, sorted(errors, key=_row_number))


def _row_number(error: str) -> int:
    """Errors sort by row; file-level errors (no row) come first."""
    head = error.split(":", 1)[0]
    return int(head[4:]) if head.startswith("row ") and head[4:].isdigit() else 0


def _is_jsonl(file: Path, text: str) -> bool:
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    return suffix != ".csv" and text.lstrip().startswith("{")


def _read_jsonl(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    records, errors = [], []
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            errors.append(f"row {number}: not JSON ({error.msg})")
            continue
        if not isinstance(value, dict):
            errors.append(f"row {number}: expected a JSON object")
            continue
        records.append((number, value))
    return records, errors


def _read_csv(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if "user_id" not in header:
        return [], ["the CSV file needs a user_id column"]
    unknown = [name for name in header if name not in FIELDS and name not in ("user_id", "reason")]
    if unknown:
        return [], [f"unknown column {name!r}: not a change field" for name in unknown]
    reader.fieldnames = header
    records, errors = [], []
    for number, cells in enumerate(reader, start=1):
        if None in cells:
            errors.append(f"row {number}: more cells than columns")
            continue
        record: dict[str, Any] = {}
        problems = []
        for name, cell in cells.items():
            if cell is None or cell.strip() == "":
                continue
            try:
                record[name] = _from_cell(name, cell)
            except ValueError as error:
                problems.append(f"row {number}: {name}: {error}")
        errors += problems
        if record and not problems:
            records.append((number, record))
    return records, errors


_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


def _field_type(name: str) -> Any:
    annotation = ModifyUser.model_fields[name].annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation


def _from_cell(name: str, cell: str) -> Any:
    """A CSV cell as the JSON value its column takes (``true``/``false`` for booleans)."""
    if name in ("user_id", "reason"):
        return cell.strip() if name == "user_id" else cell
    kind = _field_type(name)
    text = cell.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not true or false")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    return cell


def _user_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        digits = value.strip().rpartition("#")[2].strip()
        if not (digits.isascii() and digits.isdigit()):
            return None
        number = int(digits)
    else:
        return None
    return number if 0 <= number <= MAX_USER_ID else None


def _validate(number: int, record: dict[str, Any], digest: str, errors: list[str]) -> BulkRow | None:
    problems = []
    user_id = _user_id(record.get("user_id"))
    if user_id is None:
        problems.append("user_id: expected a user id (a number, or an alias like alice#3)")
    reason = record.get("reason")
    if reason is not None and not isinstance(reason, str):
        problems.append("reason: expected text")
    fields = {name: value for name, value in record.items() if name not in ("user_id", "reason")}
    changes: dict[str, Any] = {}
    try:
        changes = ModifyUser.model_validate(fields).get_changes()
    except ValidationError as error:
        problems += [_describe(item) for item in error.errors(include_input=False, include_url=False)]
    else:
        if not changes:
            problems.append("nothing to change")
    errors += [f"row {number}: {problem}" for problem in problems]
    if problems or user_id is None:
        return None
    text = reason.strip() if isinstance(reason, str) and reason.strip() else None
    return BulkRow(number, user_id, changes, text, f"{digest}:{number}")


def _describe(item: Any) -> str:
    where = ".".join(str(part) for part in item.get("loc", ()))
    return f"{where}: {item.get('msg', 'invalid value')}" if where else str(item.get("msg"))


# -- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRow:
    """A row as it will be handled: its reason, the roles it needs, and whether it is sent."""

    row: BulkRow
    reason: str | None
    roles: set[Role]
    state: RowState
    previous: JournalEntry | None = None

    def describe(self) -> str:
        """``row 3: user 12 kudos=50 (admin)``, plus what an earlier run did."""
        body = ", ".join(f"{name}={json.dumps(value)}" for name, value in self.row.changes.items())
        roles = "+".join(role.value for role in (Role.ADMIN, Role.MODERATOR) if role in self.roles) or "owner"
        text = f"row {self.row.number}: user {self.row.user_id} {body} ({roles})"
        if self.state != "send" and self.previous is not None:
            text += f" [{self.state}: #{self.previous.id}]"
        return text


@dataclass(frozen=True)
class BulkPlan:
    """What :func:`apply_bulk` would do with a file; ``errors`` (rows lacking a reason) block it."""

    file: BulkFile
    actor: Actor
    rows: list[PlannedRow]
    errors: list[str] = field(default_factory=list)

    @property
    def to_send(self) -> list[PlannedRow]:
        """The rows that will be sent."""
        return [row for row in self.rows if row.state == "send"]


def plan_bulk(client: HordeUsers, journal: Journal, file: BulkFile, *, reason: str | None = None) -> BulkPlan:
    """Plan a valid file: the actor, each row's reason and roles, and what earlier runs already did.

    ``reason`` is used for rows without their own; a row for another account than the actor's needs
    one. Raises ``ValueError`` when the file has errors (see :attr:`BulkFile.errors`).
    """
    if not file.ok:
        raise ValueError("the file has errors: " + "; ".join(file.errors))
    actor = Actor.of(client)
    earlier = journal.by_bulk_keys(row.key for row in file.rows)
    planned, errors = [], []
    default_reason = (reason or "").strip() or None
    for row in file.rows:
        own = row.user_id == actor.id
        row_reason = row.reason or default_reason
        if row_reason is None and not own:
            errors.append(
                f"row {row.number}: a reason is required for another account (reason column or --reason)"
            )
        state, previous = _state(earlier.get(row.key, []))
        planned.append(
            PlannedRow(row, row_reason, roles_needed(row.changes, own_account=own), state, previous)
        )
    return BulkPlan(file, actor, planned, errors)


def _state(entries: list[JournalEntry]) -> tuple[RowState, JournalEntry | None]:
    """What earlier runs left for a row (its entries, oldest first)."""
    if not entries:
        return "send", None
    for entry in entries:
        if entry.outcome == "done":
            return "done earlier", entry
    for entry in entries:
        if entry.outcome in ("unknown", "pending"):
            return "unknown earlier", entry
    last = entries[-1]
    return ("unsafe to resend" if _may_have_applied(last) else "send"), last


def _may_have_applied(entry: JournalEntry) -> bool:
    """Whether a refused entry may have applied a non-repeatable field before the refusal (§6.5)."""
    sent = [name for name in NOT_REPEATABLE if name in entry.changes]
    if not sent:
        return False
    if "generate_proxy_passkey" in sent or entry.before is None or entry.after is None:
        return True
    markers = {"kudos": ("kudos_details", "admin"), "monthly_kudos": ("monthly_kudos", "amount")}
    for name in sent:
        group, member = markers[name]
        old, new = (entry.before.get(group) or {}).get(member), (entry.after.get(group) or {}).get(member)
        if old is None or new is None or old != new:
            return True
    return False


# -- sending ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    """How one row ended in this run; ``entry`` is its journal entry when one was written."""

    row: PlannedRow
    outcome: RowOutcome
    entry: JournalEntry | None = None
    message: str = ""
    error: dict[str, Any] | None = None
    """The server's refusal (status, rc, message), when there was one."""


@dataclass
class BulkReport:
    """Every row's result and, when the run stopped early, why."""

    results: list[RowResult] = field(default_factory=list)
    stopped: str | None = None

    def counts(self) -> dict[str, int]:
        """How many rows ended each way (only the outcomes that occurred)."""
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        """True when every row is done, in this run or an earlier one."""
        return all(result.outcome in ("done", "done earlier") for result in self.results)

    def summary(self) -> str:
        """``3 done, 1 refused, 1 unknown`` (the run's counts, in a fixed order)."""
        order = ("done", "done earlier", "refused", "unknown", "unknown earlier", "not sent")
        counts = self.counts()
        return ", ".join(f"{counts[name]} {name}" for name in order if name in counts) or "no rows"


def apply_bulk(
    client: HordeUsers,
    journal: Journal,
    plan: BulkPlan,
    *,
    pacer: Pacer | None = None,
    progress: Callable[[RowResult], None] | None = None,
) -> BulkReport:
    """Send the plan's rows, one journaled change each, spaced by ``pacer``; call ``progress`` per row.

    A 401 stops the run; a 403 that says the key lacks a role (``NotAdmin``, ``NotModerator``) stops
    sending the rows that need that role, and stops the run when no row left can go. Rows left unsent
    are ``not sent`` and go out on a later run. Raises ``ValueError`` when the plan has errors or was
    made with another account's key.
    """
    if plan.errors:
        raise ValueError("the plan has errors: " + "; ".join(plan.errors))
    actor = Actor.of(client)
    if actor.id != plan.actor.id:
        raise ValueError(f"the plan was made as {plan.actor.name}, but this client's key is {actor.name}'s")
    pacer = pacer or Pacer()
    report = BulkReport()
    lacking: set[Role] = set()
    remaining = [row for row in plan.rows if row.state == "send"]
    for planned in plan.rows:
        result = _skip(planned, report.stopped, lacking)
        if result is None:
            pacer.wait()
            result = _send(client, journal, plan.actor, planned)
            remaining.remove(planned)
            report.stopped = report.stopped or _stop_reason(result, lacking, remaining, pacer)
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report


def _skip(planned: PlannedRow, stopped: str | None, lacking: set[Role]) -> RowResult | None:
    if planned.state == "done earlier":
        return RowResult(planned, "done earlier", planned.previous)
    if planned.state == "unknown earlier":
        message = f"outcome of #{_id(planned)} unknown: check user {planned.row.user_id}; not re-sent"
        return RowResult(planned, "unknown earlier", planned.previous, message)
    if planned.state == "unsafe to resend":
        message = f"#{_id(planned)} was refused after a change that cannot be repeated may have applied"
        return RowResult(planned, "not sent", planned.previous, message + "; not re-sent")
    if stopped is not None:
        return RowResult(planned, "not sent", message=stopped)
    missing = planned.roles & lacking
    if missing:
        return RowResult(planned, "not sent", message=f"the key lacks the {min(missing).value} role")
    return None


def _id(planned: PlannedRow) -> str:
    return str(planned.previous.id) if planned.previous is not None else "?"


def _send(client: HordeUsers, journal: Journal, actor: Actor, planned: PlannedRow) -> RowResult:
    row = planned.row
    try:
        sent = send_change(
            client,
            journal,
            row.user_id,
            "modify",
            row.changes,
            reason=planned.reason,
            actor=actor,
            bulk_key=row.key,
        )
    except HordeAPIError as error:  # refused before sending: the target could not be read
        return RowResult(planned, "refused", message=str(error), error=error_data(error))
    entry = sent.entry
    outcome = cast(RowOutcome, entry.outcome)
    return RowResult(planned, outcome, entry, str(sent.error) if sent.error is not None else "", entry.error)


def _stop_reason(
    result: RowResult, lacking: set[Role], remaining: list[PlannedRow], pacer: Pacer
) -> str | None:
    error = result.error or {}
    status, rc = error.get("status"), error.get("rc")
    if status == 429:
        pacer.back_off(60.0)
    if status == 401:
        return "the server refused the key (401): stopped"
    if status == 403 and rc in ROLE_REFUSALS:
        lacking.add(ROLE_REFUSALS[rc])
        if all(row.roles & lacking for row in remaining):
            return f"the key lacks the {ROLE_REFUSALS[rc].value} role every row left needs ({rc}): stopped"
    return None
