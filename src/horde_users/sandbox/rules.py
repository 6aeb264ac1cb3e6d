"""The sandbox's rules as pure functions over plain data (no I/O).

Who sees what (docs/users-api.md §5), how a user is rendered (§2.5), how a PUT body is validated (§6.2, §10)
and in which order its operations run with which role (§6.3), the DELETE checks (§7) and the
normalisation of ``page`` and ``sort`` (§4.1).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from horde_users.endpoints import MAX_PAGE, MAX_USER_ID
from horde_users.models.users import INT32_MAX, INT32_MIN, KUDOS_LIMIT
from horde_users.roles import OPERATIONS as OPERATIONS
from horde_users.roles import Operation as Operation
from horde_users.roles import Role as Role

ANON_ID = 0
USERNAME_MAX = 30
"""The longest username the handler stores (the schema allows 100: TooLongUserName, §6.4)."""
MODERATOR_MONTHLY_BONUS = 300000
WIPE_AFTER = timedelta(days=30)
EXACT_KUDOS_LIMIT = 2**53
"""Balances and ``kudos_details`` are floats: below this every whole number of kudos is exact."""
_LARGEST_FLOAT_INT = int(sys.float_info.max)
EDUCATION_CONCURRENCY = 200
DEFAULT_CONCURRENCY = 30

KUDOS_DETAIL_KEYS: tuple[str, ...] = (
    "accumulated",
    "gifted",
    "donated",
    "admin",
    "received",
    "recurring",
    "awarded",
    "styled",
)
#: Record counters as ``(group, leaf)``, in wire order; ``megapixelsteps`` leaves are floats.
RECORD_KEYS: tuple[tuple[str, str], ...] = (
    ("usage", "megapixelsteps"),
    ("usage", "tokens"),
    ("contribution", "megapixelsteps"),
    ("contribution", "tokens"),
    ("fulfillment", "image"),
    ("fulfillment", "text"),
    ("fulfillment", "interrogation"),
    ("request", "image"),
    ("request", "text"),
    ("request", "interrogation"),
    ("style", "image"),
    ("style", "text"),
    ("style", "interrogation"),
)
#: Flat record names as used by the store and ``set_records``: ``usage_megapixelsteps`` etc.
RECORD_NAMES: tuple[str, ...] = tuple(f"{g}_{leaf}" for g, leaf in RECORD_KEYS)
#: ``records`` by group: ``(group, ((leaf, flat name, is a float), ...))``, in wire order.
_RECORD_GROUPS: tuple[tuple[str, tuple[tuple[str, str, bool], ...]], ...] = tuple(
    (group, tuple((leaf, f"{g}_{leaf}", leaf == "megapixelsteps") for g, leaf in RECORD_KEYS if g == group))
    for group in dict.fromkeys(g for g, _ in RECORD_KEYS)
)


Clock = Callable[[], float]
"""Where the sandbox reads the time: Unix seconds, like :func:`time.time` (the default); tests freeze it."""


def utcnow(clock: Clock = time.time) -> datetime:
    """The clock's time as a naive UTC datetime (the form the store keeps)."""
    return datetime.fromtimestamp(clock(), timezone.utc).replace(tzinfo=None)


def to_naive_utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to naive UTC."""
    if when.tzinfo is None:
        return when
    return when.astimezone(timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class StyleData:
    """A style owned by a user."""

    id: str
    name: str
    type: str
    public: bool


@dataclass(frozen=True)
class UserData:
    """Everything the rules need to know about one stored user."""

    id: int
    username: str
    kudos: float = 0.0
    evaluating_kudos: float = 0.0
    concurrency: int = DEFAULT_CONCURRENCY
    worker_invited: int = 0
    moderator: bool = False
    trusted: bool = False
    flagged: bool = False
    vpn: bool = False
    service: bool = False
    education: bool = False
    customizer: bool = False
    special: bool = False
    deleted: bool = False
    pseudonymous: bool = False
    public_workers: bool = False
    contact: str | None = None
    admin_comment: str | None = None
    proxy_passkey: str | None = None
    usage_multiplier: float = 1.0
    monthly_kudos: int = 0
    monthly_last_received: datetime | None = None
    created: datetime = field(default_factory=utcnow)
    last_active: datetime | None = None
    #: Stored ``kudos_details`` values; a missing key or None means "nothing stored" (renders ``0``).
    kudos_details: Mapping[str, float | None] = field(default_factory=dict)
    #: Stored record counters by flat name (``usage_megapixelsteps``); missing/None renders ``0``.
    records: Mapping[str, float | int | None] = field(default_factory=dict)
    worker_ids: tuple[str, ...] = ()
    styles: tuple[StyleData, ...] = ()
    sharedkey_ids: tuple[str, ...] = ()
    suspicious: int = 0

    @property
    def alias(self) -> str:
        """The public name ``username#id``."""
        return f"{self.username}#{self.id}"

    @property
    def is_anonymous(self) -> bool:
        return self.id == ANON_ID

    @property
    def kudos_floor(self) -> int:
        return kudos_floor(self.id, self.pseudonymous)


