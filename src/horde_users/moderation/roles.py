"""Which role each field of a change needs (docs/users-api.md §6.1, §6.3), in one table.

The server checks the roles itself; the toolkit only uses this table to show, before anything is
sent, what a change or a bulk plan needs, and to know which rows a refused role would refuse too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Role(str, Enum):
    """Who may send a field: an admin, a moderator, or the owner of the account (or any moderator)."""

    ADMIN = "admin"
    MODERATOR = "moderator"
    OWNER = "owner"


FIELD_ROLES: dict[str, Role] = {
    "kudos": Role.ADMIN,
    "monthly_kudos": Role.ADMIN,
    "usage_multiplier": Role.ADMIN,
    "moderator": Role.ADMIN,
    "concurrency": Role.MODERATOR,
    "worker_invited": Role.MODERATOR,
    "trusted": Role.MODERATOR,
    "flagged": Role.MODERATOR,
    "customizer": Role.MODERATOR,
    "vpn": Role.MODERATOR,
    "service": Role.MODERATOR,
    "education": Role.MODERATOR,
    "special": Role.MODERATOR,
    "reset_suspicion": Role.MODERATOR,
    "admin_comment": Role.MODERATOR,
    "public_workers": Role.OWNER,
    "username": Role.OWNER,
    "contact": Role.OWNER,
    "generate_proxy_passkey": Role.OWNER,
    "undelete": Role.OWNER,
    "filtered": Role.OWNER,
}
"""Every field of a PUT body and the role it needs; ``filtered`` is accepted and ignored by the server."""

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
