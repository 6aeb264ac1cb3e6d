"""The sandbox's facts about a user: the record the rules decide from, its defaults, limits and floors.

Each fact is written once here; the schema (columns, defaults, the kudos floor in SQL), the rules and the
store read it from here. The PUT value limits are not here: they are ``ModifyUser``'s own field
constraints (see :mod:`horde_users.sandbox.validation`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any

ANON_ID = 0
ANON_USERNAME = "Anonymous"
ANON_CONCURRENCY = 500
USERNAME_MAX = 30
"""The longest username the handler stores (the schema allows 100: TooLongUserName, §6.4)."""
MODERATOR_MONTHLY_BONUS = 300000
WIPE_AFTER = timedelta(days=30)
EXACT_KUDOS_LIMIT = 2**53
"""Balances and ``kudos_details`` are floats: below this every whole number of kudos is exact."""
DEFAULT_CONCURRENCY = 30
EDUCATION_CONCURRENCY = 200


@dataclass(frozen=True)
class KudosFloors:
    """The balance floor applied on every kudos change (docs/users-api.md §6.3 row 1), by kind of user."""

    anonymous: int = -50
    pseudonymous: int = 14
    registered: int = 25


KUDOS_FLOORS = KudosFloors()
"""The one table of floors: :func:`kudos_floor` and the store's credit statement both read it."""


def kudos_floor(user_id: int, pseudonymous: bool) -> int:
    """The floor of this user's balance."""
    if user_id == ANON_ID:
        return KUDOS_FLOORS.anonymous
    return KUDOS_FLOORS.pseudonymous if pseudonymous else KUDOS_FLOORS.registered


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


def record_is_float(name: str) -> bool:
    """Whether a flat record counter holds a float (``*_megapixelsteps``) rather than a count."""
    return name.endswith("megapixelsteps")


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


def canonical_uuid(text: str) -> str | None:
    """The canonical lower-case hyphenated form of a UUID text, or None."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, TypeError, AttributeError):
        return None


def is_uuid_text(text: str) -> bool:
    """Whether ``text`` parses as a UUID (pseudonymous OAuth ids, shared keys)."""
    return canonical_uuid(text) is not None


@dataclass(frozen=True)
class StyleData:
    """A style owned by a user."""

    id: str
    name: str
    type: str
    public: bool


@dataclass(frozen=True)
class UserData:
    """Everything the rules need to know about one stored user; the defaults are a new user's."""

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


def _scalar_defaults() -> dict[str, Any]:
    """A new user's value of every plain (bool, int, float) field of :class:`UserData`."""
    return {
        f.name: f.default
        for f in fields(UserData)
        if isinstance(f.default, (bool, int, float)) and f.name not in ("id", "suspicious")
    }


NEW_USER_DEFAULTS: Mapping[str, Any] = _scalar_defaults()
"""The stored columns a new user starts with (kudos 0, concurrency 30, every role off, ...)."""
BOOL_FIELDS: tuple[str, ...] = tuple(name for name, v in NEW_USER_DEFAULTS.items() if isinstance(v, bool))
"""The boolean columns of a user, in :class:`UserData` order."""