def kudos_floor(user_id: int, pseudonymous: bool) -> int:
    """The balance floor applied on every kudos change (§6.3 row 1)."""
    if user_id == ANON_ID:
        return -50
    return 14 if pseudonymous else 25


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


# ---------------------------------------------------------------------------------- rendering


def _zero_or(value: float | int | None, as_float: bool) -> float | int:
    """§2.2: integer 0 when nothing is stored, else the field's type."""
    if value is None:
        return 0
    return float(value) if as_float else int(value)


def account_age(user: UserData, now: datetime) -> int:
    """Whole seconds since the account was created (never negative)."""
    return max(int((to_naive_utc(now) - user.created).total_seconds()), 0)


def user_details_values(user: UserData, level: int, now: datetime) -> dict[str, Any]:
    """Step 1 of §2.5: every UserDetails key (wire names, model order), None where the level hides it."""
    stored = user.records
    records = {
        group: {leaf: _zero_or(stored.get(name), as_float) for leaf, name, as_float in leaves}
        for group, leaves in _RECORD_GROUPS
    }
    show_workers = level >= 1 or user.public_workers
    styles = [
        {"name": f"{user.alias}::style::{s.name}", "id": s.id, "type": s.type}
        for s in user.styles
        if level >= 1 or s.public
    ]
    monthly: dict[str, Any] = {"amount": None, "last_received": None}
    if level >= 2:
        bonus = MODERATOR_MONTHLY_BONUS if user.moderator else 0
        monthly = {"amount": user.monthly_kudos + bonus, "last_received": user.monthly_last_received}
    return {
        "username": user.alias,
        "id": user.id,
        "kudos": float(user.kudos),
        "evaluating_kudos": float(user.evaluating_kudos) if level >= 2 else None,
        "concurrency": user.concurrency,
        "worker_invited": user.worker_invited,
        "moderator": user.moderator,
        "kudos_details": {k: _zero_or(user.kudos_details.get(k), True) for k in KUDOS_DETAIL_KEYS},
        "worker_count": len(user.worker_ids),
        "worker_ids": list(user.worker_ids) if show_workers else None,
        "styles": styles,
        "sharedkey_ids": list(user.sharedkey_ids) if level >= 1 else None,
        "active_generations": {"text": None, "image": None, "alchemy": None},
        "monthly_kudos": monthly,
        "trusted": user.trusted,
        "flagged": user.flagged,
        "vpn": user.vpn if level >= 1 else None,
        "service": user.service,
        "education": user.education,
        "customizer": user.customizer,
        "special": user.special if level >= 1 else None,
        "deleted": user.deleted,
        "suspicious": user.suspicious if level >= 2 else None,
        "pseudonymous": user.pseudonymous,
        "contact": user.contact if level >= 1 else None,
        "admin_comment": user.admin_comment if level >= 2 else None,
        "proxy_passkey": user.proxy_passkey if level >= 2 else None,
        "account_age": account_age(user, now),
        "usage": {"megapixelsteps": None, "requests": None},
        "contributions": {"megapixelsteps": None, "fulfillments": None},
        "records": records,
    }


