"""The console's calls into the moderation library, in one place (the pages stay free of its details).

Nothing here decides anything about moderation: it turns form strings into the library's arguments,
runs long calls as background jobs, and shapes results for the templates.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from horde_users.console.context import Console, describe_error
from horde_users.console.jobs import Job
from horde_users.console.streaming import stream_export

if TYPE_CHECKING:
    from horde_users.errors import HordeError
    from horde_users.moderation.bulk import BulkPlan, BulkReport
    from horde_users.moderation.filters import Filters
    from horde_users.moderation.index import IndexedUser, IndexState, UserIndex
    from horde_users.moderation.journal import Action, JournalEntry
    from horde_users.moderation.undo import UndoPlan

STATE_TTL = 30.0
"""Seconds after which the index summary (size, last sync) is renewed, in the background: it counts every
row (most of a second at a million users), and no page should wait for that."""

ROLE_PARAMS = (
    "trusted",
    "flagged",
    "moderator",
    "service",
    "education",
    "customizer",
    "pseudonymous",
    "deleted",
    "has_workers",
)
SEARCH_PARAMS = ("q", *ROLE_PARAMS, "gone", "min_kudos", "max_kudos", "older_than", "newer_than")
"""The search form's fields (the filters of ``user find``)."""


class InputError(ValueError):
    """A form value the console cannot use; the message says which and why."""


# -- the index ------------------------------------------------------------------------------------


def build_filters(values: Mapping[str, str]) -> Filters:
    """The library's :class:`Filters` from the search form (empty fields mean "either way")."""
    from horde_users.moderation.filters import FilterError, Filters, parse_age

    def choice(name: str) -> bool | None:
        value = values.get(name, "")
        return True if value == "yes" else False if value == "no" else None

    def number(name: str, label: str) -> float | None:
        raw = values.get(name, "").strip()
        if not raw:
            return None
        try:
            return float(raw)
        except ValueError:
            raise InputError(f"{label}: a number, please") from None

    def age(name: str, label: str) -> float | None:
        raw = values.get(name, "").strip()
        if not raw:
            return None
        try:
            return parse_age(raw)
        except FilterError:
            raise InputError(f"{label}: an age such as 30d, 12h, 2w or 1y") from None

    gone = {"only": True, "include": None}.get(values.get("gone", ""), False)
    try:
        return Filters(
            text=values.get("q", "").strip() or None,
            **{name: choice(name) for name in ROLE_PARAMS},
            gone=gone,
            min_kudos=number("min_kudos", "Min kudos"),
            max_kudos=number("max_kudos", "Max kudos"),
            older_than=age("older_than", "Older than"),
            newer_than=age("newer_than", "Newer than"),
        )
    except FilterError as exc:
        raise InputError(str(exc)) from None


def search(
    console: Console, filters: Filters, sort: str, reverse: bool, page: int, per_page: int
) -> list[IndexedUser]:
    """One page of results, plus one more row when there is a next page."""
    return console.index.find(
        filters, sort, limit=per_page + 1, offset=(page - 1) * per_page, reverse=reverse
    )


def index_state(console: Console) -> IndexState | None:
    """The index's size and last sync as last counted; None while the first count runs.

    A summary older than :data:`STATE_TTL` is still returned, and a background count renews it.
    """
    cached = console.index_state_cache
    if cached is None or time.monotonic() - cached[0] >= STATE_TTL:
        refresh_state(console)
    return None if cached is None else cached[1]


def refresh_state(console: Console, *, wait: bool = False) -> None:
    """Count the index again in a background thread (one at a time); ``wait`` for it to finish."""
    with console.state_lock:
        running = console.state_thread
        if running is None or not running.is_alive():

            def count() -> None:
                with contextlib.suppress(Exception):  # the page shows the last summary; the next page retries
                    console.index_state_cache = (time.monotonic(), console.index.state())

            running = threading.Thread(target=count, name="console-index-state", daemon=True)
            console.state_thread = running
            running.start()
    if wait:
        running.join()


