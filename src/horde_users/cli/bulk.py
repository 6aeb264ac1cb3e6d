"""The ``bulk`` commands: apply a file of changes, validated whole, planned, confirmed, paced and journaled.

Exit codes: 0 every row is done (now or by an earlier run); 1 a row was refused or not sent; 2 the
file (or a missing reason) is invalid and nothing was sent; 3 a row's outcome is unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from horde_users.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    DatabaseOption,
    err,
    fail,
    handle_errors,
    moderation_errors,
    open_client,
    settings_of,
)
from horde_users.cli.journal import ReasonOption, confirm, open_journal
from horde_users.moderation.pacing import DEFAULT_RATE_PER_MINUTE

if TYPE_CHECKING:
    from horde_users.moderation.bulk import BulkPlan, BulkReport, RowResult

bulk_app = typer.Typer(
    help="Apply many changes from a CSV or JSON Lines file, journaled and resumable.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@bulk_app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A .csv or .jsonl file of changes.", show_default=False)
    ],
    reason: ReasonOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the plan; send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    rate: Annotated[
        float, typer.Option("--rate", min=0.1, help="Rows sent per minute at most.")
    ] = DEFAULT_RATE_PER_MINUTE,
    database: DatabaseOption = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the plan or the report as JSON.")] = False,
) -> None:
    """Apply FILE: a user_id column (or member), one per change field, an optional reason.

    Every row is validated first (any error: nothing is sent); the plan is shown and confirmed; rows
    are sent paced, each journaled. Running the same file again sends only the rows not done yet.
    """
    from horde_users.moderation.bulk import apply_bulk, load_bulk_file, plan_bulk
    from horde_users.moderation.pacing import Pacer

    settings = settings_of(ctx)
    settings.json = settings.json or json_
    try:
        loaded = load_bulk_file(file)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", EXIT_USAGE)
    if not loaded.ok:
        _invalid(loaded.errors, f"{file} has errors")
    with handle_errors(settings), open_client(settings) as client, open_journal(database) as journal:
        with moderation_errors():
            plan = plan_bulk(client, journal, loaded, reason=reason)
        if plan.errors:
            _invalid(plan.errors, f"{file} cannot be applied")
        _show_plan(plan, json_output=settings.json, dry_run=dry_run)
        if dry_run:
            if not settings.json:
                typer.echo("dry run: nothing was sent")
            return
        if plan.to_send and not yes:
            confirm(f"Send {len(plan.to_send)} changes as {plan.actor.name}?", "nothing was sent")
        progress = None if settings.json else _print_row
        try:
            with moderation_errors():
                report = apply_bulk(client, journal, plan, pacer=Pacer(rate), progress=progress)
        except KeyboardInterrupt:
            fail("interrupted; run the same file again to send the rows not done yet", 130)
    raise typer.Exit(_report(report, json_output=settings.json))


def _invalid(errors: list[str], headline: str) -> None:
    for line in errors:
        err(f"  {line}")
    fail(f"{headline} ({len(errors)}); nothing was sent", EXIT_USAGE)


def _show_plan(plan: BulkPlan, *, json_output: bool, dry_run: bool) -> None:
    if json_output:
        if dry_run:
            from horde_users.cli.output import print_json

            rows = [
                {
                    "row": p.row.number,
                    "user_id": p.row.user_id,
                    "changes": p.row.changes,
                    "reason": p.reason,
                    "roles": sorted(role.value for role in p.roles),
                    "state": p.state,
                    "previous": p.previous.id if p.previous is not None else None,
                }
                for p in plan.rows
            ]
            print_json(
                {"actor": plan.actor.name, "to_send": len(plan.to_send), "rows": rows, "dry_run": True}
            )
        return
    typer.echo(f"{plan.file.path}: {len(plan.rows)} rows as {plan.actor.name}, {len(plan.to_send)} to send")
    for row in plan.rows:
        marker = "send" if row.state == "send" else "skip"
        typer.echo(f"  {marker} {row.describe()}" + (f" — {row.reason}" if row.reason else ""))


def _print_row(result: RowResult) -> None:
    entry = f" #{result.entry.id}" if result.entry is not None else ""
    detail = f": {result.message}" if result.message else ""
    typer.echo(f"row {result.row.row.number}: {result.outcome}{entry}{detail}")


def _report(report: BulkReport, *, json_output: bool) -> int:
    if json_output:
        from horde_users.cli.output import print_json

        print_json(
            {
                "summary": report.counts(),
                "stopped": report.stopped,
                "rows": [
                    {
                        "row": r.row.row.number,
                        "user_id": r.row.row.user_id,
                        "outcome": r.outcome,
                        "entry": r.entry.id if r.entry is not None else None,
                        "message": r.message or None,
                    }
                    for r in report.results
                ],
            }
        )
    else:
        if report.stopped:
            typer.echo(f"stopped: {report.stopped}")
        typer.echo(f"summary: {report.summary()}")
    if report.ok:
        return EXIT_OK
    unknown = any(r.outcome in ("unknown", "unknown earlier") for r in report.results)
    code = EXIT_UNREACHABLE if unknown else EXIT_REFUSED
    err(f"error: not every row is done ({report.summary()})")
    return code
