"""Request body checks of the sandbox: reading JSON (docs/users-api.md §3.1 shape e), the PUT body
(§6.2, §10) and the test-user body (§9).

The PUT members' types and limits are read from :class:`~horde_users.models.ModifyUser`'s own field
constraints, so the client's checks and the sandbox's are one set of facts; the messages are the
real server's JSON-Schema ones.
"""

from __future__ import annotations

import json
import math
import re
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from horde_users.sandbox.rules import ApiError, validation_error

_LARGEST_FLOAT_INT = int(sys.float_info.max)

JsonType = Literal["integer", "number", "boolean", "string"]

#: The order in which the real server's schema reports failing members (its model's order, not §2.4's).
_CHECK_ORDER: tuple[str, ...] = (
    "kudos",
    "concurrency",
    "usage_multiplier",
    "worker_invited",
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
    "username",
    "monthly_kudos",
    "contact",
    "admin_comment",
)


@dataclass(frozen=True)
class FieldSchema:
    """One member of the PUT body schema: its JSON type and limits."""

    name: str
    type: JsonType
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None


_JSON_TYPES: dict[type, JsonType] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _json_type(annotation: Any) -> JsonType:
    """``int | None`` -> ``integer`` and so on (the one non-None member of the union)."""
    members = typing.get_args(annotation) or (annotation,)
    (member,) = [m for m in members if m is not type(None)]
    return _JSON_TYPES[member]


def _field_schema(name: str, info: Any) -> FieldSchema:
    """The schema of one ``ModifyUser`` field, from its ``ge``/``le``/``min_length``/``max_length``."""
    limits: dict[str, Any] = {}
    for item in info.metadata:
        for attr, key in (("ge", "minimum"), ("le", "maximum"), ("min_length", "min_length")):
            if hasattr(item, attr):
                limits[key] = getattr(item, attr)
        if hasattr(item, "max_length"):
            limits["max_length"] = item.max_length
    return FieldSchema(name, _json_type(info.annotation), **limits)


def _modify_schema() -> tuple[FieldSchema, ...]:
    from horde_users.models import ModifyUser

    model_fields = ModifyUser.model_fields
    if set(model_fields) != set(_CHECK_ORDER):
        raise RuntimeError("the sandbox's PUT members differ from ModifyUser's fields")
    return tuple(_field_schema(name, model_fields[name]) for name in _CHECK_ORDER)


MODIFY_SCHEMA: tuple[FieldSchema, ...] = _modify_schema()


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


def _check_member(schema: FieldSchema, value: Any, sanitise: Callable[[str], str]) -> str | None:
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


def validate_modify_body(body: Any, sanitise: Callable[[str], str]) -> dict[str, Any] | ApiError:
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


# ----------------------------------------------------------------------------------- JSON body

_JSON_MEDIA = re.compile(r"^application/(json|[^/;\s]+\+json)$")


def _is_json_content_type(value: str | None) -> bool:
    """§3.1 shape (e): ``application/json`` or ``application/<name>+json``, parameters ignored."""
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return _JSON_MEDIA.match(media) is not None


class UnreadableBody(Exception):
    """The body cannot be read as JSON (shape e)."""


def _reject_constant(name: str) -> Any:
    raise UnreadableBody(name)


def _check_encodable(value: Any) -> None:
    """Lone surrogates (``"\\ud800"``) cannot be stored or sent; such a body is unreadable."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnreadableBody("surrogate") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json_body(content_type: str | None, body: bytes) -> Any:
    """The JSON value of a request body; raises UnreadableBody per §3.1 shape (e) and §10 (NaN etc.)."""
    if not _is_json_content_type(content_type) or not body.strip():
        raise UnreadableBody("not json")
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except UnreadableBody:
        raise
    except (ValueError, RecursionError, TypeError):
        raise UnreadableBody("invalid json") from None
    _check_encodable(value)
    return value


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


_TEST_USER_DEFAULTS: Mapping[str, Any] = {
    "username": "test_user",
    "oauth_id": "ci_test_user",
    "moderator": True,
    "trusted": True,
    "kudos": 10000,
}


def validate_test_user_body(
    body: Any, sanitise: Callable[[str], str], is_profane: Callable[[str], bool]
) -> TestUserRequest | ApiError:
    """The §9 body rules, in their order; ``body`` is the parsed JSON (falsy counts as ``{}``)."""
    if not body:
        body = {}
    if not isinstance(body, dict):
        return ApiError(400, "JSON object payload expected")
    username, oauth_id, moderator, trusted, kudos = (
        body.get(name, default) for name, default in _TEST_USER_DEFAULTS.items()
    )
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


def dev_user_body_json_schema() -> dict[str, Any]:
    """JSON Schema of the ``POST /v2/dev/test-user`` body (§9)."""
    typed = {"username": "string", "oauth_id": "string", "moderator": "boolean", "trusted": "boolean"}
    properties: dict[str, Any] = {
        name: {"type": type_name, "default": _TEST_USER_DEFAULTS[name]} for name, type_name in typed.items()
    }
    properties["kudos"] = {"type": ["integer", "null"], "minimum": 0, "default": _TEST_USER_DEFAULTS["kudos"]}
    return {"type": "object", "properties": properties}
