"""The sandbox's decisions as pure functions over plain data (no I/O, no state).

Who sees what (docs/users-api.md §5), the error catalogue (§3.3), what a PUT does (§6.3) as a
:class:`Plan` of effects, the DELETE decision (§7) and the normalisation of ids, ``page`` and ``sort``
(§4.1). The service (:mod:`horde_users.sandbox.service`) carries the decisions out on the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from horde_users.endpoints import MAX_PAGE, MAX_USER_ID
from horde_users.roles import OPERATIONS as OPERATIONS
from horde_users.roles import Operation as Operation
from horde_users.roles import Role as Role
from horde_users.sandbox.domain import (
    DEFAULT_CONCURRENCY,
    EDUCATION_CONCURRENCY,
    EXACT_KUDOS_LIMIT,
    USERNAME_MAX,
    WIPE_AFTER,
    to_naive_utc,
)
from horde_users.sandbox.domain import StyleData as StyleData
from horde_users.sandbox.domain import UserData as UserData

# ------------------------------------------------------------------------------------------ errors


@dataclass(frozen=True)
class ApiError:
    """An error answer: ``status`` and the JSON body (shape a when ``rc`` is set, else e.g. b)."""

    status: int
    message: str
    rc: str | None = None
    errors: Mapping[str, str] | None = None

    def body(self) -> dict[str, Any]:
        if self.errors is not None:
            return {"errors": dict(self.errors), "message": self.message}
        if self.rc is None:
            return {"message": self.message}
        return {"message": self.message, "rc": self.rc}


VALIDATION_FAILED = "Input payload validation failed"
MISSING_PUT_KEY = "The Admin API . Missing required parameter in the HTTP headers"
MISSING_DELETE_KEY = "The Moderator or User API key. Missing required parameter in the HTTP headers"
NOT_DIGITS_ID = "Please use only the numerical part of the userID. E.g. the '1' in 'db0#1'"
UNREADABLE_BODY = "The browser (or proxy) sent a request that this server could not understand."

_MESSAGES: dict[str, tuple[int, str]] = {
    "InvalidAPIKey": (
        401,
        "No user matching sent API Key. "
        "Have you remembered to register at https://stablehorde.net/register ?",
    ),
    "NotAdmin": (403, "You're not an admin. Sod off!"),
    "NotModerator": (403, "You're not a mod. BTFO!"),
    "AnonForbiddenUserMod": (403, "Anonymous user is forbidden from performing this operation"),
    "NonServiceForbidden": (403, "Only Service Accounts can set a proxy passkey"),
    "NoUserModSelected": (400, "No usermod operations selected!"),
    "TooLongUserName": (400, "The specified username is too long. Please stay below 30"),
    "ProfaneUserName": (
        400,
        "As our API is public, we do not allow profanity in the username, please try again.",
    ),
    "ProfaneUserContact": (
        400,
        "As our API is public, we do not allow profanity in the user contact, please try again.",
    ),
    "ProfaneAdminComment": (
        400,
        "As our API is public, we do not allow profanity in the user admin_comment, please try again.",
    ),
    "UserNotDeleted": (400, "User is not deleted, cannot undelete!"),
    "AnonForbiddenUser": (403, "Anonymous user is forbidden from performing this operation"),
    "CannotDeleteMod": (403, "You cannot delete a user that is a moderator. Please contact an admin."),
    "NotUserOrMod": (403, "Only the user themselves or a moderator can delete a user"),
}


def rc_error(rc: str) -> ApiError:
    """The fixed-message API error (shape a) of ``rc`` (§3.3)."""
    status, message = _MESSAGES[rc]
    return ApiError(status, message, rc)


def user_not_found(user_id_text: str) -> ApiError:
    return ApiError(404, f"User with ID '{user_id_text}' not found.", "UserNotFound")


def api_key_not_found(key: str) -> ApiError:
    return ApiError(404, f"User with api_key '{key}' not found.", "UserNotFound")


def cannot_wipe(last_active: datetime) -> ApiError:
    until = last_active + WIPE_AFTER
    return ApiError(
        403,
        "You cannot permanently wipe a user that was active in the last 30 days. "
        f"Try again after {until.replace(tzinfo=None)}",
        "CannotWipeActiveUser",
    )


def inexact_kudos(member: str, value: float) -> ApiError:
    """A kudos grant whose result the float balance cannot hold exactly (sandbox only, shape b)."""
    return validation_error(
        {
            member: f"{value!r} would take the kudos balance or kudos_details to 2**53 "
            f"({EXACT_KUDOS_LIMIT}) or beyond, where kudos are no longer exact; nothing was changed"
        }
    )


def validation_error(errors: Mapping[str, str]) -> ApiError:
    return ApiError(400, VALIDATION_FAILED, errors=errors)


def unreadable_body() -> ApiError:
    return ApiError(400, UNREADABLE_BODY)


# ----------------------------------------------------------------------------------- privileges


def privilege_level(caller: UserData | None, target_id: int) -> int:
    """0 public, 1 own view, 2 moderator view (§5.1); integer ids are compared (§10)."""
    if caller is None:
        return 0
    if caller.moderator:
        return 2
    return 1 if caller.id == target_id else 0


def is_digit_id(text: str) -> bool:
    """The GET/DELETE digit check: ASCII ``0``-``9`` only, at least one."""
    return bool(text) and all("0" <= ch <= "9" for ch in text)


def id_in_range(value: int) -> bool:
    return 0 <= value <= MAX_USER_ID


def digit_id(text: str) -> int | None:
    """GET/DELETE, after the digit check: the integer id, or None when it is out of range."""
    stripped = text.lstrip("0") or "0"
    if len(stripped) > 10:
        return None
    value = int(stripped)
    return value if id_in_range(value) else None


def put_path_id(text: str) -> int | None:
    """PUT converts the path with ``int()`` (§4.3 step 2); None when that fails or is out of range."""
    try:
        value = int(text)
    except (ValueError, OverflowError):
        return None
    return value if id_in_range(value) else None


# ------------------------------------------------------------------------------------ listing


@dataclass(frozen=True)
class PageError(Exception):
    """A ``page`` query value that ``int()`` refuses (§3.2)."""

    raw: str

    @property
    def api_error(self) -> ApiError:
        return validation_error(
            {
                "page": "Which page of results to return. Each page has 25 users. "
                f"invalid literal for int() with base 10: {self.raw!r}"
            }
        )


def normalise_page(raw: str | None) -> int | None:
    """The page to serve, or None for "past 10000, answer ``[]``"; raises PageError (§4.1)."""
    if raw is None:
        return 1
    try:
        page = int(raw)
    except (ValueError, OverflowError):
        raise PageError(raw) from None
    if page > MAX_PAGE:
        return None
    return max(page, 1)


def normalise_sort(raw: str | None) -> Literal["kudos", "age"]:
    """``kudos`` or ``age`` (case-sensitive); anything else means ``kudos``."""
    return "age" if raw == "age" else "kudos"


# ------------------------------------------------------------------------------ PUT operations


def check_operation(
    op: Operation, caller: UserData, target_id: int, caller_is_admin: bool
) -> ApiError | None:
    """The role check of one row, then its anonymous-caller check (§6.3)."""
    if op.role is Role.ADMIN and not caller_is_admin:
        return rc_error("NotAdmin")
    if op.role is Role.MODERATOR and not caller.moderator:
        return rc_error("NotModerator")
    if op.role is Role.OWNER and not (caller.moderator or caller.id == target_id):
        return rc_error("NotModerator")
    if op.refuses_anonymous_caller and caller.is_anonymous:
        return rc_error("AnonForbiddenUserMod")
    return None


def truncate_kudos(value: float) -> int:
    """Row 1: the kudos delta is truncated toward zero."""
    return int(value)


def education_concurrency(education: bool, concurrency: int) -> int | None:
    """Row 12's side effect: the new concurrency, or None when it does not change."""
    if education and concurrency < EDUCATION_CONCURRENCY:
        return EDUCATION_CONCURRENCY
    if not education and concurrency == EDUCATION_CONCURRENCY:
        return DEFAULT_CONCURRENCY
    return None


