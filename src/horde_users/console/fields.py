"""The user page's form: which fields a key may change, how each is entered, and the diff it makes.

A field is offered only when the key's role lets the server accept it (the toolkit's role table,
docs/users-api.md §6.3): admin fields when the console was told the key is an admin, moderator fields
to moderators, owner fields to moderators and to the account's owner. Booleans are choices rather
than checkboxes, so "unchanged" and "no" never look alike; a value equal to the current one is not a
change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from horde_users.models import UserDetailsResponse
from horde_users.roles import FIELD_ROLES, Role

Kind = Literal["bool", "int", "float", "text", "delta"]


@dataclass(frozen=True)
class EditableField:
    """One ModifyUser member as the form offers it."""

    name: str
    label: str
    kind: Kind
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None

    @property
    def role(self) -> Role:
        """The role the server wants for this field (the moderation toolkit's table)."""
        return FIELD_ROLES[self.name]


FIELDS: tuple[EditableField, ...] = (
    EditableField("kudos", "Add kudos", "delta", "A delta, truncated to a whole number."),
    EditableField("monthly_kudos", "Add to monthly kudos", "delta", "A delta to the allowance."),
    EditableField("usage_multiplier", "Usage multiplier", "float", "0.1 to 10.", 0.1, 10),
    EditableField("moderator", "Moderator", "bool", "Making a moderator also trusts them."),
    EditableField("trusted", "Trusted", "bool"),
    EditableField("flagged", "Flagged", "bool"),
    EditableField("customizer", "Customizer", "bool"),
    EditableField("vpn", "VPN", "bool"),
    EditableField("service", "Service account", "bool"),
    EditableField("education", "Education", "bool", "May also move concurrency to 200 or 30."),
    EditableField("special", "Special", "bool"),
    EditableField("concurrency", "Concurrency", "int", "0 to 500.", 0, 500),
    EditableField("worker_invited", "Workers invited", "int", "", -(2**31), 2**31 - 1),
    EditableField("reset_suspicion", "Clear suspicion records", "bool", "Only 'yes' does it."),
    EditableField("public_workers", "Public workers", "bool"),
    EditableField("username", "Username", "text", "3 to 30 characters, without #id.", 3, 30),
    EditableField("contact", "Contact", "text", "5 to 500 characters.", 5, 500),
    EditableField("admin_comment", "Moderators' comment", "text", "5 to 500 chars.", 5, 500),
)
BY_NAME = {f.name: f for f in FIELDS}


def allowed_fields(*, moderator: bool, owner: bool, admin: bool) -> list[EditableField]:
    """The fields a key with these roles may change on this account, in the form's order."""
    allowed = []
    for item in FIELDS:
        if (
            (item.role is Role.ADMIN and admin)
            or (item.role is Role.MODERATOR and moderator)
            or (item.role is Role.OWNER and (moderator or owner))
        ):
            allowed.append(item)
    return allowed


def current_value(user: UserDetailsResponse, name: str) -> Any:
    """What the account holds now for a form field (None when this view does not show it)."""
    if name in ("kudos", "monthly_kudos", "reset_suspicion"):
        return None  # deltas and actions have no "current" value to compare with
    if name == "username" and user.username:
        bare, _, suffix = user.username.rpartition("#")
        return bare if bare and suffix == str(user.id_) else user.username
    if name == "public_workers":
        return None  # stored but never returned by the API
    return getattr(user, name, None)


class FormError(ValueError):
    """A form value that cannot be sent; the message names the field."""


def parse_changes(
    form: Mapping[str, Any], user: UserDetailsResponse, fields: list[EditableField]
) -> dict[str, Any]:
    """The changes a submitted form asks for: typed, and only where they differ from the account."""
    changes: dict[str, Any] = {}
    for item in fields:
        raw = form.get(f"f_{item.name}")
        if not isinstance(raw, str) or raw.strip() == "":
            continue
        value = _parse(item, raw)
        if value is None:
            continue
        is_action = item.kind == "delta" or item.name == "reset_suspicion"
        if not is_action and value == current_value(user, item.name):
            continue
        changes[item.name] = value
    return changes


def _parse(item: EditableField, raw: str) -> Any:
    text = raw.strip()
    if item.kind == "bool":
        if text not in ("true", "false"):
            raise FormError(f"{item.label}: choose yes or no")
        if item.name == "reset_suspicion":
            return True if text == "true" else None
        return text == "true"
    if item.kind in ("int", "delta"):
        try:
            number = int(text)
        except ValueError:
            raise FormError(f"{item.label}: a whole number, please") from None
        if item.kind == "delta" and number == 0:
            return None
        _check_range(item, number)
        return number
    if item.kind == "float":
        try:
            real = float(text)
        except ValueError:
            raise FormError(f"{item.label}: a number, please") from None
        if not math.isfinite(real):
            raise FormError(f"{item.label}: a finite number, please")
        _check_range(item, real)
        return real
    if item.minimum is not None and len(text) < item.minimum:
        raise FormError(f"{item.label}: at least {int(item.minimum)} characters")
    if item.maximum is not None and len(text) > item.maximum:
        raise FormError(f"{item.label}: at most {int(item.maximum)} characters")
    return text


def _check_range(item: EditableField, value: float) -> None:
    if item.minimum is not None and value < item.minimum:
        raise FormError(f"{item.label}: at least {item.minimum:g}")
    if item.maximum is not None and value > item.maximum:
        raise FormError(f"{item.label}: at most {item.maximum:g}")


def encode_changes(changes: Mapping[str, Any]) -> dict[str, str]:
    """Changes as the confirm page's hidden fields (``f_<name>``), so that Apply sends the same."""
    encoded = {}
    for name, value in changes.items():
        encoded[f"f_{name}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return encoded