def finish_user_body(
    dumped: Mapping[str, Any], values: Mapping[str, Any], *, listing: bool
) -> dict[str, Any]:
    """Steps 3-5 of §2.5 on a model dump (by alias, nulls kept), with numbers taken from ``values``."""
    body = dict(dumped)
    # §2.2 numbers: the model may have coerced 0 to 0.0 (or the reverse); the plain values decide.
    for key in ("kudos", "evaluating_kudos", "kudos_details", "records", "account_age"):
        if key in body:
            body[key] = values[key]
    # The model's JSON dump already writes monthly_kudos.last_received in the RFC 822 form of §2.3.
    for key in ("monthly_kudos", "active_generations"):
        nested = body.get(key)
        if isinstance(nested, Mapping):
            body[key] = {k: v for k, v in nested.items() if v is not None}
    if not listing:
        body = {k: v for k, v in body.items() if v is not None and v != {}}
    return body


# ------------------------------------------------------------------------------- PUT validation

_JSON_TYPE_NAMES = {"integer", "number", "boolean", "string"}


@dataclass(frozen=True)
class FieldSchema:
    """One member of the PUT body schema (§6.2, with the sandbox ranges of §10)."""

    name: str
    type: Literal["integer", "number", "boolean", "string"]
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None


_BOOL_MEMBERS = (
    "moderator",
    "public_workers",
    "trusted",
    "flagged",
    "customizer",
    "vpn",
    "service",
    "education",
    "special",
    "undelete",
    "filtered",
    "reset_suspicion",
    "generate_proxy_passkey",
)

MODIFY_SCHEMA: tuple[FieldSchema, ...] = (
    FieldSchema("kudos", "number", -KUDOS_LIMIT, KUDOS_LIMIT),
    FieldSchema("concurrency", "integer", 0, 500),
    FieldSchema("usage_multiplier", "number", 0.1, 10),
    FieldSchema("worker_invited", "integer", INT32_MIN, INT32_MAX),
    *(FieldSchema(name, "boolean") for name in _BOOL_MEMBERS),
    FieldSchema("username", "string", min_length=3, max_length=100),
    FieldSchema("monthly_kudos", "integer", INT32_MIN, INT32_MAX),
    FieldSchema("contact", "string", min_length=5, max_length=500),
    FieldSchema("admin_comment", "string", min_length=5, max_length=500),
)


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "string":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if type_name == "number":
        return isinstance(value, (int, float))
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _check_member(schema: FieldSchema, value: Any, sanitise: Any) -> str | None:
    if not _type_ok(value, schema.type):
        return f"{value!r} is not of type '{schema.type}'"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return f"{value!r} is not of type '{schema.type}'"
        if schema.minimum is not None and value < schema.minimum:
            return f"{value!r} is less than the minimum of {schema.minimum!r}"
        if schema.maximum is not None and value > schema.maximum:
            return f"{value!r} is greater than the maximum of {schema.maximum!r}"
    if isinstance(value, str):
        if schema.min_length is not None and len(value) < schema.min_length:
            return f"{value!r} is too short"
        if schema.max_length is not None and len(value) > schema.max_length:
            return f"{value!r} is too long"
        if schema.name == "username" and not sanitise(value):
            return f"{value!r} is too short"
    return None


def validate_modify_body(body: Any, sanitise: Any) -> dict[str, Any] | ApiError:
    """Validate a parsed PUT body (§6.2, §10); returns the known members (integers as ``int``).

    ``sanitise`` is the text sanitiser (a username that sanitises to "" is too short).
    """
    if not isinstance(body, dict):
        return validation_error({"": f"{body!r} is not of type 'object'"})
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for schema in MODIFY_SCHEMA:
        if schema.name not in body:
            continue
        value = body[schema.name]
        problem = _check_member(schema, value, sanitise)
        if problem is not None:
            errors[schema.name] = problem
        elif schema.type == "integer":
            values[schema.name] = int(value)
        else:
            values[schema.name] = value
    if errors:
        return validation_error(errors)
    return values


# ------------------------------------------------------------------------------ PUT operations


#: The boolean role columns set by rows 4 and 7-13 (and 16).
ROLE_FLAGS = frozenset(
    {"moderator", "trusted", "flagged", "customizer", "vpn", "service", "education", "special"}
)


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


