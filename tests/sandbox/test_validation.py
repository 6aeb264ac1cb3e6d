"""The PUT and test-user body checks, without HTTP (docs/users-api.md §6.2, §9, §10)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from horde_users.models import ModifyUser
from horde_users.sandbox.rules import ApiError
from horde_users.sandbox.texts import ProfanityFilter, sanitise
from horde_users.sandbox.validation import (
    MODIFY_SCHEMA,
    TestUserRequest,
    UnreadableBody,
    parse_json_body,
    validate_modify_body,
    validate_test_user_body,
)

# ------------------------------------------------------------------------------ PUT validation


def _validate(body: Any) -> dict[str, Any] | ApiError:
    return validate_modify_body(body, sanitise)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kudos": "lots"}, "kudos", "'lots' is not of type 'number'"),
        ({"kudos": None}, "kudos", "None is not of type 'number'"),
        ({"kudos": True}, "kudos", "True is not of type 'number'"),
        ({"concurrency": "40"}, "concurrency", "'40' is not of type 'integer'"),
        ({"concurrency": True}, "concurrency", "True is not of type 'integer'"),
        ({"concurrency": 5.5}, "concurrency", "5.5 is not of type 'integer'"),
        ({"concurrency": -1}, "concurrency", "-1 is less than the minimum of 0"),
        ({"concurrency": 501}, "concurrency", "501 is greater than the maximum of 500"),
        ({"usage_multiplier": 11}, "usage_multiplier", "11 is greater than the maximum of 10"),
        ({"usage_multiplier": 0.05}, "usage_multiplier", "0.05 is less than the minimum of 0.1"),
        ({"worker_invited": 2**31}, "worker_invited", "2147483648 is greater than the maximum of 2147483647"),
        (
            {"monthly_kudos": -(2**31) - 1},
            "monthly_kudos",
            "-2147483649 is less than the minimum of -2147483648",
        ),
        ({"kudos": 1e16}, "kudos", "1e+16 is greater than the maximum of 1000000000000000"),
        (
            {"kudos": -(10**15) - 1},
            "kudos",
            "-1000000000000001 is less than the minimum of -1000000000000000",
        ),
        ({"kudos": float("inf")}, "kudos", "inf is greater than the maximum of 1000000000000000"),
        ({"trusted": "yes"}, "trusted", "'yes' is not of type 'boolean'"),
        ({"undelete": 1}, "undelete", "1 is not of type 'boolean'"),
        ({"username": "ab"}, "username", "'ab' is too short"),
        ({"username": "a" * 101}, "username", f"'{'a' * 101}' is too long"),
        ({"username": "   "}, "username", "'   ' is too short"),
        ({"contact": "abcd"}, "contact", "'abcd' is too short"),
        ({"admin_comment": ["x"]}, "admin_comment", "['x'] is not of type 'string'"),
    ],
)
def test_validation_messages(body: dict[str, Any], field: str, message: str) -> None:
    result = _validate(body)
    assert isinstance(result, ApiError)
    assert result.status == 400
    assert result.body() == {"errors": {field: message}, "message": "Input payload validation failed"}


def test_a_non_object_body_fails_at_the_root() -> None:
    result = _validate([1, 2])
    assert isinstance(result, ApiError)
    assert result.body()["errors"] == {"": "[1, 2] is not of type 'object'"}


def test_every_failing_field_is_reported() -> None:
    result = _validate({"concurrency": 501, "trusted": 1})
    assert isinstance(result, ApiError)
    assert set(result.body()["errors"]) == {"concurrency", "trusted"}


def test_valid_bodies_normalise_integers_and_drop_unknown_members() -> None:
    assert _validate({"concurrency": 5.0, "whatever": 1, "filtered": False}) == {
        "concurrency": 5,
        "filtered": False,
    }
    assert type(_validate({"concurrency": 5.0})["concurrency"]) is int  # type: ignore[index]


# ---------------------------------------------------------------------------------- test user


def _test_user(body: Any) -> TestUserRequest | ApiError:
    return validate_test_user_body(body, sanitise, ProfanityFilter().is_profane)


def test_test_user_defaults_and_falsy_bodies() -> None:
    expected = TestUserRequest("test_user", "ci_test_user", True, True, 10000)
    falsy: tuple[Any, ...] = ({}, None, False, 0, "", [])
    for body in falsy:
        assert _test_user(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "JSON object payload expected"),
        ("x", "JSON object payload expected"),
        ({"username": None}, "username must be a string"),
        ({"username": 1, "oauth_id": 1}, "username must be a string"),
        ({"oauth_id": None}, "oauth_id must be a string"),
        ({"moderator": None}, "moderator must be a boolean"),
        ({"trusted": "yes"}, "trusted must be a boolean"),
        ({"kudos": 100.0}, "kudos must be an integer or null"),
        ({"kudos": True}, "kudos must be an integer or null"),
        ({"kudos": -1}, "kudos must be non-negative"),
        ({"username": "  "}, "username cannot be empty"),
        ({"oauth_id": "\x00"}, "oauth_id cannot be empty"),
        ({"username": "shit"}, "Bad Username"),
    ],
)
def test_test_user_errors(body: Any, message: str) -> None:
    assert _test_user(body) == ApiError(400, message)


def test_test_user_sanitises_texts() -> None:
    result = _test_user({"username": " <x> ", "oauth_id": " o ", "kudos": None})
    assert result == TestUserRequest("&lt;x&gt;", "o", True, True, None)


# ----------------------------------------------------------------- limits shared with ModifyUser


def _bounds() -> list[tuple[str, Any, Any]]:
    """Each numeric limit of the sandbox's schema: (member, a value at it, a value just past it)."""
    out: list[tuple[str, Any, Any]] = []
    for schema in MODIFY_SCHEMA:
        if schema.minimum is not None:
            out.append((schema.name, schema.minimum, schema.minimum - 1))
        if schema.maximum is not None:
            out.append((schema.name, schema.maximum, schema.maximum + 1))
    return out