# ----------------------------------------------------------------------------------- PUT plan


@dataclass(frozen=True)
class SetFields:
    """Store these column values; the reply shows ``echo``."""

    values: Mapping[str, Any]
    echo: Mapping[str, Any]


@dataclass(frozen=True)
class Echo:
    """Nothing to store (a role row on the anonymous user, an unchanged text); the reply shows ``echo``."""

    echo: Mapping[str, Any]


@dataclass(frozen=True)
class AddKudos:
    """Row 1: credit ``delta`` (floor applied, ``kudos_details.admin``); the reply shows ``new_kudos``.

    ``member`` and ``sent`` name the refusal when the balance could not hold the result exactly.
    """

    delta: int
    member: str
    sent: float


@dataclass(frozen=True)
class AddMonthlyKudos:
    """Row 2: move the monthly allowance by ``delta`` (a positive one also credits the balance now)."""

    delta: int
    member: str = "monthly_kudos"


@dataclass(frozen=True)
class ResetSuspicion:
    """Row 14: remove every suspicion record; the reply shows ``new_suspicion``."""


@dataclass(frozen=True)
class NewProxyPasskey:
    """Row 19: issue a new proxy passkey; the reply shows it."""


@dataclass(frozen=True)
class Undelete:
    """Row 20: clear the deleted mark; the reply shows ``undeleted``."""


