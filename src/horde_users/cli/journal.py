"""The ``journal`` commands (list, show, export, undo) and the journaling the ``user`` commands share.

Everything here is a thin shell over :mod:`horde_users.moderation`; moderation errors become one
``error:`` line: a missing reason, a database that cannot be written or an unknown entry exit 2
(nothing sent), an undo that is refused exits 1.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, overload

import typer

from horde_users.cli.common import (
    EXIT_DECLINED,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    DatabaseOption,
    Settings,
    describe_api_error,
    err,
    fail,
    handle_errors,
    moderation_errors,
    open_client,
    settings_of,
)

if TYPE_CHECKING:
    from horde_users.client import HordeUsers
    from horde_users.errors import HordeAPIError
    from horde_users.models.users import DeleteUserResponse, ModifyUserResponse
    from horde_users.moderation.changes import ChangeReply
    from horde_users.moderation.journal import Action, Journal, JournalEntry

journal_app = typer.Typer(
    help="The journal of changes made through horde-users: list, show, export and undo them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ReasonOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--reason",
        help="Why; kept in the journal. Required for another account than your own.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def open_journal(database: str | None) -> Journal:
    """The journal in ``--database`` (or the environment's, or the default), checked to be writable."""
    from horde_users.moderation.journal import Journal

    with moderation_errors():
        return Journal.open(database)


@overload
def journaled(
    client: HordeUsers,
    user_id: str | int,
    action: Literal["delete"],
    changes: Any = None,
    *,
    reason: str | None,
    database: str | None,
) -> DeleteUserResponse: ...
@overload
def journaled(
    client: HordeUsers,
    user_id: str | int,
    action: Literal["modify", "undelete"],
    changes: Any = None,
    *,
    reason: str | None,
    database: str | None,
) -> ModifyUserResponse: ...


def journaled(
    client: HordeUsers,
    user_id: str | int,
    action: Action,
    changes: Any = None,
    *,
    reason: str | None,
    database: str | None,
) -> ChangeReply:
    """Send one change through the journal and return the server's reply (the ``user`` commands' call).

    Raises the client's own error when the change is refused or its outcome is unknown, so the
    caller's error handling stays as it is; exits 2 before anything is sent when the reason is
    missing or the journal cannot be written.
    """
    from horde_users.moderation.changes import send_change

    journal = open_journal(database)
    try:
        with moderation_errors():
            result = send_change(client, journal, user_id, action, changes, reason=reason)
    finally:
        journal.close()
    reply = result.unwrap()  # a refusal or an unknown outcome is reported by the caller, as before
    err(f"journal: #{result.entry.id} {result.entry.outcome}")
    return reply


def _settings(ctx: typer.Context, json_: bool) -> Settings:
    settings = settings_of(ctx)
    settings.json = settings.json or json_
    return settings


_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_since(text: str | None) -> datetime | None:
    """``2026-11-29``, ``2026-11-29T10:00`` (UTC unless a zone is given), or 30m/12h/7d/2w ago."""
    if text is None:
        return None
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        span = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}
        return datetime.now(timezone.utc) - span.get(unit, timedelta(weeks=amount))
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"--since {text!r}: expected a date (2026-11-29), a time (2026-11-29T10:00) or 30m/12h/7d/2w",
            EXIT_USAGE,
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


UserFilter = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--user", help="Only changes to this user (id, alias or name).", show_default=False),
]
ActorFilter = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--actor", help="Only changes made by this account (id, alias or name).", show_default=False
    ),
]
SinceFilter = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--since", help="Only changes since a date/time (UTC) or 30m/12h/7d/2w ago.", show_default=False
    ),
]


@journal_app.command("list")
def list_entries(
    ctx: typer.Context,
    user: UserFilter = None,
    actor: ActorFilter = None,
    since: SinceFilter = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N entries.")] = 50,
    database: DatabaseOption = None,
    json_: JsonOption = False,
) -> None:
    """List journal entries, newest first."""
    settings = _settings(ctx, json_)
    moment = parse_since(since)
    with open_journal(database) as journal, moderation_errors():
        entries = journal.list(user=user, actor=actor, since=moment, limit=limit)
    if settings.json:
        from horde_users.cli.output import print_json

        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("No journal entries.")
        return
    for entry in entries:
        when = entry.time.strftime("%Y-%m-%d %H:%M:%S")
        reason = f" — {entry.reason}" if entry.reason else ""
        typer.echo(f"{when}  {entry.summary()}{reason}")


@journal_app.command("show")
def show(
    ctx: typer.Context,
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="Journal entry id.", show_default=False)],
    database: DatabaseOption = None,
    json_: JsonOption = False,
) -> None:
    """Show one journal entry: who changed what, why, the outcome, and what the views show changed."""
    settings = _settings(ctx, json_)
    with open_journal(database) as journal, moderation_errors():
        entry = journal.get(entry_id)
        undone = [e.id for e in journal.undone_by(entry_id) if e.outcome == "done"]
    if settings.json:
        from horde_users.cli.output import print_json

        print_json(entry.to_json())
        return
    for line in describe_entry(entry):
        typer.echo(line)
    if undone:
        typer.echo("undone by:  " + ", ".join(f"#{n}" for n in undone))


