"""How a user's record is shown: grouped rows of label and plain text, secrets reduced to "set"/"none"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from horde_users.models import UserDetailsResponse, UserKudosDetails


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    name: str = ""


@dataclass(frozen=True)
class Group:
    title: str
    rows: list[Row]


def show(value: Any) -> str:
    """One value as text: yes/no, numbers without noise, a dash when this view does not include it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def duration(seconds: int | None) -> str:
    """``account_age`` in the largest sensible unit."""
    if seconds is None:
        return "—"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            count = seconds // size
            return f"{count:,} {unit}{'' if count == 1 else 's'}"
    return "—"  # unreachable: the loop always returns


def _count(items: list[Any] | None) -> int | None:
    return None if items is None else len(items)


def user_groups(user: UserDetailsResponse) -> list[Group]:
    """The privileged view, grouped: identity, roles, kudos, limits, activity (absent fields show —)."""
    details = user.kudos_details
    monthly = user.monthly_kudos
    records = user.records
    identity = [
        Row("Username", show(user.username), "username"),
        Row("Id", show(user.id_), "id"),
        Row("Account age", duration(user.account_age), "account_age"),
        Row("Deleted", show(user.deleted), "deleted"),
        Row("Pseudonymous", show(user.pseudonymous), "pseudonymous"),
        Row("Contact", show(user.contact), "contact"),
        Row("Moderators' comment", show(user.admin_comment), "admin_comment"),
        Row("Shared keys", show(_count(user.sharedkey_ids)), "sharedkeys"),
        Row("Proxy passkey", "—" if user.proxy_passkey is None else "set (hidden)", "proxy_passkey"),
    ]
    roles = [
        Row(label, show(getattr(user, name)), name)
        for name, label in (
            ("moderator", "Moderator"),
            ("trusted", "Trusted"),
            ("flagged", "Flagged"),
            ("customizer", "Customizer"),
            ("vpn", "VPN"),
            ("service", "Service account"),
            ("education", "Education"),
            ("special", "Special"),
        )
    ]
    kudos = [
        Row("Kudos", show(user.kudos), "kudos"),
        Row("Evaluating kudos", show(user.evaluating_kudos), "evaluating_kudos"),
        Row("Monthly kudos", show(monthly.amount if monthly else None), "monthly_kudos"),
        Row("Monthly kudos last received", show(monthly.last_received if monthly else None), "last_received"),
    ]
    if details is not None:
        for name in UserKudosDetails.model_fields:
            kudos.append(Row(f"Kudos {name}", show(getattr(details, name)), f"kudos_{name}"))
    limits = [
        Row("Concurrency", show(user.concurrency), "concurrency"),
        Row("Workers invited", show(user.worker_invited), "worker_invited"),
        Row("Suspicion records", show(user.suspicious), "suspicious"),
    ]
    activity = [
        Row("Workers", show(user.worker_count), "worker_count"),
        Row("Styles", show(_count(user.styles)), "styles"),
    ]
    if user.active_generations is not None:
        running = sum(len(ids or []) for ids in user.active_generations.model_dump().values())
        activity.append(Row("Running generations", show(running), "active_generations"))
    if records is not None:
        for kind in ("usage", "contribution"):
            thing = getattr(records, kind)
            if thing is not None:
                activity.append(Row(f"{kind.title()} megapixelsteps", show(thing.megapixelsteps)))
                activity.append(Row(f"{kind.title()} tokens", show(thing.tokens)))
        for kind in ("request", "fulfillment"):
            amounts = getattr(records, kind)
            if amounts is not None:
                for media in ("image", "text", "interrogation"):
                    activity.append(Row(f"{kind.title()}s, {media}", show(getattr(amounts, media))))
    return [
        Group("Identity", identity),
        Group("Roles", roles),
        Group("Kudos", kudos),
        Group("Limits", limits),
        Group("Activity", activity),
    ]


# -- journal entries --------------------------------------------------------------------------------

_VIEW_KEYS = {"reset_suspicion": "suspicious", "undelete": "deleted", "monthly_kudos": "monthly_kudos"}
"""The view member that shows a change's effect, where it is not the change's own name."""


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class EntryRow:
    """One journal entry as the tables show it."""

    id: int
    when: str
    when_iso: str
    user_id: int
    user_label: str
    actor: str
    action: str
    diff: list[Change]
    status: str
    problem: str
    reason: str
    undoes: int | None
    undoable: bool
    bulk: bool


def _view_value(view: dict[str, Any] | None, name: str) -> Any:
    if view is None:
        return None
    value = view.get(_VIEW_KEYS.get(name, name))
    if name == "monthly_kudos" and isinstance(value, dict):
        return value.get("amount")
    return value


def entry_diff(entry: Any) -> list[Change]:
    """What an entry changed: each field's value before and after (as read around the change)."""
    if entry.action in ("delete", "undelete"):
        after = _view_value(entry.after, "deleted")
        if entry.action == "delete" and entry.after is None and entry.outcome == "done":
            return [Change("deleted", show(_view_value(entry.before, "deleted")), "wiped")]
        return [Change("deleted", show(_view_value(entry.before, "deleted")), show(after))]
    changes: list[Change] = []
    for name, sent in (entry.changes or {}).items():
        before = _view_value(entry.before, name)
        after = _view_value(entry.after, name) if entry.after is not None else None
        if name in ("kudos", "monthly_kudos") or after is None:
            label = f"{name} (sent {show(sent)})" if name in ("kudos", "monthly_kudos") else name
            changes.append(Change(label, show(before), show(after if after is not None else sent)))
        else:
            changes.append(Change(name, show(before), show(after)))
    return changes


def entry_rows(entries: list[Any], undone: set[int] | None = None) -> list[EntryRow]:
    """Journal entries for a table; ``undone`` holds the ids that an undo already reversed."""
    rows = []
    for entry in entries:
        error = entry.error or {}
        problem = " ".join(str(part) for part in (error.get("rc"), error.get("message")) if part)
        rows.append(
            EntryRow(
                id=entry.id,
                when=entry.time.strftime("%Y-%m-%d %H:%M:%S"),
                when_iso=entry.time.isoformat(),
                user_id=entry.user_id,
                user_label=entry.user_name or f"#{entry.user_id}",
                actor=entry.actor,
                action=entry.action,
                diff=entry_diff(entry),
                status=entry.outcome,
                problem=problem,
                reason=entry.reason or "",
                undoes=entry.undoes,
                undoable=entry.outcome == "done" and entry.id not in (undone or set()),
                bulk=entry.bulk_key is not None,
            )
        )
    return rows