# ---------------------------------------------------------------------------------- test user


@dataclass(frozen=True)
class TestUserRequest:
    """A validated ``POST /v2/dev/test-user`` body (§9), texts already sanitised."""

    __test__ = False  # not a pytest test class

    username: str
    oauth_id: str
    moderator: bool
    trusted: bool
    kudos: int | None


def validate_test_user_body(body: Any, sanitise: Any, is_profane: Any) -> TestUserRequest | ApiError:
    """The §9 body rules, in their order; ``body`` is the parsed JSON (falsy counts as ``{}``)."""
    if not body:
        body = {}
    if not isinstance(body, dict):
        return ApiError(400, "JSON object payload expected")
    username = body.get("username", "test_user")
    oauth_id = body.get("oauth_id", "ci_test_user")
    moderator = body.get("moderator", True)
    trusted = body.get("trusted", True)
    kudos = body.get("kudos", 10000)
    if not isinstance(username, str):
        return ApiError(400, "username must be a string")
    if not isinstance(oauth_id, str):
        return ApiError(400, "oauth_id must be a string")
    if not isinstance(moderator, bool):
        return ApiError(400, "moderator must be a boolean")
    if not isinstance(trusted, bool):
        return ApiError(400, "trusted must be a boolean")
    if kudos is not None and (isinstance(kudos, bool) or not isinstance(kudos, int)):
        return ApiError(400, "kudos must be an integer or null")
    if kudos is not None and kudos < 0:
        return ApiError(400, "kudos must be non-negative")
    if kudos is not None and kudos > _LARGEST_FLOAT_INT:  # sandbox only: the balance is a finite float
        return ApiError(400, "kudos must be an integer or null")
    clean_name = sanitise(username)
    clean_oauth = sanitise(oauth_id)
    if not clean_name:
        return ApiError(400, "username cannot be empty")
    if not clean_oauth:
        return ApiError(400, "oauth_id cannot be empty")
    if is_profane(clean_name):
        return ApiError(400, "Bad Username")
    return TestUserRequest(clean_name, clean_oauth, moderator, trusted, kudos)


def is_uuid_text(text: str) -> bool:
    """Whether ``text`` parses as a UUID (pseudonymous OAuth ids, shared keys)."""
    return canonical_uuid(text) is not None


def canonical_uuid(text: str) -> str | None:
    """The canonical lower-case hyphenated form of a UUID text, or None."""
    import uuid

    try:
        return str(uuid.UUID(text))
    except (ValueError, TypeError, AttributeError):
        return None


# ------------------------------------------------------------------------ rendering with models


def json_text(value: Any) -> str:
    """JSON as the real server writes it: ``", "`` and ``": "`` separators, ASCII, no NaN."""
    return json.dumps(value, separators=(", ", ": "), allow_nan=False)


@dataclass(frozen=True)
class _Rendered:
    """A finished user body; only ``account_age`` depends on the time, and it is set on each use."""

    user: UserData
    body: dict[str, Any]
    head: str
    """The body's JSON text up to the ``account_age`` value."""
    tail: str
    """The body's JSON text after the ``account_age`` value."""

    @classmethod
    def of(cls, user: UserData, body: dict[str, Any]) -> _Rendered:
        pairs = [f"{json_text(key)}: {json_text(value)}" for key, value in body.items()]
        at = list(body).index("account_age")
        head = "{" + "".join(pair + ", " for pair in pairs[:at]) + '"account_age": '
        tail = "".join(", " + pair for pair in pairs[at + 1 :]) + "}"
        return cls(user, body, head, tail)

    def body_at(self, now: datetime) -> dict[str, Any]:
        return {**self.body, "account_age": account_age(self.user, now)}

    def text_at(self, now: datetime) -> str:
        return f"{self.head}{account_age(self.user, now)}{self.tail}"


_RENDERED_MAX = 4096
#: Rendered users by ``(id(user), level, listing, username)``; the entry keeps the (immutable) user, so
#: the id cannot be reused while it is cached. The store hands out one UserData object per distinct
#: row, so repeated reads of unchanged users hit.
_rendered: dict[tuple[int, int, bool, str | None], _Rendered] = {}


