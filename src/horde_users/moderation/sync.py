"""Syncing the index from ``GET /v2/users``: every page, oldest account first, paced and resumable.

Pages are read with ``sort=age`` (creation order), so a long sync is not shuffled by kudos changes. Each
page's users and the checkpoint (the next page of the unfinished run) are written in one transaction
(fast pages share one, see :class:`~horde_users.moderation.ingest.PageWriter`): after Ctrl-C, a crash
or a lost connection the next sync resumes at the first page not yet stored.

When a run reaches the end of the list, users it did not see are checked one by one with
``GET /v2/users/{id}`` (the list can shift under a sync when accounts are wiped): a 404 marks the user
gone; a user that still exists is kept. A run that stops at the list's last page (page 10000) cannot
see further users and marks nobody gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, insert, select, update

from horde_users.endpoints import MAX_PAGE, USERS_PER_PAGE
from horde_users.errors import NotFoundError
from horde_users.moderation.errors import ModerationError
from horde_users.moderation.index_tables import index_sync_runs, index_users
from horde_users.moderation.ingest import Checkpoint, PageWriter, mark_gone, relaxed_durability
from horde_users.moderation.pacing import PacedCalls, Pacer

if TYPE_CHECKING:
    from horde_users.client import HordeUsers


class SourceMismatchError(ModerationError):
    """The index holds another server's users; sync it from that server or use another database."""

    hint = "pass --database for a separate index of this server"


@dataclass(frozen=True)
class SyncProgress:
    """Where a running sync is, given to the ``progress`` callback after each commit (at a server's
    pace, after each page)."""

    run_id: int
    page: int
    pages_done: int
    users_seen: int
    expected_pages: int | None
    """A guess at the total from the index's size (None for a first sync)."""
    elapsed: float
    """Seconds since this process started syncing (not since the run started)."""
    requests: int
    rate_per_minute: float
    phase: str = "pages"
    """``pages`` while reading the list, ``verify`` while checking users it did not show."""


@dataclass(frozen=True)
class SyncReport:
    """What a finished sync did."""

    run_id: int
    resumed: bool
    """The run had been started earlier and was continued."""
    pages: int
    """Pages stored by this run (all its processes)."""
    users_seen: int
    users_indexed: int
    """Users in the index that are on the server (not gone) after the run."""
    marked_gone: int
    verified: int
    """Users the list did not show that were checked with a single-user request."""
    requests: int
    """Requests this process sent."""
    rate_limited: int
    """429 answers received (0 in a normal run)."""
    reached_page_limit: bool
    elapsed: float
    started_at: float
    finished_at: float

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return asdict(self)


ProgressCallback = Callable[[SyncProgress], None]


def run_sync(
    engine: Engine,
    client: HordeUsers,
    *,
    pacer: Pacer,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.time,
    verify_gone: bool = True,
) -> SyncReport:
    """Sync the index on ``engine`` from ``client``'s server; see the module docstring."""
    started = time.monotonic()
    requests = PacedCalls(pacer)
    run_id, resumed = _open_run(engine, client.base_url, clock())
    expected = _expected_pages(engine)
    reached_limit = False

    def report(run: Any, phase: str = "pages") -> None:
        if progress is not None:
            progress(
                SyncProgress(
                    run_id=run_id,
                    page=run.next_page,
                    pages_done=run.pages_done,
                    users_seen=run.users_seen,
                    expected_pages=expected,
                    elapsed=time.monotonic() - started,
                    requests=requests.sent,
                    rate_per_minute=pacer.rate_per_minute,
                    phase=phase,
                )
            )

    run = _run_row(engine, run_id)
    checkpoint = Checkpoint(run_id, run.next_page, run.pages_done, run.users_seen)
    with engine.connect() as conn, relaxed_durability(conn):
        writer = PageWriter(conn, checkpoint)
        while checkpoint.next_page <= MAX_PAGE:
            page = checkpoint.next_page
            try:
                batch = requests.call(partial(client.list_users, page=page, sort="age"))
            except BaseException:
                writer.commit()  # keep what was read before the failure
                raise
            full = len(batch) >= USERS_PER_PAGE
            last = not full or page == MAX_PAGE
            if writer.add(batch, next_page=page + 1 if full else page, now=clock(), last=last):
                report(checkpoint)
            if not full:
                break
        else:
            reached_limit = True

    verified = gone = 0
    if not reached_limit:
        if verify_gone:
            verified, gone = _verify_unseen(engine, client, requests, run_id, clock, report)
        else:
            with engine.begin() as conn:
                gone = mark_gone(conn, run_id, clock())
    finished = clock()
    with engine.begin() as conn:
        conn.execute(
            update(index_sync_runs)
            .where(index_sync_runs.c.id == run_id)
            .values(finished_at=finished, gone_marked=gone, reached_page_limit=reached_limit)
        )
        run = conn.execute(select(index_sync_runs).where(index_sync_runs.c.id == run_id)).one()
        present = conn.execute(
            select(func.count()).select_from(index_users).where(index_users.c.gone.is_(False))
        ).scalar_one()
    return SyncReport(
        run_id=run_id,
        resumed=resumed,
        pages=run.pages_done,
        users_seen=run.users_seen,
        users_indexed=int(present),
        marked_gone=gone,
        verified=verified,
        requests=requests.sent,
        rate_limited=requests.rate_limited,
        reached_page_limit=reached_limit,
        elapsed=time.monotonic() - started,
        started_at=run.started_at,
        finished_at=finished,
    )


def _open_run(engine: Engine, source: str, now: float) -> tuple[int, bool]:
    """The unfinished run to resume, or a new one; refuses an index built from another server."""
    with engine.begin() as conn:
        last = conn.execute(select(index_sync_runs).order_by(index_sync_runs.c.id.desc()).limit(1)).first()
        if last is not None and last.source != source:
            raise SourceMismatchError(
                f"this index holds the users of {last.source}, not {source}: "
                "use another database for another server"
            )
        if last is not None and last.finished_at is None:
            return int(last.id), True
        result = conn.execute(
            insert(index_sync_runs).values(
                source=source, started_at=now, next_page=1, pages_done=0, users_seen=0
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0]), False


def _run_row(engine: Engine, run_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(index_sync_runs).where(index_sync_runs.c.id == run_id)).one()


def _expected_pages(engine: Engine) -> int | None:
    with engine.connect() as conn:
        present = conn.execute(
            select(func.count()).select_from(index_users).where(index_users.c.gone.is_(False))
        ).scalar_one()
    return -(-int(present) // USERS_PER_PAGE) or None


def _verify_unseen(
    engine: Engine,
    client: HordeUsers,
    requests: PacedCalls,
    run_id: int,
    clock: Callable[[], float],
    report: Callable[[Any, str], None],
) -> tuple[int, int]:
    """Check each present user this run did not see: 404 marks it gone, an answer keeps it."""
    with engine.connect() as conn:
        unseen = list(
            conn.execute(
                select(index_users.c.id)
                .where(index_users.c.seen_in_run < run_id, index_users.c.gone.is_(False))
                .order_by(index_users.c.id)
            ).scalars()
        )
    gone = 0
    for user_id in unseen:
        try:
            requests.call(partial(client.get_user, user_id))
        except NotFoundError:
            values: dict[str, Any] = {"gone": True, "gone_since": clock()}
            gone += 1
        else:
            values = {"seen_in_run": run_id}
        with engine.begin() as conn:
            conn.execute(update(index_users).where(index_users.c.id == user_id).values(**values))
        report(_run_row(engine, run_id), "verify")
    return len(unseen), gone
