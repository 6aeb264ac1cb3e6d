"""Who may change what: the PUT fields in the order the server applies them, and the role each needs.

One table for the whole project (docs/users-api.md §6.1 and §6.3): the sandbox enforces it, the
moderation toolkit plans with it, and the command line's ``--dry-run`` shows it. Plain data, cheap to
import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    """Who may send a field: an admin, a moderator, or the account's owner (or any moderator)."""

    ADMIN = "admin"
    MODERATOR = "moderator"
    OWNER = "owner"


@dataclass(frozen=True)
class Operation:
    """One PUT field, in the server's order, with the role it needs."""

    member: str
    role: Role
    ignored_on_anonymous: bool = False
    """Role setters and ``reset_suspicion`` do nothing when the target is the anonymous user."""
    refuses_anonymous_caller: bool = False
    """Fields that refuse an anonymous caller (after the role check) with ``AnonForbiddenUserMod``."""
    repeatable: bool = True
    """Sets an absolute value, so sending it twice changes nothing more (docs/users-api.md §11)."""


OPERATIONS: tuple[Operation, ...] = (
    Operation("kudos", Role.ADMIN, repeatable=False),  # a delta
    Operation("monthly_kudos", Role.ADMIN, repeatable=False),  # a delta
    Operation("usage_multiplier", Role.ADMIN),
    Operation("moderator", Role.ADMIN, ignored_on_anonymous=True),
    Operation("concurrency", Role.MODERATOR),
    Operation("worker_invited", Role.MODERATOR),
    Operation("trusted", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("flagged", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("customizer", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("vpn", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("service", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("education", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("special", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("reset_suspicion", Role.MODERATOR, ignored_on_anonymous=True),
    Operation("admin_comment", Role.MODERATOR, refuses_anonymous_caller=True),
    Operation("public_workers", Role.OWNER, ignored_on_anonymous=True, refuses_anonymous_caller=True),
    Operation("username", Role.OWNER, refuses_anonymous_caller=True),
    Operation("contact", Role.OWNER, refuses_anonymous_caller=True),
    Operation("generate_proxy_passkey", Role.OWNER, repeatable=False),  # a new passkey each time
    Operation("undelete", Role.OWNER, repeatable=False),  # refused when repeated
)
"""Every field the server acts on, in the order it applies them."""

FIELD_ROLES: dict[str, Role] = {op.member: op.role for op in OPERATIONS} | {"filtered": Role.OWNER}
"""Every field of a PUT body and the role it needs; ``filtered`` is accepted and ignored by the server."""

REPEATABLE_FIELDS = frozenset(op.member for op in OPERATIONS if op.repeatable) | {"filtered"}
"""PUT fields a client may send again after an ambiguous failure (a timeout, a dropped connection)."""

ROLE_REFUSALS: dict[str, Role] = {"NotAdmin": Role.ADMIN, "NotModerator": Role.MODERATOR}
"""The refusal codes that say the caller lacks a role."""


def required_role(field: str) -> Role:
    """The role ``field`` needs; ``KeyError`` for a name that is not a PUT field."""
    return FIELD_ROLES[field]


def roles_needed(fields: Iterable[str], *, own_account: bool) -> set[Role]:
    """The roles a change of ``fields`` needs: owner fields need nothing more on one's own account."""
    needed = {FIELD_ROLES[name] for name in fields}
    if own_account:
        needed.discard(Role.OWNER)
    elif Role.OWNER in needed:
        needed.discard(Role.OWNER)
        needed.add(Role.MODERATOR)
    return needed


def describe_roles(roles: set[Role]) -> str:
    """``admin+moderator``, ``moderator``, or ``owner`` when no role is needed."""
    order = [Role.ADMIN, Role.MODERATOR]
    return "+".join(role.value for role in order if role in roles) or Role.OWNER.value
