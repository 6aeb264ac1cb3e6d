"""The ``index`` commands: sync the local index of a horde's users, export it, fetch moderator details.

A thin shell over :class:`horde_users.moderation.index.UserIndex`; searching is ``horde-users user find``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from horde_users.cli.common import (
    EXIT_USAGE,
    DatabaseOption,
    Settings,
    err,
    fail,
    handle_errors,
    moderation_errors,
    settings_of,
)
from horde_users.cli.find import (
    SortChoice,
    ago,
    open_index,
    require_synced,
    with_filters,
)

if TYPE_CHECKING:
    from horde_users.client import HordeUsers
    from horde_users.moderation.sync import SyncProgress

index_app = typer.Typer(
    help="A local index of the server's users: sync it, export it, add moderator details. "
    "Search it with `horde-users user find`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RateOption = Annotated[
    float,
    typer.Option(
        "--rate",
        min=0.1,
        help="Requests a minute at most (the server allows 90 list requests a minute per address).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON summary.")]


@contextmanager
def _paced_client(settings: Settings) -> Iterator[HordeUsers]:
    """A client without its own retries: the pacer handles 429s (Retry-After) and connection failures."""
    from horde_users.client import HordeUsers

    if not settings.base_url.lower().startswith(("http://", "https://")):
        fail(f"the base URL must start with http:// or https:// (got {settings.base_url!r})", EXIT_USAGE)
    with HordeUsers(
        api_key=settings.api_key, base_url=settings.url, timeout=settings.timeout, max_retries=0
    ) as client:
        yield client


@index_app.command("sync")
def sync(
    ctx: typer.Context,
    rate: RateOption = 80.0,
    json_: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Read every page of the users list into the index (resumes an interrupted sync)."""
    from horde_users.moderation.pacing import LIST_LIMIT_PER_MINUTE

    settings = settings_of(ctx)
    as_json = json_ or settings.json
    if rate > LIST_LIMIT_PER_MINUTE:
        err(
            f"warning: --rate {rate:g} is above the server's limit of "
            f"{LIST_LIMIT_PER_MINUTE} list requests a minute"
        )
    resume_hint = "run `horde-users index sync` again: it continues where it stopped"
    with open_index(database) as index:
        state = index.state()
        if state.unfinished_run is not None and not as_json:
            err(f"resuming the unfinished sync at page {state.unfinished_next_page}")
        progress = _Progress(enabled=not as_json and _stderr_is_terminal())
        try:
            with handle_errors(settings), _paced_client(settings) as client, progress, moderation_errors():
                report = index.sync(client, rate=rate, progress=progress.update)
        except KeyboardInterrupt:
            fail("interrupted; everything read so far is stored", 130, resume_hint)
        except typer.Exit as exc:
            if exc.exit_code not in (0, None):
                err(f"hint: {resume_hint}")
            raise
    if as_json:
        from horde_users.cli.output import print_json

        print_json(report.as_dict())
        return
    typer.echo(
        f"synced {report.users_seen} users from {report.pages} pages in {report.elapsed:.0f} s; "
        f"{report.users_indexed} users indexed, {report.marked_gone} newly gone"
        + (f", {report.rate_limited} rate-limited answers" if report.rate_limited else "")
        + ("; the list stops at page 10000, later users are not visible" if report.reached_page_limit else "")
    )


def _stderr_is_terminal() -> bool:
    from horde_users.cli.output import stderr_is_terminal

    return stderr_is_terminal()


