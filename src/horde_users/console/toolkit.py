"""The console's calls into the moderation library, in one place (the pages stay free of its details).

Nothing here decides anything about moderation: it turns form strings into the library's arguments,
runs long calls as background jobs, and shapes results for the templates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from horde_users.console.context import Console, describe_error
from horde_users.console.jobs import Job
from horde_users.console.streaming import stream_export

if TYPE_CHECKING:
    from horde_users.moderation.filters import Filters
    from horde_users.moderation.index import IndexedUser, IndexState, UserIndex

STATE_TTL = 10.0
"""Seconds the index summary (size, last sync) is reused: it counts rows, the pages must stay fast."""

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

_state_cache: dict[int, tuple[float, IndexState]] = {}


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


def index_state(console: Console) -> IndexState:
    """The index's size and last sync, cached for :data:`STATE_TTL` seconds (and renewed by a sync)."""
    now = time.monotonic()
    cached = _state_cache.get(id(console))
    if cached is not None and now - cached[0] < STATE_TTL:
        return cached[1]
    state = console.index.state()
    _state_cache[id(console)] = (now, state)
    return state


def forget_state(console: Console) -> None:
    _state_cache.pop(id(console), None)


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
                forget_state(console)
        job.report(report.pages, report.pages, f"{report.users_seen:,} users from {report.pages} pages")
        return report

    return console.jobs.start("sync", "Index sync", work, lambda exc: describe_error(console, exc))


# -- changes and the journal ----------------------------------------------------------------------


@dataclass
class Outcome:
    """What a change did: the server's echo, and the journal entry that records it (when journaled)."""

    reply: dict[str, Any]
    entry_id: int | None = None


def modify_user(console: Console, user_id: int, changes: dict[str, Any], reason: str) -> Outcome:
    """Send ``changes`` to one user, journaled with ``reason``."""
    reply = console.client.modify_user(user_id, **changes)
    return Outcome(reply=reply.model_dump(exclude_none=True))


def delete_user(console: Console, user_id: int, reason: str) -> Outcome:
    """Soft-delete one user, journaled with ``reason``."""
    console.client.delete_user(user_id)
    return Outcome(reply={"deleted": True})


def undelete_user(console: Console, user_id: int, reason: str) -> Outcome:
    """Restore a soft-deleted user, journaled with ``reason``."""
    reply = console.client.undelete_user(user_id)
    return Outcome(reply=reply.model_dump(exclude_none=True))


def journal_for_user(console: Console, user_id: int, limit: int = 20) -> list[Any]:
    """The latest journal entries about one user."""
    return []