def forget_state(console: Console) -> None:
    """Drop the index summary (tests and benchmarks use it to time a fresh count)."""
    console.index_state_cache = None


def ago(timestamp: float, now: float | None = None) -> str:
    """``"4 minutes ago"`` for a Unix time."""
    seconds = max(0, int((time.time() if now is None else now) - timestamp))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now" if seconds < 10 else f"{seconds} seconds ago"


def export_users(index: UserIndex, filters: Filters, fmt: str, sort: str) -> Iterator[bytes]:
    """The search's users as CSV or JSON lines, streamed."""
    return stream_export(lambda stream: index.export(filters, fmt, stream, sort=sort))


def start_sync(console: Console) -> Job:
    """Sync the index from the console's server in a background job (one at a time)."""

    def work(job: Job) -> Any:
        from horde_users.client import HordeUsers
        from horde_users.moderation.sync import SyncProgress

        def progress(step: SyncProgress) -> None:
            if job.stop_requested.is_set():
                raise InterruptedError("the console is stopping")
            phase = "checking users the list no longer shows" if step.phase == "verify" else "reading pages"
            job.report(step.pages_done, step.expected_pages, f"{step.users_seen:,} users · {phase}")

        config = console.config
        with HordeUsers(
            api_key=config.api_key, base_url=config.url, timeout=config.timeout, max_retries=0
        ) as client:
            try:
                report = console.index.sync(client, progress=progress)
            finally:
                refresh_state(console, wait=True)
        job.report(report.pages, report.pages, f"{report.users_seen:,} users")
        return report

    return console.jobs.start(
        "sync", "Index sync", work, unit="pages", describe_failure=lambda exc: describe_error(console, exc)
    )


# -- changes and the journal ----------------------------------------------------------------------


@dataclass
class Outcome:
    """What a journaled change did: its entry, and the server's refusal when there was one."""

    entry: JournalEntry
    error: HordeError | None = None


def send_change(
    console: Console, user_id: int, action: Action, changes: dict[str, Any] | None, reason: str
) -> Outcome:
    """Modify, delete or undelete one user, journaled with ``reason`` (the library does every step)."""
    from horde_users.moderation.changes import send_change as send

    result = send(
        console.client,
        console.journal,
        user_id,
        action,
        changes,
        reason=reason,
        actor=console.actor(),
    )
    return Outcome(entry=result.entry, error=result.error)


def journal_for_user(console: Console, user_id: int, limit: int = 20) -> list[JournalEntry]:
    """The latest journal entries about one user."""
    return console.journal.list(user=user_id, limit=limit)


def undone_ids(console: Console, ids: list[int]) -> set[int]:
    """Which of these entries a completed undo already reversed (one indexed query per entry)."""
    journal = console.journal
    return {entry_id for entry_id in ids if any(e.outcome == "done" for e in journal.undone_by(entry_id))}


# -- undo -----------------------------------------------------------------------------------------


def plan_undo(console: Console, entry_id: int) -> UndoPlan:
    """What undoing an entry would send, checked against the account now (nothing is sent)."""
    from horde_users.moderation.undo import plan_undo as plan

    return plan(console.journal, console.client, entry_id)


def undo_sends(plan: UndoPlan) -> list[tuple[str, str]]:
    """The undo's request as (field, value to set) pairs, or the action alone for delete/undelete."""
    from horde_users.console.views import show

    if plan.action == "modify":
        return [(name, show(value)) for name, value in plan.changes.items()]
    if plan.action in ("delete", "undelete"):
        return [("deleted", "yes" if plan.action == "delete" else "no")]
    return []


def undo(console: Console, entry_id: int, reason: str, force: bool) -> JournalEntry:
    """Undo an entry, re-planned now, journaled as a new entry; :class:`UndoRefused` if it may not."""
    from horde_users.moderation.undo import apply_undo

    plan = plan_undo(console, entry_id)
    return apply_undo(
        console.client, console.journal, plan, reason=reason, force=force, actor=console.actor()
    )


