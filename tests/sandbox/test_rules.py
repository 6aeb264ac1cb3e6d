"""The sandbox's pure rules, tested directly (docs/users-api.md §2, §4.1, §5, §6, §7, §9, §10)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from horde_users.models.dates import format_rfc822
from horde_users.sandbox import rules
from horde_users.sandbox.rules import ApiError, Role, StyleData, UserData
from horde_users.sandbox.texts import ProfanityFilter, sanitise

NOW = datetime(2026, 11, 27, 1, 17, 41)
ALICE = UserData(id=3, username="alice", kudos=100, created=NOW - timedelta(seconds=78), last_active=NOW)
MOD = UserData(id=2, username="mod", moderator=True, trusted=True, created=NOW)
ANON = UserData(id=0, username="Anonymous", concurrency=500, public_workers=True, created=NOW)


def test_utcnow_reads_the_given_clock_as_naive_utc() -> None:
    assert rules.utcnow(lambda: 1_793_534_400.25) == datetime(2026, 11, 1, 12, 0, 0, 250000)
    assert abs(rules.utcnow() - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=1)


# ---------------------------------------------------------------------------------- privileges


@pytest.mark.parametrize(
    ("caller", "target_id", "level"),
    [(None, 3, 0), (ALICE, 3, 1), (ALICE, 4, 0), (MOD, 3, 2), (MOD, 2, 2), (ANON, 3, 0), (ANON, 0, 1)],
)
def test_privilege_level(caller: UserData | None, target_id: int, level: int) -> None:
    assert rules.privilege_level(caller, target_id) == level


@pytest.mark.parametrize(
    ("text", "ok"), [("3", True), ("003", True), ("", False), ("-1", False), ("٣", False)]
)
def test_digit_check_accepts_ascii_digits_only(text: str, ok: bool) -> None:
    assert rules.is_digit_id(text) is ok


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("003", 3),
        ("+3", 3),
        (" 3", 3),
        ("abc", None),
        ("-1", None),
        ("2147483648", None),
        ("9" * 5000, None),
    ],
)
def test_put_path_id_uses_int_and_the_id_range(text: str, value: int | None) -> None:
    assert rules.put_path_id(text) == value


# ------------------------------------------------------------------------------- page and sort


@pytest.mark.parametrize(
    ("raw", "page"),
    [(None, 1), ("1", 1), (" 2", 2), ("+2", 2), ("0", 1), ("-5", 1), ("10000", 10000), ("10001", None)],
)
def test_page_normalisation(raw: str | None, page: int | None) -> None:
    assert rules.normalise_page(raw) == page


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "\x00"])
def test_a_bad_page_is_a_validation_error_with_the_raw_repr(raw: str) -> None:
    with pytest.raises(rules.PageError) as info:
        rules.normalise_page(raw)
    body = info.value.api_error.body()
    assert body == {
        "errors": {
            "page": "Which page of results to return. Each page has 25 users. "
            f"invalid literal for int() with base 10: {raw!r}"
        },
        "message": "Input payload validation failed",
    }


@pytest.mark.parametrize(("raw", "sort"), [(None, "kudos"), ("age", "age"), ("AGE", "kudos"), ("x", "kudos")])
def test_sort_normalisation(raw: str | None, sort: str) -> None:
    assert rules.normalise_sort(raw) == sort


# ----------------------------------------------------------------------------------- rendering


def test_fresh_user_at_level_0_matches_the_contract_example() -> None:
    body = rules.render_user(ALICE, 0, NOW)
    assert list(body) == [
        "username", "id", "kudos", "concurrency", "worker_invited", "moderator", "kudos_details",
        "worker_count", "styles", "trusted", "flagged", "service", "education", "customizer", "deleted",
        "pseudonymous", "account_age", "usage", "contributions", "records",
    ]  # fmt: skip
    assert body["username"] == "alice#3"
    assert body["kudos"] == 100.0
    assert isinstance(body["kudos"], float)
    assert body["account_age"] == 78
    assert body["kudos_details"] == dict.fromkeys(rules.KUDOS_DETAIL_KEYS, 0)
    assert all(type(v) is int for v in body["kudos_details"].values())
    assert body["usage"] == {"megapixelsteps": None, "requests": None}
    assert body["records"]["usage"] == {"megapixelsteps": 0, "tokens": 0}


def test_level_1_and_2_add_their_fields_in_model_order() -> None:
    user = UserData(
        id=3, username="alice", created=NOW, contact="me@x", admin_comment="watch", proxy_passkey="pk"
    )
    level1 = rules.render_user(user, 1, NOW)
    assert {"worker_ids", "sharedkey_ids", "vpn", "special", "contact"} <= set(level1)
    assert not {"evaluating_kudos", "monthly_kudos", "suspicious", "admin_comment", "proxy_passkey"} & set(
        level1
    )
    assert "active_generations" not in level1
    level2 = rules.render_user(user, 2, NOW)
    keys = list(level2)
    assert keys.index("evaluating_kudos") == keys.index("kudos") + 1
    assert keys.index("monthly_kudos") == keys.index("sharedkey_ids") + 1
    assert level2["monthly_kudos"] == {"amount": 0}
    assert level2["suspicious"] == 0
    assert level2["admin_comment"] == "watch"
    assert level2["proxy_passkey"] == "pk"


def test_stored_float_values_render_as_floats_and_unset_as_integer_zero() -> None:
    user = UserData(
        id=3,
        username="alice",
        created=NOW,
        kudos_details={"admin": 42, "recurring": 100},
        records={"usage_megapixelsteps": 3, "request_image": 2},
        monthly_kudos=100,
        monthly_last_received=datetime(2026, 11, 27, 1, 17, 41, 123),
    )
    body = rules.render_user(user, 2, NOW)
    assert body["kudos_details"]["admin"] == 42.0
    assert type(body["kudos_details"]["admin"]) is float
    assert type(body["kudos_details"]["gifted"]) is int
    assert type(body["records"]["usage"]["megapixelsteps"]) is float
    assert body["records"]["request"] == {"image": 2, "text": 0, "interrogation": 0}
    assert body["monthly_kudos"] == {"amount": 100, "last_received": "Fri, 27 Nov 2026 01:17:41 -0000"}


def test_moderator_monthly_amount_includes_the_bonus() -> None:
    assert rules.render_user(MOD, 2, NOW)["monthly_kudos"] == {"amount": 300000}


def test_listing_keeps_all_31_keys_with_explicit_nulls() -> None:
    body = rules.render_user(ALICE, 0, NOW, listing=True)
    assert len(body) == 31
    assert body["active_generations"] == {}
    assert body["monthly_kudos"] == {}
    for key in ("evaluating_kudos", "sharedkey_ids", "vpn", "special", "suspicious", "contact", "worker_ids"):
        assert body[key] is None


def test_list_json_is_the_encoded_listing_bodies_and_ages_with_the_clock() -> None:
    users = [ALICE, MOD, ANON, UserData(id=4, username='q"\u00e9', kudos=-0.5, created=NOW)]
    for now in (NOW, NOW + timedelta(seconds=90)):  # the second run reuses the rendered users
        expected = rules.json_text([rules.render_user(user, 0, now, listing=True) for user in users])
        assert rules.render_user_list_json(users, now) == expected
    assert rules.render_user(ALICE, 0, NOW + timedelta(seconds=90), listing=True)["account_age"] == 168
    assert rules.render_user_list_json([], NOW) == "[]"


def test_public_workers_and_public_styles_show_at_level_0() -> None:
    styles = (StyleData("s1", "pub", "image", True), StyleData("s2", "priv", "text", False))
    user = UserData(id=3, username="a", created=NOW, worker_ids=("w1",), styles=styles)
    level0 = rules.render_user(user, 0, NOW)
    assert "worker_ids" not in level0
    assert level0["worker_count"] == 1
    assert level0["styles"] == [{"name": "a#3::style::pub", "id": "s1", "type": "image"}]
    assert len(rules.render_user(user, 1, NOW)["styles"]) == 2
    assert rules.render_user(ANON, 0, NOW)["worker_ids"] == []


def test_rfc822_dates_are_english_and_minus_zero() -> None:
    assert format_rfc822(datetime(2026, 1, 5, 3, 4, 5)) == "Mon, 05 Jan 2026 03:04:05 -0000"


def test_modify_echo_follows_model_order_with_floats() -> None:
    echo = {"monthly_kudos": 0, "usage_multiplier": 1, "concurrency": 40, "new_kudos": 110}
    assert list(rules.render_modify(echo).items()) == [
        ("new_kudos", 110.0),
        ("concurrency", 40),
        ("usage_multiplier", 1.0),
        ("monthly_kudos", 0),
    ]
    assert type(rules.render_modify(echo)["new_kudos"]) is float


# ------------------------------------------------------------------------------ PUT validation


def _validate(body: Any) -> dict[str, Any] | ApiError:
    return rules.validate_modify_body(body, sanitise)


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


# ----------------------------------------------------------------------------- PUT operations


def test_operations_run_in_the_contract_order() -> None:
    assert [op.member for op in rules.OPERATIONS] == [
        "kudos", "monthly_kudos", "usage_multiplier", "moderator", "concurrency", "worker_invited",
        "trusted", "flagged", "customizer", "vpn", "service", "education", "special", "reset_suspicion",
        "admin_comment", "public_workers", "username", "contact", "generate_proxy_passkey", "undelete",
    ]  # fmt: skip


def _op(member: str) -> rules.Operation:
    return next(op for op in rules.OPERATIONS if op.member == member)


@pytest.mark.parametrize(
    ("member", "caller", "target", "admin", "rc"),
    [
        ("kudos", MOD, 3, False, "NotAdmin"),
        ("kudos", ALICE, 3, True, None),
        ("concurrency", ALICE, 3, True, "NotModerator"),
        ("concurrency", MOD, 3, False, None),
        ("username", ALICE, 3, False, None),
        ("username", ALICE, 4, False, "NotModerator"),
        ("username", MOD, 3, False, None),
        ("username", ANON, 0, False, "AnonForbiddenUserMod"),
        ("username", ANON, 3, False, "NotModerator"),
        ("admin_comment", ANON, 0, False, "NotModerator"),
        ("undelete", ANON, 0, False, None),
        ("generate_proxy_passkey", ALICE, 4, False, "NotModerator"),
    ],
)
def test_role_checks(member: str, caller: UserData, target: int, admin: bool, rc: str | None) -> None:
    error = rules.check_operation(_op(member), caller, target, admin)
    assert (error.rc if error else None) == rc


def test_role_table_roles() -> None:
    assert {op.member for op in rules.OPERATIONS if op.role is Role.ADMIN} == {
        "kudos",
        "monthly_kudos",
        "usage_multiplier",
        "moderator",
    }


@pytest.mark.parametrize(
    ("education", "concurrency", "new"),
    [
        (True, 30, 200),
        (True, 199, 200),
        (True, 200, None),
        (True, 300, None),
        (False, 200, 30),
        (False, 30, None),
    ],
)
def test_education_side_effect(education: bool, concurrency: int, new: int | None) -> None:
    assert rules.education_concurrency(education, concurrency) == new


@pytest.mark.parametrize(("value", "delta"), [(12.7, 12), (-1.9, -1), (0.5, 0), (5, 5)])
def test_kudos_are_truncated_toward_zero(value: float, delta: int) -> None:
    assert rules.truncate_kudos(value) == delta


def test_kudos_floors() -> None:
    assert rules.kudos_floor(0, False) == -50
    assert rules.kudos_floor(3, False) == 25
    assert rules.kudos_floor(3, True) == 14


# ------------------------------------------------------------------------------------ DELETE


def test_delete_checks_in_order() -> None:
    target_mod = UserData(id=2, username="mod", moderator=True, created=NOW)
    assert rules.delete_decision(ANON, ALICE, NOW) == rules.rc_error("AnonForbiddenUser")
    assert rules.delete_decision(target_mod, target_mod, NOW) == rules.rc_error("CannotDeleteMod")
    bob = UserData(id=4, username="bob", created=NOW)
    assert rules.delete_decision(bob, ALICE, NOW) == rules.rc_error("NotUserOrMod")
    assert rules.delete_decision(ALICE, ALICE, NOW) == "soft_delete"
    assert rules.delete_decision(MOD, ALICE, NOW) == "soft_delete"
    assert rules.delete_decision(MOD, ANON, NOW) == "nothing"


def test_a_second_delete_wipes_only_inactive_users() -> None:
    active = UserData(
        id=3, username="a", deleted=True, created=NOW, last_active=datetime(2026, 11, 27, 1, 16, 23, 314838)
    )
    refused = rules.delete_decision(MOD, active, NOW)
    assert isinstance(refused, ApiError)
    assert refused.rc == "CannotWipeActiveUser"
    assert refused.message.endswith("Try again after 2026-12-27 01:16:23.314838")
    whole = UserData(
        id=3, username="a", deleted=True, created=NOW, last_active=datetime(2026, 11, 27, 1, 0, 0)
    )
    whole_refused = rules.delete_decision(MOD, whole, NOW)
    assert isinstance(whole_refused, ApiError)
    assert whole_refused.message.endswith("Try again after 2026-12-27 01:00:00")  # no fraction when zero
    old = UserData(id=3, username="a", deleted=True, created=NOW, last_active=NOW - timedelta(days=31))
    assert rules.delete_decision(UserData(id=3, username="a", created=NOW), old, NOW) == "wipe"
    never = UserData(id=3, username="a", deleted=True, created=NOW, last_active=None)
    assert rules.delete_decision(MOD, never, NOW) == "wipe"


# ---------------------------------------------------------------------------------- test user


def _test_user(body: Any) -> rules.TestUserRequest | ApiError:
    return rules.validate_test_user_body(body, sanitise, ProfanityFilter().is_profane)


def test_test_user_defaults_and_falsy_bodies() -> None:
    expected = rules.TestUserRequest("test_user", "ci_test_user", True, True, 10000)
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
    assert result == rules.TestUserRequest("&lt;x&gt;", "o", True, True, None)
