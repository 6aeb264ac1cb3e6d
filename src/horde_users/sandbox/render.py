"""How the sandbox writes its answers: user bodies (docs/users-api.md §2.5), pages, PUT replies, JSON text.

Bodies go through the SDK's response models, so the sandbox answers what the client parses. A
:class:`UserRenderer` (one per app) keeps the bodies it rendered, keyed by the user object: the store
hands out one object per distinct row, so repeated reads of unchanged users are not rendered again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from horde_users.sandbox.domain import (
    KUDOS_DETAIL_KEYS,
    MODERATOR_MONTHLY_BONUS,
    RECORD_KEYS,
    UserData,
    record_is_float,
    to_naive_utc,
)

#: ``records`` by group: ``(group, ((leaf, flat name, is a float), ...))``, in wire order.
_RECORD_GROUPS: tuple[tuple[str, tuple[tuple[str, str, bool], ...]], ...] = tuple(
    (
        group,
        tuple((leaf, f"{g}_{leaf}", record_is_float(f"{g}_{leaf}")) for g, leaf in RECORD_KEYS if g == group),
    )
    for group in dict.fromkeys(g for g, _ in RECORD_KEYS)
)


def json_text(value: Any) -> str:
    """JSON as the real server writes it: ``", "`` and ``": "`` separators, ASCII, no NaN."""
    return json.dumps(value, separators=(", ", ": "), allow_nan=False)


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


_Key = tuple[int, int, bool, "str | None"]


class UserRenderer:
    """Renders users through the SDK's models and remembers up to ``capacity`` finished bodies.

    An entry is keyed by ``(id(user), level, listing, username)`` and keeps the (immutable) user, so
    the id cannot be reused while it is cached; a full cache is emptied.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._rendered: dict[_Key, _Rendered] = {}

    def _cached(self, key: _Key, user: UserData) -> _Rendered | None:
        entry = self._rendered.get(key)
        return entry if entry is not None and entry.user is user else None

    def _remember(self, key: _Key, user: UserData, body: dict[str, Any]) -> _Rendered:
        if len(self._rendered) >= self._capacity:
            self._rendered.clear()
        entry = self._rendered[key] = _Rendered.of(user, body)
        return entry

    def user(
        self,
        user: UserData,
        level: int,
        now: datetime,
        *,
        listing: bool = False,
        username: str | None = None,
    ) -> dict[str, Any]:
        """The exact ``UserDetails`` JSON object of §2.5.

        ``listing`` keeps every key (``GET /users``); otherwise null and ``{}`` top-level keys are
        dropped. ``username`` overrides the shown name (the shared-key suffix of ``find_user``).
        """
        from horde_users.models import UserDetailsResponse

        key = (id(user), level, listing, username)
        entry = self._cached(key, user)
        if entry is None:
            values = user_details_values(user, level, now)
            if username is not None:
                values["username"] = username
            dumped = UserDetailsResponse.model_validate(values).model_dump(by_alias=True, mode="json")
            entry = self._remember(key, user, finish_user_body(dumped, values, listing=listing))
        return entry.body_at(now)

    def _page(self, users: Sequence[UserData], now: datetime) -> list[_Rendered]:
        """A ``GET /users`` page; the users not rendered before are validated and dumped at once as
        ``ListUsersDetailsResponse``."""
        from horde_users.models import ListUsersDetailsResponse

        keys: list[_Key] = [(id(user), 0, True, None) for user in users]
        entries = [self._cached(key, user) for key, user in zip(keys, users, strict=True)]
        missing = [i for i, entry in enumerate(entries) if entry is None]
        if missing:
            values = [user_details_values(users[i], 0, now) for i in missing]
            dumped = ListUsersDetailsResponse.model_validate(values).model_dump(by_alias=True, mode="json")
            for i, d, v in zip(missing, dumped, values, strict=True):
                entries[i] = self._remember(keys[i], users[i], finish_user_body(d, v, listing=True))
        return [entry for entry in entries if entry is not None]

    def page_json(self, users: Sequence[UserData], now: datetime) -> str:
        """A ``GET /users`` page as JSON text: ``json_text`` of the users' listing bodies (``user``
        with ``listing=True``), joined from their cached texts."""
        return "[" + ", ".join(entry.text_at(now) for entry in self._page(users, now)) + "]"


def render_modify(echo: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ModifyUser`` reply of a PUT (only the keys of operations that ran), through the model."""
    from horde_users.models import ModifyUserResponse

    # The model declares the keys in ModifyUser order (§2.4) and makes new_kudos and usage_multiplier floats.
    return ModifyUserResponse.model_validate(echo).model_dump(by_alias=True, mode="json", exclude_none=True)
