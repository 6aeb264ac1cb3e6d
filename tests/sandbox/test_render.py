"""Rendering users and PUT replies, without HTTP (docs/users-api.md §2)."""

from __future__ import annotations

from datetime import datetime, timedelta

from horde_users.models.dates import format_rfc822
from horde_users.sandbox.domain import KUDOS_DETAIL_KEYS, StyleData, UserData
from horde_users.sandbox.render import UserRenderer, json_text, render_modify

NOW = datetime(2026, 11, 27, 1, 17, 41)
ALICE = UserData(id=3, username="alice", kudos=100, created=NOW - timedelta(seconds=78), last_active=NOW)
MOD = UserData(id=2, username="mod", moderator=True, trusted=True, created=NOW)
ANON = UserData(id=0, username="Anonymous", concurrency=500, public_workers=True, created=NOW)

RENDERER = UserRenderer()


# ----------------------------------------------------------------------------------- rendering


def test_fresh_user_at_level_0_matches_the_contract_example() -> None:
    body = RENDERER.user(ALICE, 0, NOW)
    assert list(body) == [
        "username", "id", "kudos", "concurrency", "worker_invited", "moderator", "kudos_details",
        "worker_count", "styles", "trusted", "flagged", "service", "education", "customizer", "deleted",
        "pseudonymous", "account_age", "usage", "contributions", "records",
    ]  # fmt: skip
    assert body["username"] == "alice#3"
    assert body["kudos"] == 100.0
    assert isinstance(body["kudos"], float)
    assert body["account_age"] == 78
    assert body["kudos_details"] == dict.fromkeys(KUDOS_DETAIL_KEYS, 0)
    assert all(type(v) is int for v in body["kudos_details"].values())
    assert body["usage"] == {"megapixelsteps": None, "requests": None}
    assert body["records"]["usage"] == {"megapixelsteps": 0, "tokens": 0}


def test_level_1_and_2_add_their_fields_in_model_order() -> None:
    user = UserData(
        id=3, username="alice", created=NOW, contact="me@x", admin_comment="watch", proxy_passkey="pk"
    )
    level1 = RENDERER.user(user, 1, NOW)
    assert {"worker_ids", "sharedkey_ids", "vpn", "special", "contact"} <= set(level1)
    assert not {"evaluating_kudos", "monthly_kudos", "suspicious", "admin_comment", "proxy_passkey"} & set(
        level1
    )
    assert "active_generations" not in level1
    level2 = RENDERER.user(user, 2, NOW)
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
    body = RENDERER.user(user, 2, NOW)
    assert body["kudos_details"]["admin"] == 42.0
    assert type(body["kudos_details"]["admin"]) is float
    assert type(body["kudos_details"]["gifted"]) is int
    assert type(body["records"]["usage"]["megapixelsteps"]) is float
    assert body["records"]["request"] == {"image": 2, "text": 0, "interrogation": 0}
    assert body["monthly_kudos"] == {"amount": 100, "last_received": "Fri, 27 Nov 2026 01:17:41 -0000"}


def test_moderator_monthly_amount_includes_the_bonus() -> None:
    assert RENDERER.user(MOD, 2, NOW)["monthly_kudos"] == {"amount": 300000}


def test_listing_keeps_all_31_keys_with_explicit_nulls() -> None:
    body = RENDERER.user(ALICE, 0, NOW, listing=True)
    assert len(body) == 31
    assert body["active_generations"] == {}
    assert body["monthly_kudos"] == {}
    for key in ("evaluating_kudos", "sharedkey_ids", "vpn", "special", "suspicious", "contact", "worker_ids"):
        assert body[key] is None


def test_list_json_is_the_encoded_listing_bodies_and_ages_with_the_clock() -> None:
    users = [ALICE, MOD, ANON, UserData(id=4, username='q"\u00e9', kudos=-0.5, created=NOW)]
    for now in (NOW, NOW + timedelta(seconds=90)):  # the second run reuses the rendered users
        expected = json_text([RENDERER.user(user, 0, now, listing=True) for user in users])
        assert RENDERER.page_json(users, now) == expected
    assert RENDERER.user(ALICE, 0, NOW + timedelta(seconds=90), listing=True)["account_age"] == 168
    assert RENDERER.page_json([], NOW) == "[]"


def test_public_workers_and_public_styles_show_at_level_0() -> None:
    styles = (StyleData("s1", "pub", "image", True), StyleData("s2", "priv", "text", False))
    user = UserData(id=3, username="a", created=NOW, worker_ids=("w1",), styles=styles)
    level0 = RENDERER.user(user, 0, NOW)
    assert "worker_ids" not in level0
    assert level0["worker_count"] == 1
    assert level0["styles"] == [{"name": "a#3::style::pub", "id": "s1", "type": "image"}]
    assert len(RENDERER.user(user, 1, NOW)["styles"]) == 2
    assert RENDERER.user(ANON, 0, NOW)["worker_ids"] == []


def test_rfc822_dates_are_english_and_minus_zero() -> None:
    assert format_rfc822(datetime(2026, 1, 5, 3, 4, 5)) == "Mon, 05 Jan 2026 03:04:05 -0000"


def test_modify_echo_follows_model_order_with_floats() -> None:
    echo = {"monthly_kudos": 0, "usage_multiplier": 1, "concurrency": 40, "new_kudos": 110}
    assert list(render_modify(echo).items()) == [
        ("new_kudos", 110.0),
        ("concurrency", 40),
        ("usage_multiplier", 1.0),
        ("monthly_kudos", 0),
    ]
    assert type(render_modify(echo)["new_kudos"]) is float


def test_each_renderer_keeps_its_own_bodies() -> None:
    first, second = UserRenderer(capacity=2), UserRenderer()
    body = first.user(ALICE, 0, NOW)
    assert first.user(ALICE, 0, NOW) is not body  # a fresh dict each time, from the kept entry
    assert first._cached((id(ALICE), 0, False, None), ALICE) is not None
    assert second._cached((id(ALICE), 0, False, None), ALICE) is None
    first.user(MOD, 0, NOW)
    first.user(ANON, 0, NOW)  # over capacity: the kept bodies are dropped, then this one kept
    assert first._cached((id(ALICE), 0, False, None), ALICE) is None
    assert first.user(ALICE, 0, NOW) == body