class _Progress:
    """A rich progress bar on stderr (pages, users, rate, time left), only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("page {task.completed:.0f}/{task.total:.0f}"),
                TextColumn("{task.fields[users]} users"),
                TextColumn("{task.fields[rate]}/min"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task("syncing", total=None, users=0, rate="-")
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, progress: SyncProgress) -> None:
        if self._bar is None:
            return
        rate = progress.requests / progress.elapsed * 60 if progress.elapsed > 0 else 0.0
        total = max(progress.expected_pages or 0, progress.pages_done + 1)
        self._bar.update(
            self._task,
            description="verifying" if progress.phase == "verify" else "syncing",
            completed=progress.pages_done,
            total=total,
            users=progress.users_seen,
            rate=f"{rate:.0f}",
        )


@index_app.command("export")
@with_filters
def export(
    ctx: typer.Context,
    filters: Any,  # a Filters, built by with_filters
    format_: Annotated[
        str, typer.Option("--format", help="csv or jsonl (one user a line, as the API sent it).")
    ] = "jsonl",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output", "-o", help="File to write ('-' or nothing: standard output).", show_default=False
        ),
    ] = None,
    sort: Annotated[SortChoice, typer.Option("--sort", help="Order of the rows.")] = SortChoice.id,
    database: DatabaseOption = None,
) -> None:
    """Export the indexed users that match the filters (the same filters as `user find`)."""
    if format_ not in ("csv", "jsonl"):
        fail(f"unknown --format {format_!r}: choose csv or jsonl", EXIT_USAGE)
    with open_index(database) as index:
        require_synced(index)
        if output is None or str(output) == "-":
            count = index.export(filters, format_, sys.stdout, sort=sort.value)
        else:
            count = _export_to_file(index, filters, format_, output, sort.value)
    if output is not None and str(output) != "-":
        err(f"exported {count} users to {output}")


def _export_to_file(index: Any, filters: Any, format_: str, output: Path, sort: str) -> int:
    """Write to a temporary file beside ``output``, then rename: a failed export leaves no half file."""
    import os
    import tempfile

    folder = output.resolve().parent
    if not folder.is_dir():
        fail(f"cannot write {output}: the folder {folder} does not exist", EXIT_USAGE)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=folder)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", EXIT_USAGE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            count = int(index.export(filters, format_, stream, sort=sort))
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


@index_app.command("fetch-details")
@with_filters
def fetch_details(
    ctx: typer.Context,
    filters: Any,  # a Filters, built by with_filters
    ids: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--id", help="A user id or alias (repeat for more).", show_default=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most N users chosen by the filters.")
    ] = 100,
    rate: RateOption = 50.0,
    json_: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Store the moderator's view (suspicious, contact, ...) of chosen users; needs a moderator's key.

    Choose users with --id and/or the filters (e.g. --flagged); at least one is required.
    """
    from horde_users.cli.users import parse_user_id
    from horde_users.moderation.filters import Filters

    settings = settings_of(ctx)
    as_json = json_ or settings.json
    chosen = [int(parse_user_id(text)) for text in ids or []]
    by_filters = filters != Filters()
    if not chosen and not by_filters:
        fail("choose users with --id or a filter (for example --flagged)", EXIT_USAGE)
    with open_index(database) as index:
        require_synced(index)
        if by_filters:
            chosen += [user.id for user in index.find(filters, limit=limit)]
        try:
            with handle_errors(settings), _paced_client(settings) as client, moderation_errors():
                report = index.fetch_details(client, chosen, rate=rate)
        except KeyboardInterrupt:
            fail("interrupted; the users fetched so far are stored", 130)
    if as_json:
        from horde_users.cli.output import print_json

        print_json(report.as_dict())
        return
    typer.echo(
        f"stored the moderator's view of {len(report.fetched)} users"
        + (f"; {len(report.not_found)} no longer exist" if report.not_found else "")
        + (f"; {len(report.not_indexed)} are not in the index (sync first)" if report.not_indexed else "")
    )


@index_app.command("status")
def status(ctx: typer.Context, json_: JsonOption = False, database: DatabaseOption = None) -> None:
    """How fresh and how big the index is."""
    settings = settings_of(ctx)
    with open_index(database) as index:
        state = index.state()
    if json_ or settings.json:
        from dataclasses import asdict

        from horde_users.cli.output import print_json

        print_json(asdict(state))
        return
    if state.synced_at is None and state.users == 0:
        typer.echo("the index was never synced; run `horde-users index sync`")
        return
    synced = "never completed" if state.synced_at is None else ago(time.time() - state.synced_at)
    typer.echo(
        f"source: {state.source}\nlast complete sync: {synced}\nusers: {state.users} (gone: {state.gone})"
    )
    if state.unfinished_run is not None:
        typer.echo(f"unfinished sync: continues at page {state.unfinished_next_page}")
