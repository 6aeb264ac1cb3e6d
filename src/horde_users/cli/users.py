"""``whoami`` and the ``user`` commands: a thin shell over the sync client."""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from horde_users.cli.common import (
    EXIT_DECLINED,
    EXIT_USAGE,
    DatabaseOption,
    Settings,
    err,
    fail,
    handle_errors,
    open_client,
    settings_of,
)
from horde_users.cli.journal import ReasonOption, journaled
from horde_users.endpoints import MAX_USER_ID, USERS_PER_PAGE

user_app = typer.Typer(
    help="Show, list, modify, delete and undelete users.", no_args_is_help=True, rich_markup_mode=None
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the response as JSON (by wire name).")]
SecretsOption = Annotated[
    bool, typer.Option("--show-secrets", help="Show proxy passkeys and shared key ids in tables.")
]
UserIdArg = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="User id, or NAME#ID such as alice#3 (then NAME must be the account's current name).",
        show_default=False,
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Show the request and the role it needs; send nothing that changes anything."
    ),
]


class Sort(str, enum.Enum):
    """List order."""

    kudos = "kudos"
    age = "age"


@dataclass(frozen=True)
class UserRef:
    """A user argument: the id, and the ``NAME#ID`` alias when one was given."""

    id: str
    alias: str | None = None

    def check(self, user: Any, outcome: str = "nothing changed") -> None:
        """Refuse (exit 2) when the alias is not the account's current name: the person meant someone else."""
        if self.alias is not None and user.username != self.alias:
            now = user.username or f"user {self.id}"
            fail(
                f"{self.alias} is now {now}: {outcome}",
                EXIT_USAGE,
                f"to act on {now} anyway, give the bare id {self.id}",
            )


def parse_user_ref(text: str) -> UserRef:
    """``3`` or ``alice#3`` (the digits after the last ``#``); anything else is a usage error."""
    name, _, digits = text.strip().rpartition("#")
    candidate = digits.strip()
    if not candidate or not (candidate.isascii() and candidate.isdigit()):
        fail(f"invalid user id {text!r}: expected a number or an alias like alice#3", EXIT_USAGE)
    if int(candidate) > MAX_USER_ID:
        fail(f"invalid user id {text!r}: the largest user id is {MAX_USER_ID}", EXIT_USAGE)
    uid = str(int(candidate))
    return UserRef(uid, f"{name}#{uid}" if name.strip() else None)


def parse_user_id(text: str) -> str:
    """``3`` or ``alice#3`` -> ``3``, without checking the name (see ``parse_user_ref``)."""
    return parse_user_ref(text).id


def _option_label(field: str) -> str:
    """A ModifyUser field as the option that sets it (``usage_multiplier`` -> ``--usage-multiplier``)."""
    return "--" + field.replace("_", "-")


def _settings(ctx: typer.Context, json_: bool = False, show_secrets: bool = False) -> Settings:
    settings = settings_of(ctx)
    settings.json = settings.json or json_
    settings.show_secrets = settings.show_secrets or show_secrets
    return settings


def _show_user(settings: Settings, user: Any) -> None:
    if settings.json:
        from horde_users.cli.output import dump, print_json

        print_json(dump(user))
        return
    from horde_users.cli import tables

    tables.console().print(tables.user_table(user, show_secrets=settings.show_secrets))


def whoami(ctx: typer.Context, json_: JsonOption = False, show_secrets: SecretsOption = False) -> None:
    """Show the account that owns the configured API key."""
    settings = _settings(ctx, json_, show_secrets)
    with handle_errors(settings), open_client(settings) as client:
        user = client.find_user()
    _show_user(settings, user)


@user_app.command("show")
def show(
    ctx: typer.Context,
    user_id: UserIdArg,
    json_: JsonOption = False,
    show_secrets: SecretsOption = False,
) -> None:
    """Show one user; with a moderator's or the owner's key, the privileged fields too."""
    settings = _settings(ctx, json_, show_secrets)
    ref = parse_user_ref(user_id)
    with handle_errors(settings), open_client(settings) as client:
        user = client.get_user(ref.id)
    ref.check(user, "not shown")
    _show_user(settings, user)