Effect = SetFields | Echo | AddKudos | AddMonthlyKudos | ResetSuspicion | NewProxyPasskey | Undelete


@dataclass(frozen=True)
class Plan:
    """What a PUT does: ``effects`` in order, then ``refusal`` if one row refused.

    As on the real server the rows are not atomic: the effects before a refusal are still applied.
    """

    effects: tuple[Effect, ...] = ()
    refusal: ApiError | None = None


def needs_admin(changes: Mapping[str, Any]) -> bool:
    """Whether a change carries an admin row (only then are the admins looked up)."""
    return any(op.role is Role.ADMIN and op.member in changes for op in OPERATIONS)


_PROFANE_TEXT = {"admin_comment": "ProfaneAdminComment", "contact": "ProfaneUserContact"}


def plan_modification(
    caller: UserData,
    target: UserData,
    changes: Mapping[str, Any],
    *,
    caller_is_admin: bool,
    is_profane: Callable[[str], bool],
    sanitise: Callable[[str], str],
) -> Plan:
    """The §6.3 rows present in ``changes`` (a validated body), in the server's order, as effects.

    Each row checks its role, then its own conditions; the first refusal ends the plan. A body with no
    row at all (only ``filtered``) is refused with ``NoUserModSelected``.
    """
    effects: list[Effect] = []

    def refused(error: ApiError) -> Plan:
        return Plan(tuple(effects), error)

    for op in OPERATIONS:
        member = op.member
        if member not in changes:
            continue
        error = check_operation(op, caller, target.id, caller_is_admin)
        if error is not None:
            return refused(error)
        value = changes[member]
        skip = op.ignored_on_anonymous and target.is_anonymous
        if skip:
            shown = target.suspicious if member == "reset_suspicion" else getattr(target, member)
            effects.append(Echo({"new_suspicion" if member == "reset_suspicion" else member: shown}))
        elif member == "kudos":
            effects.append(AddKudos(truncate_kudos(value), member, value))
        elif member == "monthly_kudos":
            effects.append(AddMonthlyKudos(value))
        elif member == "moderator":
            granted = {"moderator": value, **({"trusted": True} if value else {})}  # a moderator is trusted
            effects.append(SetFields(granted, {member: value}))
        elif member == "education":
            new_concurrency = None
            if "concurrency" not in changes:
                new_concurrency = education_concurrency(value, target.concurrency)
            extra = {} if new_concurrency is None else {"concurrency": new_concurrency}
            effects.append(SetFields({**extra, "education": value}, {**extra, "education": value}))
        elif member == "reset_suspicion":
            effects.append(ResetSuspicion())
        elif member in _PROFANE_TEXT:
            if value == getattr(target, member):
                effects.append(Echo({member: value}))
                continue
            if is_profane(value):
                return refused(rc_error(_PROFANE_TEXT[member]))
            clean = sanitise(value)
            effects.append(SetFields({member: clean}, {member: clean}))
        elif member == "username":
            if is_profane(value):
                return refused(rc_error("ProfaneUserName"))
            if len(value) > USERNAME_MAX:
                return refused(rc_error("TooLongUserName"))
            clean = sanitise(value)
            effects.append(SetFields({member: clean}, {member: clean}))
        elif member == "generate_proxy_passkey":
            if not caller.service:
                return refused(rc_error("NonServiceForbidden"))
            effects.append(NewProxyPasskey())
        elif member == "undelete":
            if not target.deleted:
                return refused(rc_error("UserNotDeleted"))
            effects.append(Undelete())
        else:  # usage_multiplier, concurrency, worker_invited and the plain role flags
            effects.append(SetFields({member: value}, {member: value}))
    if not effects:
        return refused(rc_error("NoUserModSelected"))
    return Plan(tuple(effects))


# ------------------------------------------------------------------------------------ DELETE


DeleteAction = Literal["soft_delete", "wipe", "nothing"]


def delete_decision(caller: UserData, target: UserData, now: datetime) -> DeleteAction | ApiError:
    """The checks of §7 after key and lookup: what a DELETE does, or the error it answers."""
    if caller.is_anonymous:
        return rc_error("AnonForbiddenUser")
    if target.moderator:
        return rc_error("CannotDeleteMod")
    if not caller.moderator and caller.id != target.id:
        return rc_error("NotUserOrMod")
    if target.is_anonymous:
        return "nothing"
    if target.deleted:
        if target.last_active is not None and to_naive_utc(now) < target.last_active + WIPE_AFTER:
            return cannot_wipe(target.last_active)
        return "wipe"
    return "soft_delete"
