"""``user find``: search the local index; and the filter options ``index export`` shares with it.

The filter options are defined once (:data:`FILTER_OPTIONS`) and added to a command by
:func:`with_filters`, which hands the command a ready :class:`~horde_users.moderation.filters.Filters`.
"""

from __future__ import annotations

import enum
import functools
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from horde_users.cli.common import EXIT_USAGE, DatabaseOption, err, fail, moderation_errors, settings_of

if TYPE_CHECKING:
    from horde_users.moderation.filters import Filters
    from horde_users.moderation.index import IndexedUser, UserIndex

_F = TypeVar("_F", bound=Callable[..., Any])


class SortChoice(str, enum.Enum):
    """``--sort`` values (see horde_users.moderation.filters.SortKey)."""

    kudos = "kudos"
    age = "age"
    newest = "newest"
    name = "name"
    id = "id"


def _flag(name: str, help_text: str) -> Any:
    return Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(f"--{name}/--no-{name}", help=help_text, show_default=False),
    ]


def _opt(kind: type, decl: str, help_text: str) -> Any:
    return Annotated[Optional[kind], typer.Option(decl, help=help_text, show_default=False)]  # noqa: UP045


FILTER_OPTIONS: tuple[tuple[str, Any], ...] = (
    (
        "text",
        Annotated[
            Optional[str],  # noqa: UP045
            typer.Argument(
                metavar="TEXT",
                help="A name fragment (any case), an alias NAME#ID, or an id.",
                show_default=False,
            ),
        ],
    ),
    ("trusted", _flag("trusted", "Trusted users only (--no-trusted: untrusted only).")),
    ("flagged", _flag("flagged", "Flagged users only.")),
    ("moderator", _flag("moderator", "Moderators only.")),
    ("service", _flag("service", "Service (proxy) accounts only.")),
    ("education", _flag("education", "Education accounts only.")),
    ("customizer", _flag("customizer", "Customizers only.")),
    ("pseudonymous", _flag("pseudonymous", "Users registered without OAuth only.")),
    ("deleted", _flag("deleted", "Soft-deleted users only (--no-deleted: hide them).")),
    ("has_workers", _flag("has-workers", "Users with at least one worker (--no-has-workers: none).")),
    ("gone", _flag("gone", "Users the list no longer shows (wiped); hidden by default.")),
    (
        "include_gone",
        Annotated[bool, typer.Option("--include-gone", help="Show gone users too.")],
    ),
    ("min_kudos", _opt(float, "--min-kudos", "At least this many kudos.")),
    ("max_kudos", _opt(float, "--max-kudos", "At most this many kudos.")),
    ("older_than", _opt(str, "--older-than", "Accounts older than this age (30d, 12h, 90m, 2w, 1y).")),
    ("newer_than", _opt(str, "--newer-than", "Accounts newer than this age.")),
)
_DEFAULTS: dict[str, Any] = {"include_gone": False}


def build_filters(values: dict[str, Any]) -> Filters:
    """The :class:`Filters` of the parsed options (a bad age or range: a usage error, exit 2)."""
    from horde_users.moderation.filters import FilterError, Filters, parse_age

    gone = values["gone"]
    if values["include_gone"]:
        if gone is not None:
            fail("--include-gone cannot be combined with --gone/--no-gone", EXIT_USAGE)
    elif gone is None:
        gone = False
    try:
        return Filters(
            text=values["text"],
            trusted=values["trusted"],
            flagged=values["flagged"],
            moderator=values["moderator"],
            service=values["service"],
            education=values["education"],
            customizer=values["customizer"],
            pseudonymous=values["pseudonymous"],
            deleted=values["deleted"],
            has_workers=values["has_workers"],
            gone=gone,
            min_kudos=values["min_kudos"],
            max_kudos=values["max_kudos"],
            older_than=None if values["older_than"] is None else parse_age(values["older_than"]),
            newer_than=None if values["newer_than"] is None else parse_age(values["newer_than"]),
        )
    except FilterError as exc:
        fail(str(exc), EXIT_USAGE)