# -- bulk -----------------------------------------------------------------------------------------

BULK_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")


@dataclass
class CheckedFile:
    """An uploaded bulk file after checking: every error, or the plan to apply."""

    upload_id: str
    errors: list[str]
    plan: BulkPlan | None

    @property
    def ready(self) -> bool:
        return self.plan is not None and not self.errors


def check_bulk(console: Console, filename: str, data: bytes, reason: str) -> CheckedFile:
    """Keep the upload, validate every row, and plan it against the journal (nothing is sent)."""
    import secrets

    from horde_users.moderation.bulk import load_bulk_file, plan_bulk

    suffix = next((s for s in BULK_SUFFIXES if filename.lower().endswith(s)), ".txt")
    upload_id = secrets.token_hex(12)
    path = console.uploads / f"{upload_id}{suffix}"
    path.write_bytes(data)
    file = load_bulk_file(path)
    if file.errors:
        return CheckedFile(upload_id, list(file.errors), None)
    plan = plan_bulk(console.client, console.journal, file, reason=reason or None)
    return CheckedFile(upload_id, list(plan.errors), plan)


def _upload_path(console: Console, upload_id: str) -> Path:
    if not (upload_id.isalnum() and len(upload_id) == 24):
        raise InputError("unknown upload: check the file again")
    for suffix in (*BULK_SUFFIXES, ".txt"):
        path = console.uploads / f"{upload_id}{suffix}"
        if path.is_file():
            return path
    raise InputError("unknown upload: check the file again")


def start_bulk(console: Console, upload_id: str, reason: str) -> Job:
    """Re-check the uploaded file and send its rows in a background job, paced and journaled."""
    from horde_users.moderation.bulk import RowResult, apply_bulk, load_bulk_file, plan_bulk

    file = load_bulk_file(_upload_path(console, upload_id))
    if file.errors:
        raise InputError("the file has errors: " + "; ".join(file.errors))
    plan = plan_bulk(console.client, console.journal, file, reason=reason or None)
    if plan.errors:
        raise InputError("; ".join(plan.errors))

    def work(job: Job) -> Any:
        done: list[RowResult] = []

        def progress(result: RowResult) -> None:
            done.append(result)
            job.report(len(done), len(plan.rows), f"row {result.row.row.number}: {result.outcome}")
            if job.stop_requested.is_set():
                raise InterruptedError("the console is stopping")

        report = apply_bulk(console.client, console.journal, plan, progress=progress)
        job.message = report.summary() + (f"; stopped: {report.stopped}" if report.stopped else "")
        return report

    title = f"Bulk run of {len(plan.to_send)} row{'s' if len(plan.to_send) != 1 else ''}"
    return console.jobs.start(
        "bulk", title, work, unit="rows", describe_failure=lambda exc: describe_error(console, exc)
    )


@dataclass(frozen=True)
class ReportRow:
    number: int
    user_id: int
    changes: str
    outcome: str
    entry_id: int | None
    message: str


def bulk_report_rows(report: BulkReport | None) -> list[ReportRow]:
    """A finished run's rows for the report table."""
    if report is None:
        return []
    rows = []
    for result in report.results:
        error = result.error or {}
        problem = " ".join(str(p) for p in (error.get("rc"), error.get("message")) if p)
        rows.append(
            ReportRow(
                number=result.row.row.number,
                user_id=result.row.row.user_id,
                changes=describe_changes(result.row.row.changes),
                outcome=result.outcome,
                entry_id=result.entry.id if result.entry is not None else None,
                message=problem or result.message,
            )
        )
    return rows


def describe_changes(changes: Mapping[str, Any]) -> str:
    """``trusted: yes, concurrency: 40`` for a table cell."""
    from horde_users.console.views import show

    return ", ".join(f"{name}: {show(value)}" for name, value in changes.items())