def _cached(key: tuple[int, int, bool, str | None], user: UserData) -> _Rendered | None:
    entry = _rendered.get(key)
    return entry if entry is not None and entry.user is user else None


def _remember(key: tuple[int, int, bool, str | None], user: UserData, body: dict[str, Any]) -> _Rendered:
    if len(_rendered) >= _RENDERED_MAX:
        _rendered.clear()
    entry = _rendered[key] = _Rendered.of(user, body)
    return entry


def render_user(
    user: UserData, level: int, now: datetime, *, listing: bool = False, username: str | None = None
) -> dict[str, Any]:
    """The exact ``UserDetails`` JSON object of §2.5, rendered through the SDK's response model.

    ``listing`` keeps every key (``GET /users``); otherwise null and ``{}`` top-level keys are dropped.
    ``username`` overrides the shown name (the shared-key suffix of ``find_user``).
    """
    from horde_users.models import UserDetailsResponse

    key = (id(user), level, listing, username)
    entry = _cached(key, user)
    if entry is None:
        values = user_details_values(user, level, now)
        if username is not None:
            values["username"] = username
        dumped = UserDetailsResponse.model_validate(values).model_dump(by_alias=True, mode="json")
        entry = _remember(key, user, finish_user_body(dumped, values, listing=listing))
    return entry.body_at(now)


def _render_page(users: Sequence[UserData], now: datetime) -> list[_Rendered]:
    """A ``GET /users`` page; the users not rendered before are validated and dumped at once as
    ``ListUsersDetailsResponse``."""
    from horde_users.models import ListUsersDetailsResponse

    keys = [(id(user), 0, True, None) for user in users]
    entries = [_cached(key, user) for key, user in zip(keys, users, strict=True)]
    missing = [i for i, entry in enumerate(entries) if entry is None]
    if missing:
        values = [user_details_values(users[i], 0, now) for i in missing]
        dumped = ListUsersDetailsResponse.model_validate(values).model_dump(by_alias=True, mode="json")
        for i, d, v in zip(missing, dumped, values, strict=True):
            entries[i] = _remember(keys[i], users[i], finish_user_body(d, v, listing=True))
    return entries  # type: ignore[return-value]


def render_user_list_json(users: Sequence[UserData], now: datetime) -> str:
    """A ``GET /users`` page as JSON text: ``json_text`` of the users' listing bodies (``render_user``
    with ``listing=True``), joined from their cached texts."""
    return "[" + ", ".join(entry.text_at(now) for entry in _render_page(users, now)) + "]"


def render_modify(echo: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ModifyUser`` reply of a PUT (only the keys of operations that ran), through the model."""
    from horde_users.models import ModifyUserResponse

    # The model declares the keys in ModifyUser order (§2.4) and makes new_kudos and usage_multiplier floats.
    return ModifyUserResponse.model_validate(echo).model_dump(by_alias=True, mode="json", exclude_none=True)


def modify_body_json_schema() -> dict[str, Any]:
    """JSON Schema of the PUT body the sandbox accepts (for its OpenAPI document)."""
    properties: dict[str, Any] = {}
    for schema in MODIFY_SCHEMA:
        prop: dict[str, Any] = {"type": schema.type}
        if schema.minimum is not None:
            prop["minimum"] = schema.minimum
        if schema.maximum is not None:
            prop["maximum"] = schema.maximum
        if schema.min_length is not None:
            prop["minLength"] = schema.min_length
        if schema.max_length is not None:
            prop["maxLength"] = schema.max_length
        properties[schema.name] = prop
    return {"type": "object", "properties": properties}


def dev_user_body_json_schema() -> dict[str, Any]:
    """JSON Schema of the ``POST /v2/dev/test-user`` body (§9)."""
    return {
        "type": "object",
        "properties": {
            "username": {"type": "string", "default": "test_user"},
            "oauth_id": {"type": "string", "default": "ci_test_user"},
            "moderator": {"type": "boolean", "default": True},
            "trusted": {"type": "boolean", "default": True},
            "kudos": {"type": ["integer", "null"], "minimum": 0, "default": 10000},
        },
    }