def describe_entry(entry: JournalEntry) -> list[str]:
    """An entry for people: a header, then what was sent, the outcome, and the fields that moved."""
    import json

    lines = [
        f"entry:      #{entry.id}" + (f" (undoes #{entry.undoes})" if entry.undoes is not None else ""),
        f"time:       {entry.time.isoformat(timespec='seconds')}",
        f"actor:      {entry.actor}",
        f"user:       {entry.user_name or entry.user_id}",
        f"reason:     {entry.reason or '-'}",
        f"action:     {entry.action}",
    ]
    if entry.changes:
        lines.append("sent:       " + json.dumps(entry.changes))
    outcome: str = entry.outcome
    if entry.error:
        detail = entry.error.get("rc") or entry.error.get("status") or ""
        outcome += (
            f" ({detail}: {entry.error.get('message', '')})"
            if detail
            else f" ({entry.error.get('message', '')})"
        )
    lines.append(f"outcome:    {outcome}")
    before, after = entry.before or {}, entry.after or {}
    for name in sorted(set(before) | set(after)):
        if name != "account_age" and before.get(name) != after.get(name):
            lines.append(f"  {name}: {json.dumps(before.get(name))} -> {json.dumps(after.get(name))}")
    return lines


@journal_app.command("export")
def export(
    ctx: typer.Context,
    format_: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "jsonl",
    output: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--output", "-o", help="Write to this file instead of standard output.", show_default=False
        ),
    ] = None,
    user: UserFilter = None,
    actor: ActorFilter = None,
    since: SinceFilter = None,
    database: DatabaseOption = None,
    json_: JsonOption = False,
) -> None:
    """Export journal entries, oldest first, as CSV or JSON Lines (--json: a summary of the export)."""
    settings = _settings(ctx, json_)
    if format_ not in ("csv", "jsonl"):
        fail(f"--format {format_!r}: csv or jsonl", EXIT_USAGE)
    moment = parse_since(since)
    with open_journal(database) as journal, moderation_errors():
        if output is None:
            count = journal.export(sys.stdout, format_, user=user, actor=actor, since=moment)  # type: ignore[arg-type]
        else:
            try:
                with open(output, "w", encoding="utf-8", newline="") as out:
                    count = journal.export(out, format_, user=user, actor=actor, since=moment)  # type: ignore[arg-type]
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror}", EXIT_USAGE)
    if output is not None:
        if settings.json:
            from horde_users.cli.output import print_json

            print_json({"exported": count, "format": format_, "output": output})
        else:
            err(f"exported {count} entries to {output}")


@journal_app.command("undo")
def undo(
    ctx: typer.Context,
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry to undo.", show_default=False)],
    reason: ReasonOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Undo even when the account has moved on since (or it was undone)."),
    ] = False,
    database: DatabaseOption = None,
    json_: JsonOption = False,
) -> None:
    """Send the inverse of a journaled change, journaled itself and linked to the entry it reverses."""
    from horde_users.moderation.changes import Actor, require_reason
    from horde_users.moderation.undo import apply_undo, plan_undo

    settings = _settings(ctx, json_)
    check = "run `horde-users journal list --user ID` and `horde-users user show ID` before trying again"
    with (
        handle_errors(settings, check=check),
        open_client(settings) as client,
        open_journal(database) as journal,
    ):
        with moderation_errors():
            plan = plan_undo(journal, client, entry_id)
        if not plan.allowed(force=force):
            hint = "--force sends it anyway" if not plan.refusals else None
            fail(f"cannot undo #{entry_id}: " + "; ".join(plan.problems(force=force)), EXIT_REFUSED, hint)
        if settings.json and dry_run:
            from horde_users.cli.output import print_json

            print_json({"entry": entry_id, "action": plan.action, "changes": plan.changes, "dry_run": True})
            return
        if not settings.json:
            typer.echo(plan.describe() + _roles_note(plan.roles))
            for conflict in plan.conflicts:
                typer.echo(f"forced past: {conflict}")
        if dry_run:
            typer.echo("dry run: nothing was sent")
            return
        actor = Actor.of(client)
        with moderation_errors():
            require_reason(actor, plan.entry.user_id, reason)
        if not yes:
            confirm(f"Send this undo to {plan.entry.user_name or plan.entry.user_id}?", "nothing was sent")
        with moderation_errors():
            entry = apply_undo(client, journal, plan, reason=reason, force=force, actor=actor)
    _finish(settings, entry)


def _roles_note(roles: Any) -> str:
    from horde_users.roles import describe_roles

    return f" (needs {describe_roles(roles)})"


def confirm(question: str, declined: str) -> None:
    """Ask on stderr; anything but yes (or no terminal answer) exits 1 with ``declined``."""
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not sys.stdin.isatty():
        err("")
    if not confirmed:
        fail(f"not confirmed; {declined} (pass --yes to skip the question)", EXIT_DECLINED)


def _finish(settings: Settings, entry: JournalEntry) -> None:
    """Print the undo's entry; a refusal exits 1 and an unknown outcome 3, after the entry is shown."""
    if settings.json:
        from horde_users.cli.output import print_json

        print_json(entry.to_json())
    else:
        typer.echo(f"journal: #{entry.id} {entry.outcome} (undoes #{entry.undoes})")
    if entry.outcome == "refused":
        fail(describe_api_error(_journaled_error(entry.error or {})), EXIT_REFUSED)
    if entry.outcome != "done":
        fail(
            f"outcome unknown: {(entry.error or {}).get('message', '')}",
            EXIT_UNREACHABLE,
            f"run `horde-users user show {entry.user_id}` to see whether the undo was applied",
        )


def _journaled_error(error: dict[str, Any]) -> HordeAPIError:
    """The refusal a journal entry recorded, as the client's own error (for the same wording)."""
    from horde_users.errors import error_class_for_status

    status = int(error.get("status") or 0)
    return error_class_for_status(status)(
        str(error.get("message") or ""), status_code=status, rc=error.get("rc"), errors=error.get("errors")
    )
