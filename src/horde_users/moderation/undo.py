"""Undo a journaled change: send its inverse, journaled itself and linked to the entry it reverses.

The inverse of a change (docs/users-api.md §6.3, §7):

- an absolute field (a role, ``concurrency``, ``worker_invited``, ``username``, ``contact``,
  ``admin_comment``) goes back to its value in the view read before the change; side effects go back
  too (``moderator: true`` also set ``trusted``; ``education`` moved ``concurrency``);
- a ``kudos`` grant becomes the opposite grant (the balance floor may keep the result above the
  old balance);
- a delete becomes an undelete, an undelete a (soft) delete.

Some changes cannot be undone: ``reset_suspicion`` and ``generate_proxy_passkey`` (the old records or
passkey are gone), ``monthly_kudos`` (a credit was paid at once, and a positive inverse would pay
one), ``usage_multiplier`` and ``public_workers`` (no view shows their old value), a delete that
wiped the account, and changes that were refused or whose outcome is unknown. A change the account
has moved on from (a value it set differs now from the view read after it) is refused too, unless
forced; an undelete is never undone on an account that is deleted again (a delete would wipe it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from horde_users.moderation.changes import Actor, send_change, view_data
from horde_users.moderation.errors import ModerationError
from horde_users.moderation.journal import Action, Journal, JournalEntry
from horde_users.roles import OPERATIONS, Role, roles_needed

if TYPE_CHECKING:
    from horde_users.client import HordeUsers

NOT_UNDOABLE: dict[str, str] = {
    "reset_suspicion": "reset_suspicion removed the suspicion records for good",
    "generate_proxy_passkey": "generate_proxy_passkey replaced the old passkey for good",
    "monthly_kudos": "monthly_kudos cannot be reversed (a credit is paid at once, and so would an inverse)",
    "usage_multiplier": "usage_multiplier is in no view, so its earlier value is unknown",
    "public_workers": "public_workers is in no view, so its earlier value is unknown",
}
"""Fields whose change cannot be reversed, and why."""

ABSOLUTE_FIELDS = tuple(op.member for op in OPERATIONS if op.repeatable and op.member not in NOT_UNDOABLE)
"""Fields that set a value the view shows under the same name (``username`` as ``name#id``), in the
server's order."""


class UndoRefused(ModerationError):
    """The entry cannot be undone (or has moved on, and the undo was not forced); nothing was sent."""

    refusal = True


@dataclass(frozen=True)
class UndoPlan:
    """What undoing ``entry`` would send, and why it may not.

    ``refusals`` stop the undo for good; ``conflicts`` (the account moved on, or the entry was
    already undone) stop it unless forced.
    """

    entry: JournalEntry
    action: Action | None
    changes: dict[str, Any] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    roles: set[Role] = field(default_factory=set)

    def allowed(self, *, force: bool = False) -> bool:
        """Whether the undo may be sent (``force`` overrides conflicts, never refusals)."""
        return self.action is not None and not self.refusals and (force or not self.conflicts)

    def describe(self) -> str:
        """One line saying what would be sent."""
        target = self.entry.user_name or f"user {self.entry.user_id}"
        if self.action == "modify":
            body = ", ".join(f"{name}={value!r}" for name, value in self.changes.items())
            return f"undo #{self.entry.id}: set {body} on {target}"
        if self.action is not None:
            return f"undo #{self.entry.id}: {self.action} {target}"
        return f"undo #{self.entry.id}: nothing to send"

    def problems(self, *, force: bool = False) -> list[str]:
        """The reasons the undo would not be sent (conflicts left out when forced)."""
        return self.refusals + ([] if force else self.conflicts)


def plan_undo(journal: Journal, client: HordeUsers, entry_id: int) -> UndoPlan:
    """Plan the undo of entry ``entry_id``: its inverse, checked against the account as it is now."""
    entry = journal.get(entry_id)
    if entry.outcome != "done":
        what = {"refused": "was refused", "unknown": "has an unknown outcome", "pending": "never completed"}
        return UndoPlan(
            entry, None, refusals=[f"entry #{entry.id} {what[entry.outcome]}: nothing known to undo"]
        )
    if entry.action == "delete":
        action, changes, refusals, checks = _invert_delete(entry)
    elif entry.action == "undelete":
        action, changes, refusals, checks = "delete", {}, [], {"deleted": False}
    else:
        action, changes, refusals, checks = _invert_modify(entry)
    conflicts = [f"already undone by #{e.id}" for e in journal.undone_by(entry.id) if e.outcome == "done"]
    if not refusals:
        current = view_data(client.get_user(entry.user_id)) or {}
        conflicts += _moved_on(entry, current, checks)
        if action == "delete" and current.get("deleted"):
            refusals.append("the account is deleted again: a delete now would wipe it for good")
    own = entry.user_id == entry.actor_id
    roles = roles_needed(changes, own_account=own) if action == "modify" else set()
    if action == "delete" and not own:
        roles = {Role.MODERATOR}
    return UndoPlan(entry, action if not refusals else None, changes, refusals, conflicts, roles)


def apply_undo(
    client: HordeUsers,
    journal: Journal,
    plan: UndoPlan,
    *,
    reason: str | None,
    force: bool = False,
    actor: Actor | None = None,
) -> JournalEntry:
    """Send the undo ``plan`` describes, journaled with ``undoes`` set; returns the completed entry.

    Raises :class:`UndoRefused` (nothing sent) when the plan does not allow it.
    """
    if not plan.allowed(force=force) or plan.action is None:
        raise UndoRefused(f"cannot undo #{plan.entry.id}: " + "; ".join(plan.problems(force=force)))
    result = send_change(
        client,
        journal,
        plan.entry.user_id,
        plan.action,
        plan.changes or None,
        reason=reason,
        actor=actor,
        undoes=plan.entry.id,
    )
    return result.entry


# -- inverses --------------------------------------------------------------------------------------

Checks = dict[str, Any]
"""View paths (``deleted``, ``kudos_details.admin``) and the value each must still have now."""


def _invert_delete(entry: JournalEntry) -> tuple[Action | None, dict[str, Any], list[str], Checks]:
    if (entry.before or {}).get("deleted"):
        return None, {}, ["the account was already deleted, so this delete wiped it for good"], {}
    return "undelete", {}, [], {"deleted": True}


def _invert_modify(entry: JournalEntry) -> tuple[Action | None, dict[str, Any], list[str], Checks]:
    before, after, sent = entry.before or {}, entry.after or {}, entry.changes
    refusals = [NOT_UNDOABLE[name] for name in sent if name in NOT_UNDOABLE]
    if "undelete" in sent:
        refusals.append("an undelete sent with other fields cannot be undone (undo it with `user delete`)")
    inverse: dict[str, Any] = {}
    checks: Checks = {}
    if "kudos" in sent:
        grant = math.trunc(float(sent["kudos"]))
        if grant:
            inverse["kudos"] = -grant
            checks["kudos_details.admin"] = _path(after, "kudos_details.admin")
    for name in ABSOLUTE_FIELDS:
        if name not in sent:
            continue
        old = _view_value(before, name)
        if old is None:
            refusals.append(f"{name} was {_unseen(name, before)} before, so it cannot be set back")
        elif old != sent[name]:
            inverse[name] = old
            checks[name] = after.get(name)
    # side effects of the same PUT (docs/users-api.md §6.3 rows 4 and 12)
    if "moderator" in sent and "trusted" not in sent and before.get("trusted") != after.get("trusted"):
        inverse["trusted"], checks["trusted"] = before.get("trusted"), after.get("trusted")
    if (
        "education" in sent
        and "concurrency" not in sent
        and before.get("concurrency") != after.get("concurrency")
    ):
        inverse["concurrency"], checks["concurrency"] = before.get("concurrency"), after.get("concurrency")
    if refusals:
        return None, {}, refusals, {}
    if not inverse:
        return None, {}, ["the change set nothing that differs from before: nothing to undo"], {}
    return "modify", inverse, [], checks


def _view_value(view: dict[str, Any], name: str) -> Any:
    value = view.get(name)
    if name == "username" and isinstance(value, str):
        return value.rpartition("#")[0] or value
    return value


def _unseen(name: str, before: dict[str, Any]) -> str:
    if name in ("contact", "admin_comment") and "kudos_details" in before:
        return "empty or not visible to the actor"
    return "not visible to the actor"


def _path(view: dict[str, Any], path: str) -> Any:
    value: Any = view
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _moved_on(entry: JournalEntry, current: dict[str, Any], checks: Checks) -> list[str]:
    if entry.after is None and checks:
        return ["no view was read after the change, so it is unknown whether the account moved on"]
    conflicts = []
    for path, expected in checks.items():
        now = _path(current, path)
        if now != expected:
            conflicts.append(
                f"the account has moved on: {path} is {now!r} now, {expected!r} after #{entry.id}"
            )
    return conflicts