@user_app.command("list")
def list_users(
    ctx: typer.Context,
    sort: Annotated[
        Sort, typer.Option("--sort", help="kudos (most first) or age (oldest first).")
    ] = Sort.kudos,
    page: Annotated[int, typer.Option("--page", min=1, max=10000, help="Page to show (25 users each).")] = 1,
    all_: Annotated[
        bool, typer.Option("--all", help="Page through every user from --page on, streaming rows.")
    ] = False,
    limit: Annotated[
        Optional[int],  # noqa: UP045 - typer needs the runtime form on Python 3.10
        typer.Option("--limit", min=1, help="At most N users (pages as needed).", show_default=False),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """List users by kudos or age. --json: one array; with --all, one object per line."""
    settings = _settings(ctx, json_)
    with handle_errors(settings), open_client(settings) as client:
        if all_:
            _stream(settings, client.iter_users(sort=sort.value, start_page=page, limit=limit))
        elif limit is None:
            _print_users(settings, client.list_users(page=page, sort=sort.value))
        else:  # --limit without --all: a bounded list, printed like one page
            _print_users(settings, list(client.iter_users(sort=sort.value, start_page=page, limit=limit)))


def _print_users(settings: Settings, users: Iterable[Any]) -> None:
    """One page (or a bounded list): a JSON array, or a table."""
    if settings.json:
        from horde_users.cli.output import dump, print_json

        print_json([dump(user) for user in users])
        return
    from horde_users.cli import tables

    rows = tables.UserRows(tables.console())
    rows.add(users)
    rows.finish()


def _stream(settings: Settings, users: Iterator[Any]) -> None:
    """--all: print each page as it arrives (JSON lines, or table rows); progress on stderr if a terminal."""
    from horde_users.cli.output import dump, print_json, stderr_is_terminal

    rows: Any = None
    if not settings.json:
        from horde_users.cli import tables

        rows = tables.UserRows(tables.console())
    batch: list[Any] = []

    def flush() -> None:
        if rows is None:
            for user in batch:
                print_json(dump(user), lines=True)
        else:
            rows.add(batch)
        batch.clear()

    progress = _progress() if stderr_is_terminal() else None
    try:
        for fetched, user in enumerate(users, start=1):
            batch.append(user)
            if len(batch) == USERS_PER_PAGE:
                flush()
                if progress is not None:
                    progress.update(progress.task_ids[0], description=f"fetched {fetched} users")
        flush()
    finally:
        if progress is not None:
            progress.stop()
    if rows is not None:
        rows.finish()


def _progress() -> Any:
    """A transient spinner on stderr (stdout writes go above it when stdout is the same terminal)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )
    progress.add_task("fetching users", total=None)
    progress.start()
    return progress


@user_app.command("modify")
def modify(
    ctx: typer.Context,
    user_id: UserIdArg,
    trusted: Annotated[Optional[bool], typer.Option("--trusted/--no-trusted", show_default=False)] = None,  # noqa: UP045
    flagged: Annotated[Optional[bool], typer.Option("--flagged/--no-flagged", show_default=False)] = None,  # noqa: UP045
    moderator: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--moderator/--no-moderator", help="Admin only; --moderator also trusts.", show_default=False
        ),
    ] = None,
    customizer: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--customizer/--no-customizer", show_default=False),
    ] = None,
    vpn: Annotated[Optional[bool], typer.Option("--vpn/--no-vpn", show_default=False)] = None,  # noqa: UP045
    service: Annotated[Optional[bool], typer.Option("--service/--no-service", show_default=False)] = None,  # noqa: UP045
    education: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--education/--no-education", show_default=False),
    ] = None,
    special: Annotated[Optional[bool], typer.Option("--special/--no-special", show_default=False)] = None,  # noqa: UP045
    public_workers: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--public-workers/--no-public-workers", show_default=False),
    ] = None,
    concurrency: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--concurrency", help="0..500.", show_default=False),
    ] = None,
    worker_invited: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--worker-invited", show_default=False),
    ] = None,
    usage_multiplier: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--usage-multiplier", help="0.1..10 (admin only).", show_default=False),
    ] = None,
    kudos: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--kudos",
            help="Kudos to add to the balance: a delta, negative to remove, cut to a whole number "
            "(admin only). The server never leaves a balance below its floor: 25, 14 for pseudonymous "
            "accounts, -50 for Anonymous; so even --kudos 0 lifts a smaller balance to the floor.",
            show_default=False,
        ),
    ] = None,
    monthly_kudos: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--monthly-kudos",
            help="Kudos to add to the monthly allowance: a delta (50 twice adds 100), negative to lower "
            "it, never below 0 (admin only). A positive value is also credited to the balance at once "
            "(the floor applies); zero or negative leaves the balance alone.",
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--username", help="New name, without #id.", show_default=False),
    ] = None,
    contact: Annotated[Optional[str], typer.Option("--contact", show_default=False)] = None,  # noqa: UP045
    admin_comment: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--admin-comment", show_default=False),
    ] = None,
    reset_suspicion: Annotated[
        bool, typer.Option("--reset-suspicion", help="Remove every suspicion record.")
    ] = False,
    generate_proxy_passkey: Annotated[
        bool,
        typer.Option(
            "--generate-proxy-passkey",
            help="Issue a new proxy passkey, replacing the old one (the caller must be a service account). "
            "Printed now; later only a moderator's key shows it (--show-secrets user show).",
        ),
    ] = False,
    reason: ReasonOption = None,
    database: DatabaseOption = None,
    dry_run: DryRunOption = False,
    json_: JsonOption = False,
) -> None:
    """Change a user (admin, moderator or the owner) and print what changed; journaled.

    --dry-run shows the request and the role each change needs. Changes are applied one by one in the
    server's order: when one is refused, those before it stay applied.
    """
    settings = _settings(ctx, json_)
    ref = parse_user_ref(user_id)
    fields: dict[str, Any] = {
        "kudos": kudos,
        "monthly_kudos": monthly_kudos,
        "usage_multiplier": usage_multiplier,
        "moderator": moderator,
        "concurrency": concurrency,
        "worker_invited": worker_invited,
        "trusted": trusted,
        "flagged": flagged,
        "customizer": customizer,
        "vpn": vpn,
        "service": service,
        "education": education,
        "special": special,
        "reset_suspicion": True if reset_suspicion else None,
        "admin_comment": admin_comment,
        "public_workers": public_workers,
        "username": username,
        "contact": contact,
        "generate_proxy_passkey": True if generate_proxy_passkey else None,
    }
    changes = {name: value for name, value in fields.items() if value is not None}
    if not changes:
        fail("nothing to change: give at least one option (see --help)", EXIT_USAGE)
    _modify(settings, ref, changes, dry_run=dry_run, reason=reason, database=database)


def _modify_notes(changes: dict[str, Any]) -> tuple[str, ...]:
    notes = []
    if len(changes) > 1:
        notes.append("changes are applied one by one: if one is refused, those before it stay applied")
    if "kudos" in changes or "monthly_kudos" in changes:
        notes.append("kudos and monthly_kudos add to the current values; sending them twice adds twice")
    return tuple(notes)


def _modify(
    settings: Settings,
    ref: UserRef,
    changes: dict[str, Any],
    *,
    dry_run: bool,
    reason: str | None,
    database: str | None,
) -> None:
    from horde_users.models import ModifyUser, ModifyUserRequest

    uid = ref.id
    with handle_errors(settings, label=_option_label):
        payload = ModifyUser(**changes)  # rejected values are usage errors (exit 2), before sending
    check = f"run `horde-users user show {uid}` to see what the server applied before trying again"
    refused_hint = (
        f"a change is applied field by field: fields before the refused one may be set; check with "
        f"`horde-users user show {uid}`"
        if len(changes) > 1
        else None
    )
    with handle_errors(settings), open_client(settings) as client:
        if ref.alias is not None:
            ref.check(client.get_user(uid))
        if dry_run:
            from horde_users.cli import preview

            body = payload.get_changes()
            request = ModifyUserRequest(user_id=uid, **body)
            preview.show(
                settings, request, preview.put_roles(body), notes=_modify_notes(body), user=ref.alias
            )
            return
        with handle_errors(settings, check=check, refused_hint=refused_hint):
            reply = journaled(client, uid, "modify", payload, reason=reason, database=database)
    if settings.json:
        from horde_users.cli.output import dump, print_json

        print_json(dump(reply))
        return
    from horde_users.cli import tables

    out = tables.console()
    out.print(f"Changed user {uid}:", highlight=False)
    out.print(tables.changes_table(reply))
    if reply.proxy_passkey:
        out.print(
            "Store the new proxy passkey now: it replaced the old one, and only a moderator's key shows it "
            f"again (`horde-users --show-secrets user show {uid}`)."
        )


@user_app.command("delete")
def delete(
    ctx: typer.Context,
    user_id: UserIdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: DryRunOption = False,
    reason: ReasonOption = None,
    database: DatabaseOption = None,
    json_: JsonOption = False,
) -> None:
    """Delete a user (a soft delete; deleting an already deleted, inactive user wipes it); journaled."""
    settings = _settings(ctx, json_)
    ref = parse_user_ref(user_id)
    uid = ref.id
    check = f"run `horde-users user show {uid}`: do not delete again before checking (a second delete wipes)"
    with handle_errors(settings), open_client(settings) as client:
        user = client.get_user(uid) if (ref.alias or dry_run or not yes) else None
        if user is not None:
            ref.check(user, "nothing deleted")
        if dry_run:
            from horde_users.cli import preview
            from horde_users.models import DeleteUserRequest

            notes = (_wipe_warning(user),) if user is not None and user.deleted else ()
            roles = {"delete": preview.DELETE_ROLE}
            preview.show(settings, DeleteUserRequest(user_id=uid), roles, notes=notes, user=_name(user))
            return
        if not yes:
            _confirm_delete(user, uid)
        with handle_errors(settings, check=check):
            reply = journaled(client, uid, "delete", reason=reason, database=database)
    if settings.json:
        from horde_users.cli.output import dump, print_json

        print_json(dump(reply))
        return
    typer.echo(f"Deleted user {uid} (undo with `horde-users user undelete {uid}` unless it was wiped).")


def _name(user: Any) -> str | None:
    return getattr(user, "username", None) if user is not None else None


def _wipe_warning(user: Any) -> str:
    name = user.username or "this user"
    return (
        f"{name} is ALREADY deleted: deleting again WIPES the account for good (name, workers, shared keys; "
        "no undelete), unless it was active in the last 30 days (then the server refuses)"
    )


def _confirm_delete(user: Any, uid: str) -> None:
    """Ask first, naming the user; warn loudly when the user is already deleted (a repeat can wipe it)."""
    name = user.username or f"user {uid}"
    if user.deleted:
        question = (
            f"{name} is ALREADY deleted: deleting again WIPES the account for good (name, workers, shared "
            f"keys; no undelete). Wipe {name}?"
        )
    else:
        question = f"Delete {name}? (It can be undeleted; but a second delete can wipe the account for good.)"
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not sys.stdin.isatty():  # the answer was not echoed: end the prompt's line
        err("")
    if not confirmed:
        fail("not confirmed; nothing was deleted (pass --yes to skip the question)", EXIT_DECLINED)


@user_app.command("undelete")
def undelete(
    ctx: typer.Context,
    user_id: UserIdArg,
    reason: ReasonOption = None,
    database: DatabaseOption = None,
    dry_run: DryRunOption = False,
    json_: JsonOption = False,
) -> None:
    """Undelete a soft-deleted user (owner or moderator); journaled."""
    settings = _settings(ctx, json_)
    ref = parse_user_ref(user_id)
    uid = ref.id
    check = f"run `horde-users user show {uid}` to see whether it is still deleted"
    with handle_errors(settings), open_client(settings) as client:
        user = client.get_user(uid) if (ref.alias or dry_run) else None
        if user is not None:
            ref.check(user)
        if dry_run:
            from horde_users.cli import preview
            from horde_users.models import ModifyUserRequest

            request = ModifyUserRequest(user_id=uid, undelete=True)
            notes = (
                () if user is None or user.deleted else ("the user is not deleted: the server would refuse",)
            )
            roles = preview.put_roles({"undelete": True})
            preview.show(settings, request, roles, notes=notes, user=_name(user))
            return
        with handle_errors(settings, check=check):
            reply = journaled(client, uid, "undelete", reason=reason, database=database)
    if settings.json:
        from horde_users.cli.output import dump, print_json

        print_json(dump(reply))
        return
    typer.echo(f"Undeleted user {uid}.")