@pytest.mark.parametrize(("member", "inside", "outside"), _bounds())
def test_sandbox_and_client_model_share_every_numeric_limit(member: str, inside: Any, outside: Any) -> None:
    assert validate_modify_body({member: inside}, sanitise) == {member: inside}
    ModifyUser.model_validate({member: inside})
    assert isinstance(validate_modify_body({member: outside}, sanitise), ApiError)
    with pytest.raises(ValidationError):
        ModifyUser.model_validate({member: outside})


@pytest.mark.parametrize("member", ["username", "contact", "admin_comment"])
def test_sandbox_and_client_model_share_the_text_lengths(member: str) -> None:
    schema = next(s for s in MODIFY_SCHEMA if s.name == member)
    assert schema.min_length is not None and schema.max_length is not None
    for length, ok in ((schema.min_length - 1, False), (schema.min_length, True), (schema.max_length, True)):
        value = "x" * length
        assert (validate_modify_body({member: value}, sanitise) == {member: value}) is ok
        if ok:
            ModifyUser.model_validate({member: value})
        else:
            with pytest.raises(ValidationError):
                ModifyUser.model_validate({member: value})
    too_long = "x" * (schema.max_length + 1)
    assert isinstance(validate_modify_body({member: too_long}, sanitise), ApiError)
    with pytest.raises(ValidationError):
        ModifyUser.model_validate({member: too_long})


def test_the_schema_covers_every_modify_user_field() -> None:
    assert {s.name for s in MODIFY_SCHEMA} == set(ModifyUser.model_fields)


# ------------------------------------------------------------------------------------ JSON body


@pytest.mark.parametrize(
    ("content_type", "body", "value"),
    [
        ("application/json", b'{"a": 1}', {"a": 1}),
        ("Application/JSON; charset=utf-8", b"[1]", [1]),
        ("application/merge-patch+json", b"true", True),
    ],
)
def test_json_bodies_are_read(content_type: str, body: bytes, value: Any) -> None:
    assert parse_json_body(content_type, body) == value


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (None, b"{}"),
        ("text/plain", b"{}"),
        ("application/jsonx", b"{}"),
        ("application/json", b"  "),
        ("application/json", b"{"),
        ("application/json", b'{"kudos": NaN}'),
        ("application/json", b'{"kudos": Infinity}'),
        ("application/json", b'{"username": "\\ud800"}'),
        ("application/json", b"[" * 100000),
    ],
)
def test_unreadable_bodies_are_refused(content_type: str | None, body: bytes) -> None:
    with pytest.raises(UnreadableBody):
        parse_json_body(content_type, body)
