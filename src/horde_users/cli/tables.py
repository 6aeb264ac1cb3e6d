"""Tables for people (rich): one user, a list of users streamed in batches, and what a change did.

Secrets (``proxy_passkey``, ``sharedkey_ids``) appear only with ``--show-secrets``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from horde_users.cli.output import ROLE_FLAGS, fmt_age, fmt_number, fmt_value, nonzero, roles

if TYPE_CHECKING:
    from horde_users.models import ModifyUserResponse, UserDetailsResponse


class _StdoutConsole(Console):
    """A console that leaves a closed pipe to the app (rich alone would exit with status 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


_stdout: Console | None = None


def console() -> Console:
    """The stdout console; wide when piped so tables are not cut at 80 columns."""
    global _stdout
    if _stdout is None or _stdout.file is not sys.stdout:
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
        _stdout = _StdoutConsole(file=sys.stdout, width=width, soft_wrap=False, highlight=False)
    return _stdout


def _kv_table(title: str | None = None) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False, title=title, title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    return table


def user_table(user: UserDetailsResponse, *, show_secrets: bool) -> Table:
    """One user as a two-column table; fields the view does not include are left out."""
    table = _kv_table()

    def row(label: str, value: Any) -> None:
        table.add_row(label, Text(value if isinstance(value, str) else fmt_value(value)))

    row("user", user.username or "-")
    row("id", user.id_)
    row("kudos", fmt_number(user.kudos))
    if user.evaluating_kudos is not None:
        row("evaluating kudos", fmt_number(user.evaluating_kudos))
    row("roles", roles(user))
    if user.concurrency is not None:
        row("concurrency", user.concurrency)
    if user.worker_invited is not None:
        row("worker invited", user.worker_invited)
    if user.worker_count is not None:
        row("workers", user.worker_count)
    if user.worker_ids:
        row("worker ids", user.worker_ids)
    if user.styles:
        row("styles", ", ".join(f"{s.name} ({s.type_})" for s in user.styles))
    if user.monthly_kudos is not None:
        monthly = f"{fmt_number(user.monthly_kudos.amount)} per month"
        if user.monthly_kudos.last_received is not None:
            monthly += f", last received {user.monthly_kudos.last_received:%Y-%m-%d %H:%M} UTC"
        row("monthly kudos", monthly)
    if user.suspicious is not None:
        row("suspicious", user.suspicious)
    if user.contact is not None:
        row("contact", user.contact)
    if user.admin_comment is not None:
        row("admin comment", user.admin_comment)
    if user.account_age is not None:
        age = fmt_age(user.account_age)
        row("account age", age if user.account_age < 60 else f"{age} ({user.account_age:,} s)")
    if user.kudos_details is not None:
        details = nonzero(user.kudos_details.model_dump())
        row("kudos details", fmt_value(details) if details else "all 0")
    if user.records is not None:
        records = {
            kind: nonzero(sub.model_dump())
            for kind in ("usage", "contribution", "fulfillment", "request", "style")
            if (sub := getattr(user.records, kind, None)) is not None
        }
        shown = {kind: values for kind, values in records.items() if values}
        row("records", "; ".join(f"{k}: {fmt_value(v)}" for k, v in shown.items()) if shown else "all 0")
    if user.active_generations is not None:
        gens = {k: len(v) for k, v in user.active_generations.model_dump(exclude_none=True).items() if v}
        row("active generations", fmt_value(gens) if gens else "(none)")
    if user.sharedkey_ids is not None:
        if show_secrets:
            row("shared keys", user.sharedkey_ids)
        else:
            row("shared keys", f"{len(user.sharedkey_ids)} (hidden; --show-secrets)")
    if user.proxy_passkey is not None:
        row("proxy passkey", user.proxy_passkey if show_secrets else "set (hidden; --show-secrets)")
    for name, value in (user.model_extra or {}).items():
        row(name, value)
    return table


SHORT_ROLES = {"moderator": "mod", "education": "edu", "pseudonymous": "pseudo"}

# name, width (None: shares what the terminal has left), justify
LIST_COLUMNS: tuple[tuple[str, int | None, str], ...] = (
    ("id", 6, "right"),
    ("user", None, "left"),
    ("kudos", 12, "right"),
    ("roles", None, "left"),
    ("concurrency", 11, "right"),
    ("age", 8, "right"),
)


def short_roles(user: Any) -> str:
    """Roles with short labels, for the list."""
    held = [SHORT_ROLES.get(label, label) for attr, label in ROLE_FLAGS if getattr(user, attr, None)]
    return ", ".join(held) if held else "-"


class UserRows:
    """Prints users as aligned rows as they arrive (header once), for one page or for all of them.

    Column widths are fixed from the console width up front, so every batch lines up with the first.
    """

    def __init__(self, out: Console) -> None:
        self.out = out
        self.count = 0
        fixed = sum(width or 0 for _, width, _ in LIST_COLUMNS) + 2 * (len(LIST_COLUMNS) - 1)
        spare = max(out.width - fixed, 20)
        user_width = min(max(spare * 3 // 5, 10), 32)
        self.widths = {"user": user_width, "roles": min(max(spare - user_width, 10), 40)}

    def _table(self, header: bool) -> Table:
        table = Table(box=None, show_header=header, pad_edge=False, header_style="bold")
        for name, width, justify in LIST_COLUMNS:
            size = width if width is not None else self.widths[name]
            table.add_column(
                name,
                min_width=size,
                max_width=size,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                overflow="ellipsis",
            )
        return table

    def add(self, users: Iterable[UserDetailsResponse]) -> None:
        table = self._table(header=self.count == 0)
        for user in users:
            table.add_row(
                str(user.id_ if user.id_ is not None else "-"),
                Text(user.username or "-"),
                fmt_number(user.kudos),
                Text(short_roles(user), style="red" if user.deleted else ""),
                fmt_value(user.concurrency),
                fmt_age(user.account_age),
            )
            self.count += 1
        if table.row_count:
            self.out.print(table)

    def finish(self) -> None:
        if self.count == 0:
            self.out.print("(no users)")


def changes_table(reply: ModifyUserResponse) -> Table:
    """What a PUT changed, as the server echoed it (a new proxy passkey included: it is asked for)."""
    table = _kv_table()
    for name, value in reply.model_dump(mode="json", exclude_none=True).items():
        label = {"new_kudos": "kudos balance", "new_suspicion": "suspicion count"}.get(name, name)
        table.add_row(
            label.replace("_", " "), Text(fmt_value(value) if not isinstance(value, str) else value)
        )
    return table