def with_filters(command: _F) -> _F:
    """Add the filter options to ``command``, which receives them as one ``filters`` argument."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "filters"]
    added = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=_DEFAULTS.get(name), annotation=annotation
        )
        for name, annotation in FILTER_OPTIONS
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name, _ in FILTER_OPTIONS}
        return command(*args, filters=build_filters(values), **kwargs)

    positional = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*positional, *added, *keyword]
    )
    return wrapper  # type: ignore[return-value]


@contextmanager
def open_index(database: str | None) -> Iterator[UserIndex]:
    """The index at ``--database``; database failures become one ``error:`` line (exit 1)."""
    from horde_users.moderation.errors import DatabaseError
    from horde_users.moderation.index import UserIndex

    try:
        index = UserIndex.open(database)
    except DatabaseError as exc:
        fail(str(exc), EXIT_USAGE, "check --database or HORDE_USERS_DATABASE")
    try:
        with moderation_errors():
            yield index
    finally:
        index.engine.dispose()


def require_synced(index: UserIndex) -> str:
    """Stop with one line when the index was never synced; else a line on how fresh it is."""
    state = index.state()
    if state.synced_at is None and state.users == 0:
        fail(
            "the index is empty: it was never synced",
            EXIT_USAGE,
            "run `horde-users index sync` first (it reads every page of the users list)",
        )
    if state.synced_at is None:
        page = state.unfinished_next_page
        return f"index not fully synced yet (an unfinished sync stopped before page {page})"
    line = f"index synced {ago(time.time() - state.synced_at)} from {state.source}"
    if state.unfinished_run is not None:
        line += f"; a newer sync is unfinished (at page {state.unfinished_next_page})"
    return line


def ago(seconds: float) -> str:
    """``just now``, ``4 min ago``, ``3 h ago``, ``2 days ago``."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


@with_filters
def find(
    ctx: typer.Context,
    filters: Any,  # a Filters, built by with_filters (not imported here: the CLI starts light)
    sort: Annotated[SortChoice, typer.Option("--sort", help="Order of the results.")] = SortChoice.kudos,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="At most N users (0: all).")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip the first N users.")] = 0,
    json_: Annotated[
        bool, typer.Option("--json", help="A JSON array of the users as the API sent them.")
    ] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="CSV, one row per user.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Search the local index (run `horde-users index sync` first); nothing is sent to the server."""
    settings = settings_of(ctx)
    as_json = json_ or settings.json
    if as_json and csv_:
        fail("choose one of --json and --csv", EXIT_USAGE)
    with open_index(database) as index:
        freshness = require_synced(index)
        users = index.find(filters, sort=sort.value, limit=limit or None, offset=offset, reverse=reverse)
    if as_json:
        from horde_users.cli.output import print_json

        print_json([user.public for user in users])
    elif csv_:
        import sys

        from horde_users.moderation.export import write_users

        write_users(users, "csv", sys.stdout)
    else:
        _print_table(users, freshness, limit)


def _print_table(users: list[IndexedUser], freshness: str, limit: int) -> None:
    from rich.table import Table
    from rich.text import Text

    from horde_users.cli import tables
    from horde_users.cli.output import fmt_age, fmt_number

    out = tables.console()
    if not users:
        out.print("(no users match)")
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name, justify in (("id", "right"), ("user", "left"), ("kudos", "right"), ("roles", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        table.add_column("workers", justify="right")
        table.add_column("age", justify="right")
        now = time.time()
        for user in users:
            age = user.age_now(now)
            state = " (gone)" if user.gone else ""
            table.add_row(
                str(user.id),
                Text(user.username + state),
                fmt_number(user.kudos),
                Text(tables.short_roles(user), style="red" if user.deleted or user.gone else ""),
                str(user.worker_count),
                fmt_age(None if age is None else int(age)),
            )
        out.print(table)
    shown = f"{len(users)} user{'s' if len(users) != 1 else ''}"
    if limit and len(users) == limit:
        shown += f" (the first {limit}; --limit to see more)"
    err(f"{shown}; {freshness}")
