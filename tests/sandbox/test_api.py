"""End-to-end behaviour of the sandbox over a real port (docs/users-api.md §2-§9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from horde_users.sandbox import Sandbox

from .conftest import Roles
from .frozen_clock import FrozenClock

# ---------------------------------------------------------------------------------- helpers

LEVEL1_ONLY = {"worker_ids", "sharedkey_ids", "vpn", "special"}
LEVEL2_ONLY = {"evaluating_kudos", "monthly_kudos", "suspicious"}


def put(roles: Roles, who: str | None, target: int | str, body: Any) -> httpx.Response:
    return roles.http.put(f"/v2/users/{target}", headers=roles.key(who), json=body)


def get(roles: Roles, who: str | None, target: int | str) -> httpx.Response:
    return roles.http.get(f"/v2/users/{target}", headers=roles.key(who))


def rc(response: httpx.Response) -> str | None:
    value = response.json().get("rc")
    return value if isinstance(value, str) else None


def user_json(roles: Roles, target: int) -> dict[str, Any]:
    """The target seen by a moderator (level 2)."""
    response = get(roles, "mod", target)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# -------------------------------------------------------------------------- privilege matrix


@pytest.mark.parametrize(
    ("caller", "level"),
    [(None, 0), ("anon", 0), ("bob", 0), ("alice", 1), ("mod", 2), ("admin", 0), ("adminmod", 2)],
)
def test_privilege_matrix_on_get_user(roles: Roles, caller: str | None, level: int) -> None:
    roles.sandbox.store.set_fields(roles.alice.id, contact="alice@example.org", admin_comment="noted")
    response = get(roles, caller, roles.alice.id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    keys = set(response.json())
    assert (keys >= LEVEL1_ONLY) is (level >= 1)
    assert ("contact" in keys) is (level >= 1)
    assert (keys >= LEVEL2_ONLY) is (level == 2)
    assert ("admin_comment" in keys) is (level == 2)
    assert "active_generations" not in keys
    assert "public_workers" not in keys


def test_anonymous_key_sees_user_0_at_level_1(fresh_roles: Roles) -> None:
    roles = fresh_roles
    body = get(roles, "anon", 0).json()
    assert body["username"] == "Anonymous#0"
    assert body["concurrency"] == 500
    assert "sharedkey_ids" in body
    public = get(roles, None, 0).json()
    assert public["worker_ids"] == []  # public workers
    assert "sharedkey_ids" not in public


def test_leading_zeros_find_the_user_and_count_as_owner(roles: Roles) -> None:
    body = get(roles, "alice", f"00{roles.alice.id}").json()
    assert body["id"] == roles.alice.id
    assert "sharedkey_ids" in body


@pytest.mark.parametrize("path", ["abc", "-1", "db0", "1%23x", "%203", "%00", "%E2%91%A0"])
def test_non_digit_ids_are_not_found_before_the_key_is_checked(roles: Roles, path: str) -> None:
    response = roles.http.get(f"/v2/users/{path}", headers={"apikey": "bogus"})
    assert response.status_code == 404
    assert response.json() == {
        "message": "User with ID 'Please use only the numerical part of the userID. E.g. the '1' in 'db0#1'' "
        "not found.",
        "rc": "UserNotFound",
    }


def test_a_bad_key_beats_a_missing_user(roles: Roles) -> None:
    assert roles.http.get("/v2/users/999", headers={"apikey": "bogus"}).status_code == 401
    response = roles.http.get("/v2/users/999")
    assert response.status_code == 404
    assert response.json() == {"message": "User with ID '999' not found.", "rc": "UserNotFound"}
    huge = roles.http.get("/v2/users/" + "9" * 400)
    assert huge.status_code == 404
    assert roles.http.get("/v2/users/2147483648").status_code == 404


def test_shared_keys_are_not_api_keys(roles: Roles) -> None:
    shared = roles.sandbox.create_shared_key(roles.alice.alias, "bot")
    for response in (
        roles.http.get(f"/v2/users/{roles.alice.id}", headers={"apikey": shared}),
        roles.http.put(f"/v2/users/{roles.alice.id}", headers={"apikey": shared}, json={"contact": "hello"}),
        roles.http.delete(f"/v2/users/{roles.alice.id}", headers={"apikey": shared}),
    ):
        assert response.status_code == 401
        assert rc(response) == "InvalidAPIKey"


# ------------------------------------------------------------------------------- find_user


def test_find_user_by_api_key_is_the_own_view(roles: Roles) -> None:
    body = roles.http.get("/v2/find_user", headers=roles.key("mod")).json()
    assert body["username"] == roles.mod.alias
    assert "sharedkey_ids" in body
    assert "suspicious" not in body  # level 1 even for moderators
    anon = roles.http.get("/v2/find_user", headers=roles.key("anon")).json()
    assert anon["username"] == "Anonymous#0"


def test_find_user_by_shared_key(roles: Roles) -> None:
    named = roles.sandbox.create_shared_key(roles.alice.id, "my bot")
    unnamed = roles.sandbox.create_shared_key(roles.alice)
    empty = roles.sandbox.create_shared_key(roles.alice, "")
    alias = roles.alice.alias
    cases = {
        named: f"{alias} (Shared Key: my bot)",
        named.upper(): f"{alias} (Shared Key: my bot)",
        named.replace("-", ""): f"{alias} (Shared Key: my bot)",
        unnamed: f"{alias} (Shared Key)",
        empty: f"{alias} (Shared Key: )",
    }
    for key, username in cases.items():
        body = roles.http.get("/v2/find_user", headers={"apikey": key}).json()
        assert body["username"] == username
        assert body["id"] == roles.alice.id
        assert "sharedkey_ids" not in body  # level 0
    own = roles.http.get("/v2/find_user", headers=roles.key("alice")).json()
    assert sorted(own["sharedkey_ids"]) == sorted([named, unnamed, empty])


def test_find_user_errors(roles: Roles) -> None:
    for headers in ({}, {"apikey": ""}):
        response = roles.http.get("/v2/find_user", headers=headers)
        assert response.status_code == 401
        assert rc(response) == "InvalidAPIKey"
    response = roles.http.get("/v2/find_user", headers={"apikey": "No-Such-Key"})
    assert response.status_code == 404
    assert response.json() == {"message": "User with api_key 'No-Such-Key' not found.", "rc": "UserNotFound"}


# ------------------------------------------------------------------------------------ listing


@pytest.fixture
def frozen_clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def frozen_http(frozen_clock: FrozenClock) -> Iterator[tuple[Sandbox, httpx.Client]]:
    """A fresh sandbox whose clock stands still at ``frozen_clock``, and a client on it."""
    with Sandbox(clock=frozen_clock) as sb, httpx.Client(base_url=sb.url, timeout=30) as client:
        yield sb, client


def test_pagination_and_sorting_over_many_users(frozen_http: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = frozen_http
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    for n in range(64):
        # kudos ties in pairs; creation times run backwards so age order differs from id order
        sandbox.create_user(f"user{n:02d}", kudos=(n // 2) * 10, created=start - timedelta(days=n))
    everyone: list[dict[str, Any]] = []
    for page in range(1, 5):
        batch = http.get("/v2/users", params={"page": page}).json()
        everyone.extend(batch)
        assert len(batch) == (25 if page < 3 else (65 - 50 if page == 3 else 0))
    assert len(everyone) == 65
    assert len({u["id"] for u in everyone}) == 65
    pairs = [(-u["kudos"], u["id"]) for u in everyone]
    assert pairs == sorted(pairs)  # kudos descending, ties by ascending id
    assert all(len(u) == 31 for u in everyone)
    by_age = [u for p in (1, 2, 3) for u in http.get("/v2/users", params={"page": p, "sort": "age"}).json()]
    assert [u["username"] for u in by_age[:2]] == ["user63#64", "user62#63"]
    assert by_age[-1]["username"] == "Anonymous#0"  # created now, after the seeded past
    assert by_age[-1]["account_age"] == 0
    seconds = (datetime(2026, 11, 1, 12, 0) - datetime(2020, 1, 1) + timedelta(days=63)).total_seconds()
    assert by_age[0]["account_age"] == int(seconds)
    # the clock stands still, so pages taken at different moments are equal, account_age included
    assert http.get("/v2/users", params={"sort": "AGE"}).json()[0]["kudos"] == 310.0
    assert http.get("/v2/users?page=0").json() == http.get("/v2/users?page=1").json()
    assert http.get("/v2/users?page=%2B2").json() == http.get("/v2/users?page=2").json()
    assert http.get("/v2/users?page=2&page=abc").json() == http.get("/v2/users?page=2").json()
    assert http.get("/v2/users?page=10001").json() == []


def test_ages_dates_and_the_wipe_rule_follow_the_sandbox_clock(
    frozen_clock: FrozenClock, frozen_http: tuple[Sandbox, httpx.Client]
) -> None:
    sandbox, http = frozen_http
    adminmod = {"apikey": sandbox.create_user("adminmod", admin=True, moderator=True).api_key}
    alice = sandbox.create_user("alice")
    frozen_clock.advance(timedelta(seconds=90))
    assert http.put(f"/v2/users/{alice.id}", headers=adminmod, json={"monthly_kudos": 5}).status_code == 200
    seen = http.get(f"/v2/users/{alice.id}", headers=adminmod).json()
    assert seen["account_age"] == 90
    assert seen["monthly_kudos"] == {"amount": 5, "last_received": "Sun, 01 Nov 2026 12:01:30 -0000"}
    listed = {u["id"]: u for u in http.get("/v2/users").json()}
    assert listed[alice.id]["account_age"] == 90

    assert http.delete(f"/v2/users/{alice.id}", headers=adminmod).status_code == 200
    frozen_clock.advance(timedelta(days=30, seconds=-91))  # one second before created + 30 days
    refused = http.delete(f"/v2/users/{alice.id}", headers=adminmod)
    assert (refused.status_code, refused.json()) == (
        403,
        {
            "message": "You cannot permanently wipe a user that was active in the last 30 days. "
            "Try again after 2026-12-01 12:00:00",
            "rc": "CannotWipeActiveUser",
        },
    )
    frozen_clock.advance(timedelta(seconds=1))
    assert http.delete(f"/v2/users/{alice.id}", headers=adminmod).json() == {"message": "OK"}
    assert http.get(f"/v2/users/{alice.id}").status_code == 404


@pytest.mark.parametrize("raw", ["abc", "", "1.5"])
def test_a_bad_page_is_400(http: httpx.Client, raw: str) -> None:
    response = http.get(f"/v2/users?page={raw}")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "page": "Which page of results to return. Each page has 25 users. "
        f"invalid literal for int() with base 10: {raw!r}"
    }


def test_listing_shows_soft_deleted_but_not_wiped_users(fresh_roles: Roles) -> None:
    roles = fresh_roles
    roles.sandbox.set_last_active(roles.bob, None)
    assert roles.http.delete(f"/v2/users/{roles.alice.id}", headers=roles.key("alice")).status_code == 200
    assert roles.http.delete(f"/v2/users/{roles.bob.id}", headers=roles.key("bob")).status_code == 200
    assert roles.http.delete(f"/v2/users/{roles.bob.id}", headers=roles.key("bob")).status_code == 200
    listed = {u["id"]: u for u in roles.http.get("/v2/users").json()}
    assert listed[roles.alice.id]["deleted"] is True
    assert roles.bob.id not in listed


# --------------------------------------------------------------------------- PUT by role


ADMIN_FIELDS = {"kudos": 10, "monthly_kudos": 5, "usage_multiplier": 2.5, "moderator": False}
MOD_FIELDS = {
    "concurrency": 40,
    "worker_invited": 3,
    "trusted": True,
    "flagged": True,
    "customizer": True,
    "vpn": True,
    "service": True,
    "education": False,
    "special": True,
    "reset_suspicion": True,
    "admin_comment": "a moderator note",
}
OWNER_FIELDS = {"public_workers": True, "username": "renamed", "contact": "me@example.org"}


@pytest.mark.parametrize("caller", ["admin", "mod", "adminmod", "alice", "bob", "anon"])
@pytest.mark.parametrize("member", [*ADMIN_FIELDS, *MOD_FIELDS, *OWNER_FIELDS])
def test_every_put_field_by_every_role(roles: Roles, caller: str, member: str) -> None:
    value = {**ADMIN_FIELDS, **MOD_FIELDS, **OWNER_FIELDS}[member]
    is_admin = caller in ("admin", "adminmod")
    is_mod = caller in ("mod", "adminmod")
    is_owner = caller == "alice"
    if member in ADMIN_FIELDS:
        allowed, refusal = is_admin, "NotAdmin"
    elif member in MOD_FIELDS:
        allowed, refusal = is_mod, "NotModerator"
    else:
        allowed, refusal = is_mod or is_owner, "NotModerator"
    response = put(roles, caller, roles.alice.id, {member: value})
    if not allowed:
        assert response.status_code == 403
        assert rc(response) == refusal
        return
    assert response.status_code == 200, response.text
    echo_key = {"kudos": "new_kudos", "reset_suspicion": "new_suspicion"}.get(member, member)
    assert list(response.json()) == [echo_key]


def test_put_effects_and_echoes(roles: Roles) -> None:
    alice = roles.alice.id
    reply = put(
        roles, "adminmod", alice, {"kudos": 10, "usage_multiplier": 1, "monthly_kudos": 0, "concurrency": 40}
    )
    assert reply.json() == {
        "new_kudos": 110.0,
        "concurrency": 40,
        "usage_multiplier": 1.0,
        "monthly_kudos": 0,
    }
    assert json.loads(reply.text)["new_kudos"] == 110.0
    assert '"new_kudos": 110.0' in reply.text
    body = user_json(roles, alice)
    assert body["kudos"] == 110.0
    assert body["kudos_details"]["admin"] == 10.0
    assert body["monthly_kudos"]["amount"] == 0
    assert body["monthly_kudos"]["last_received"].endswith(" -0000")  # set by any monthly value
    assert put(roles, "admin", alice, {"monthly_kudos": 100}).json() == {"monthly_kudos": 100}
    body = user_json(roles, alice)
    assert body["kudos"] == 210.0
    assert body["kudos_details"]["recurring"] == 100.0
    assert put(roles, "admin", alice, {"monthly_kudos": -500}).json() == {"monthly_kudos": 0}
    assert user_json(roles, alice)["kudos"] == 210.0
    assert put(roles, "admin", alice, {"kudos": 12.7}).json() == {"new_kudos": 222.0}
    assert put(roles, "admin", alice, {"kudos": -1.9}).json() == {"new_kudos": 221.0}


def test_the_kudos_floor_worked_example(fresh_roles: Roles) -> None:
    roles = fresh_roles
    poor = roles.sandbox.create_user("poor", kudos=3)
    assert put(roles, "admin", poor.id, {"monthly_kudos": -1}).json() == {"monthly_kudos": 0}
    assert user_json(roles, poor.id)["kudos"] == 3.0
    assert put(roles, "admin", poor.id, {"kudos": -1}).json() == {"new_kudos": 25.0}
    assert user_json(roles, poor.id)["kudos_details"]["admin"] == -1.0
    pseudo = roles.sandbox.create_user("pseudo", pseudonymous=True)
    assert put(roles, "admin", pseudo.id, {"kudos": 0}).json() == {"new_kudos": 14.0}
    assert put(roles, "admin", 0, {"kudos": -1000}).json() == {"new_kudos": -50.0}


def _inexact(member: str, value: float) -> dict[str, Any]:
    return {
        "errors": {
            member: f"{value!r} would take the kudos balance or kudos_details to 2**53 "
            "(9007199254740992) or beyond, where kudos are no longer exact; nothing was changed"
        },
        "message": "Input payload validation failed",
    }


def test_a_kudos_grant_the_float_balance_cannot_hold_is_refused(roles: Roles) -> None:
    near = roles.sandbox.create_user("near", kudos=2**53 - 10)
    assert put(roles, "admin", near.id, {"kudos": 9}).json() == {"new_kudos": float(2**53 - 1)}
    refused = put(roles, "admin", near.id, {"kudos": 2})  # 2**53 + 1 is no float: one kudo would be lost
    assert (refused.status_code, refused.json()) == (400, _inexact("kudos", 2))
    assert user_json(roles, near.id)["kudos"] == float(2**53 - 1)

    rich = roles.sandbox.create_user("rich", kudos=1e16)  # above 2**53: +1 or -1 would be lost
    for member, value in (("kudos", 1), ("kudos", -1.5), ("monthly_kudos", 5)):
        refused = put(roles, "admin", rich.id, {member: value})
        assert (refused.status_code, refused.json()) == (400, _inexact(member, value))
    before = user_json(roles, rich.id)
    assert (before["kudos"], before["monthly_kudos"]) == (1e16, {"amount": 0})  # the allowance too
    assert (before["kudos_details"]["admin"], before["kudos_details"]["recurring"]) == (0, 0)
    assert put(roles, "admin", rich.id, {"kudos": 0}).json() == {"new_kudos": 1e16}  # changes nothing
    assert put(roles, "admin", rich.id, {"kudos": -1e15}).json() == {"new_kudos": 9e15}
    assert put(roles, "admin", rich.id, {"monthly_kudos": -5}).json() == {"monthly_kudos": 0}

    # kudos_details.admin moves by the requested delta even where the floor holds the balance
    floored = roles.sandbox.create_user("floored", kudos=25)
    roles.sandbox.set_kudos_details(floored, admin=-(2**53) + 10)
    refused = put(roles, "admin", floored.id, {"kudos": -10})
    assert (refused.status_code, refused.json()) == (400, _inexact("kudos", -10))
    after = user_json(roles, floored.id)
    assert (after["kudos"], after["kudos_details"]["admin"]) == (25.0, -(2**53) + 10)


def test_moderator_role_implies_trusted_and_the_monthly_bonus(roles: Roles) -> None:
    assert put(roles, "admin", roles.bob.id, {"moderator": True}).json() == {"moderator": True}
    body = user_json(roles, roles.bob.id)
    assert body["trusted"] is True
    assert body["monthly_kudos"] == {"amount": 300000}
    assert put(roles, "admin", roles.bob.id, {"moderator": False}).json() == {"moderator": False}
    assert user_json(roles, roles.bob.id)["trusted"] is True


def test_education_moves_concurrency_unless_it_is_in_the_body(roles: Roles) -> None:
    alice = roles.alice.id
    assert put(roles, "mod", alice, {"education": True}).json() == {"concurrency": 200, "education": True}
    assert put(roles, "mod", alice, {"education": False}).json() == {"concurrency": 30, "education": False}
    assert put(roles, "mod", alice, {"education": True, "concurrency": 50}).json() == {
        "concurrency": 50,
        "education": True,
    }
    assert user_json(roles, alice)["concurrency"] == 50


def test_reset_suspicion_fires_on_false_too(roles: Roles) -> None:
    roles.sandbox.add_suspicion(roles.alice)
    roles.sandbox.add_suspicion(roles.alice)
    assert user_json(roles, roles.alice.id)["suspicious"] == 2
    assert put(roles, "mod", roles.alice.id, {"reset_suspicion": False}).json() == {"new_suspicion": 0}
    assert user_json(roles, roles.alice.id)["suspicious"] == 0


def test_texts_are_sanitised_and_equal_values_still_count(roles: Roles) -> None:
    alice = roles.alice.id
    assert put(roles, "alice", alice, {"contact": "  <me>&you  "}).json() == {"contact": "&lt;me&gt;&amp;you"}
    assert user_json(roles, alice)["contact"] == "&lt;me&gt;&amp;you"
    roles.sandbox.store.set_fields(alice, contact="same value")
    assert put(roles, "alice", alice, {"contact": "same value"}).json() == {"contact": "same value"}
    assert put(roles, "mod", alice, {"admin_comment": "watch this"}).json() == {"admin_comment": "watch this"}
    assert put(roles, "mod", alice, {"admin_comment": "watch this"}).json() == {"admin_comment": "watch this"}
    assert put(roles, "alice", alice, {"username": " new<name> "}).json() == {"username": "new&lt;name&gt;"}
    assert get(roles, None, alice).json()["username"] == f"new&lt;name&gt;#{alice}"


@pytest.mark.parametrize(
    ("member", "text", "code"),
    [
        ("username", "Holy SHIT", "ProfaneUserName"),
        ("contact", "shit happens", "ProfaneUserContact"),
        ("admin_comment", "a cunt of a user", "ProfaneAdminComment"),
    ],
)
def test_profanity_is_refused(roles: Roles, member: str, text: str, code: str) -> None:
    response = put(roles, "mod", roles.alice.id, {member: text})
    assert response.status_code == 400
    assert rc(response) == code


def test_username_checks_profanity_before_length(roles: Roles) -> None:
    long_profane = "shit " + "a" * 30
    assert rc(put(roles, "alice", roles.alice.id, {"username": long_profane})) == "ProfaneUserName"
    response = put(roles, "alice", roles.alice.id, {"username": "a" * 31})
    assert response.status_code == 400
    assert response.json() == {
        "message": "The specified username is too long. Please stay below 30",
        "rc": "TooLongUserName",
    }
    assert put(roles, "alice", roles.alice.id, {"username": "a" * 30}).status_code == 200


def test_a_custom_profanity_list() -> None:
    with Sandbox(profanity_words=["gadzooks"]) as sb, httpx.Client(base_url=sb.url) as http:
        user = sb.create_user("someone")
        headers = {"apikey": user.api_key}
        assert (
            http.put(f"/v2/users/{user.id}", headers=headers, json={"contact": "shit yes"}).status_code == 200
        )
        refused = http.put(f"/v2/users/{user.id}", headers=headers, json={"contact": "oh Gadzooks!"})
        assert refused.json()["rc"] == "ProfaneUserContact"


def test_proxy_passkey_needs_owner_or_mod_then_the_service_role(roles: Roles) -> None:
    assert rc(put(roles, "bob", roles.alice.id, {"generate_proxy_passkey": True})) == "NotModerator"
    assert rc(put(roles, "alice", roles.alice.id, {"generate_proxy_passkey": True})) == "NonServiceForbidden"
    service = roles.sandbox.create_user("svc", service=True)
    headers = {"apikey": service.api_key}
    first = roles.http.put(f"/v2/users/{service.id}", headers=headers, json={"generate_proxy_passkey": False})
    passkey = first.json()["proxy_passkey"]
    assert len(passkey) == 22
    assert roles.sandbox.store.proxy_passkey_owner_is_service(passkey)
    assert user_json(roles, service.id)["proxy_passkey"] == passkey
    second = roles.http.put(f"/v2/users/{service.id}", headers=headers, json={"generate_proxy_passkey": True})
    assert second.json()["proxy_passkey"] != passkey
    assert not roles.sandbox.store.proxy_passkey_owner_is_service(passkey)


def test_role_changes_on_anonymous_are_ignored(fresh_roles: Roles) -> None:
    roles = fresh_roles
    reply = put(
        roles, "adminmod", 0, {"trusted": True, "moderator": True, "education": True, "concurrency": 400}
    )
    assert reply.json() == {"concurrency": 400, "moderator": False, "trusted": False, "education": False}
    body = user_json(roles, 0)
    assert body["trusted"] is False
    assert body["moderator"] is False
    assert body["concurrency"] == 400


def test_the_anonymous_key_cannot_change_owner_fields_of_user_0(roles: Roles) -> None:
    for member, value in OWNER_FIELDS.items():
        assert rc(put(roles, "anon", 0, {member: value})) == "AnonForbiddenUserMod"
    assert rc(put(roles, "anon", 0, {"undelete": True})) == "UserNotDeleted"
    assert rc(put(roles, "anon", 0, {"admin_comment": "hello there"})) == "NotModerator"


def test_renaming_an_admin_removes_admin_status(roles: Roles) -> None:
    assert put(roles, "admin", roles.admin.id, {"username": "newname"}).status_code == 200
    assert rc(put(roles, "admin", roles.alice.id, {"kudos": 1})) == "NotAdmin"


def test_admins_from_the_start_option_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(admins=["boss#1"]) as sb, httpx.Client(base_url=sb.url) as http:
        boss = sb.create_user("boss")
        other = sb.create_user("other")
        target = sb.create_user("target")

        def kudos(user_key: str) -> int:
            reply = http.put(f"/v2/users/{target.id}", headers={"apikey": user_key}, json={"kudos": 1})
            return reply.status_code

        assert kudos(boss.api_key) == 200
        assert kudos(other.api_key) == 403
        monkeypatch.setenv("ADMINS", json.dumps([other.alias]))
        assert kudos(other.api_key) == 200  # re-read on every request
        monkeypatch.setenv("ADMINS", "[not json")
        assert kudos(other.api_key) == 403  # malformed: logged, treated as empty, never a 500
        assert kudos(boss.api_key) == 200
        monkeypatch.setenv("ADMINS", '{"a": 1}')
        assert kudos(boss.api_key) == 200


# ------------------------------------------------------------------- PUT order and partiality


def test_put_lookup_order(roles: Roles) -> None:
    # body errors first, even for unknown users and without a key
    assert roles.http.put("/v2/users/999", content=b"x=1").status_code == 400
    response = roles.http.put("/v2/users/999", json={"concurrency": "x"})
    assert "errors" in response.json()
    # then the user (no digit check: int() rules), then the key
    assert roles.http.put("/v2/users/999", json={"concurrency": 5}).json() == {
        "message": "User with ID '999' not found.",
        "rc": "UserNotFound",
    }
    assert roles.http.put("/v2/users/abc", json={"concurrency": 5}).json()["message"] == (
        "User with ID 'abc' not found."
    )
    missing = roles.http.put(f"/v2/users/{roles.alice.id}", json={"concurrency": 5})
    assert missing.json() == {
        "errors": {"apikey": "The Admin API . Missing required parameter in the HTTP headers"},
        "message": "Input payload validation failed",
    }
    assert rc(put(roles, "alice", f"+{roles.alice.id}", {"contact": "hello there"})) is None
    empty = roles.http.put(f"/v2/users/{roles.alice.id}", headers={"apikey": ""}, json={"concurrency": 5})
    assert empty.status_code == 401


def test_nothing_to_do(roles: Roles) -> None:
    for body in ({}, {"unknown": 1}, {"filtered": True}):
        response = put(roles, "mod", roles.alice.id, body)
        assert response.status_code == 400
        assert response.json() == {"message": "No usermod operations selected!", "rc": "NoUserModSelected"}


def test_earlier_rows_stay_applied_when_a_later_one_fails(roles: Roles) -> None:
    response = put(roles, "mod", roles.alice.id, {"trusted": True, "username": "x" * 31})
    assert rc(response) == "TooLongUserName"
    assert user_json(roles, roles.alice.id)["trusted"] is True
    # the owner's contact (row 18) never runs when trusted (row 7) is refused
    response = put(roles, "alice", roles.alice.id, {"contact": "new contact", "flagged": True})
    assert rc(response) == "NotModerator"
    assert "contact" not in user_json(roles, roles.alice.id)
    # an admin who is not a moderator: kudos applied, concurrency refused
    response = put(roles, "admin", roles.alice.id, {"kudos": 5, "concurrency": 50})
    assert rc(response) == "NotModerator"
    assert user_json(roles, roles.alice.id)["kudos"] == 105.0


# ------------------------------------------------------------------------- delete and undelete


def test_delete_checks(roles: Roles) -> None:
    alice = roles.alice.id
    assert rc(roles.http.delete(f"/v2/users/{alice}", headers=roles.key("anon"))) == "AnonForbiddenUser"
    assert rc(roles.http.delete(f"/v2/users/{roles.mod.id}", headers=roles.key("mod"))) == "CannotDeleteMod"
    assert rc(roles.http.delete(f"/v2/users/{alice}", headers=roles.key("bob"))) == "NotUserOrMod"
    assert rc(roles.http.delete(f"/v2/users/{alice}", headers=roles.key("admin"))) == "NotUserOrMod"
    missing = roles.http.delete(f"/v2/users/{alice}")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {
        "apikey": "The Moderator or User API key. Missing required parameter in the HTTP headers"
    }
    assert roles.http.delete("/v2/users/999").status_code == 404  # lookup before the missing key
    assert roles.http.delete("/v2/users/abc", headers={"apikey": "bogus"}).status_code == 404
    assert roles.http.delete("/v2/users/999", headers={"apikey": "bogus"}).status_code == 401
    assert roles.http.delete("/v2/users/0", headers=roles.key("mod")).json() == {"message": "OK"}
    assert get(roles, None, 0).json()["deleted"] is False


def test_soft_delete_then_undelete(roles: Roles) -> None:
    alice = roles.alice.id
    assert rc(put(roles, "alice", alice, {"undelete": True})) == "UserNotDeleted"
    assert roles.http.delete(f"/v2/users/{alice}", headers=roles.key("alice")).json() == {"message": "OK"}
    assert get(roles, None, alice).json()["deleted"] is True
    assert roles.http.get("/v2/find_user", headers=roles.key("alice")).json()["deleted"] is True
    assert put(roles, "alice", alice, {"undelete": True}).json() == {"undeleted": True}
    assert get(roles, None, alice).json()["deleted"] is False
    assert roles.http.delete(f"/v2/users/{alice}", headers=roles.key("mod")).status_code == 200
    assert put(roles, "mod", alice, {"undelete": False}).json() == {"undeleted": True}


def test_second_delete_of_a_recently_active_user_is_refused(roles: Roles) -> None:
    alice = roles.alice.id
    roles.http.delete(f"/v2/users/{alice}", headers=roles.key("alice"))
    response = roles.http.delete(f"/v2/users/{alice}", headers=roles.key("alice"))
    assert response.status_code == 403
    assert rc(response) == "CannotWipeActiveUser"
    assert "Try again after " in response.json()["message"]


def test_wipe_removes_the_user_for_good(fresh_roles: Roles) -> None:
    roles = fresh_roles
    alice = roles.alice
    roles.sandbox.set_last_active(alice, datetime.now(timezone.utc) - timedelta(days=31))
    key = roles.sandbox.create_shared_key(alice, "k")
    roles.sandbox.add_worker(alice)
    assert roles.http.delete(f"/v2/users/{alice.id}", headers=roles.key("alice")).status_code == 200
    assert roles.http.delete(f"/v2/users/{alice.id}", headers=roles.key("mod")).json() == {"message": "OK"}
    assert get(roles, None, alice.id).status_code == 404
    assert put(roles, "mod", alice.id, {"trusted": True}).status_code == 404
    assert roles.http.delete(f"/v2/users/{alice.id}", headers=roles.key("mod")).status_code == 404
    assert rc(get(roles, "alice", roles.bob.id)) == "InvalidAPIKey"
    assert roles.http.get("/v2/find_user", headers=roles.key("alice")).status_code == 404
    assert roles.http.get("/v2/find_user", headers={"apikey": key}).status_code == 404
    newcomer = roles.sandbox.create_user("newcomer")
    assert newcomer.id == roles.adminmod.id + 1  # ids are never reused


# ----------------------------------------------------------------------------- test-user route


def test_test_user_endpoint_creates_then_updates(sandbox: Sandbox, http: httpx.Client) -> None:
    body = {
        "username": "peer_alice",
        "oauth_id": "peer_alice_oauth",
        "moderator": False,
        "trusted": False,
        "kudos": 100,
    }
    created = http.post("/v2/dev/test-user", json=body)
    assert created.status_code == 201
    data = created.json()
    assert list(data) == sorted(data)
    assert data == {
        "alias": "peer_alice#1",
        "api_key": data["api_key"],
        "created": True,
        "kudos": 100,
        "moderator": False,
        "trusted": False,
        "user_id": "1",
        "username": "peer_alice",
    }
    first_key = data["api_key"]
    assert http.get("/v2/find_user", headers={"apikey": first_key}).json()["id"] == 1
    updated = http.post(
        "/v2/dev/test-user", json={**body, "username": "x" * 40, "moderator": True, "kudos": None}
    )
    assert updated.status_code == 200
    again = updated.json()
    assert again["username"] == "x" * 40  # an update is not cut
    assert again["moderator"] is True
    assert again["trusted"] is True
    assert again["kudos"] == 100
    assert http.get("/v2/find_user", headers={"apikey": first_key}).status_code == 404
    long_new = http.post("/v2/dev/test-user", json={"username": "y" * 40, "oauth_id": "other"}).json()
    assert long_new["username"] == "y" * 30
    assert long_new["moderator"] is True
    assert long_new["kudos"] == 10000
    mod_key = {"apikey": again["api_key"]}
    assert http.get(f"/v2/users/{long_new['user_id']}", headers=mod_key).json()["suspicious"] == 1
    pseudo = http.post("/v2/dev/test-user", json={"oauth_id": "3f2b9c1e-8d4a-4e0b-9a57-1c2d3e4f5a6b"}).json()
    assert http.get(f"/v2/users/{pseudo['user_id']}").json()["pseudonymous"] is True


def test_test_user_body_leniency_and_errors(http: httpx.Client) -> None:
    as_text = http.post(
        "/v2/dev/test-user", content=b'{"username": "ignored"}', headers={"content-type": "text/plain"}
    )
    assert as_text.json()["username"] == "test_user"
    assert http.post(
        "/v2/dev/test-user", content=b"{broken", headers={"content-type": "application/json"}
    ).status_code in (
        200,
        201,
    )
    assert http.post("/v2/dev/test-user", json=[1]).json() == {"message": "JSON object payload expected"}
    assert http.post("/v2/dev/test-user", json={"kudos": 1.0}).json() == {
        "message": "kudos must be an integer or null"
    }
    assert http.post("/v2/dev/test-user", json={"username": "shit"}).json() == {"message": "Bad Username"}


def test_test_user_endpoint_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HORDE_TEST_APIKEYS", raising=False)
    with Sandbox() as sb, httpx.Client(base_url=sb.url) as http:
        response = http.post("/v2/dev/test-user", json={})
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
        monkeypatch.setenv("HORDE_TEST_APIKEYS", "Yes")
        assert http.post("/v2/dev/test-user", json={}).status_code == 201


def test_test_user_endpoint_ignores_forwarded_for(http: httpx.Client) -> None:
    response = http.post("/v2/dev/test-user", json={}, headers={"X-Forwarded-For": "10.0.0.7"})
    assert response.status_code == 201


# ----------------------------------------------------------------------------- error shapes


def test_error_shapes_of_the_edge_cases(roles: Roles) -> None:
    http = roles.http
    alice = f"/v2/users/{roles.alice.id}"
    key = roles.key("mod")
    assert http.post("/v2/users").json() == {"message": "The method is not allowed for the requested URL."}
    assert http.post("/v2/users").status_code == 405
    assert http.get("/v2/nowhere").json() == {"message": "Not Found"}
    assert http.get("/v2/users/").status_code == 404
    unreadable = {"message": "The browser (or proxy) sent a request that this server could not understand."}
    for content, content_type in [
        (b"concurrency=30", "text/plain"),
        (b'{"concurrency": 30}', None),
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b'{"kudos": NaN}', "application/json"),
        (b'{"kudos": Infinity}', "application/json"),
        (b'{"kudos": -Infinity}', "application/json"),
        (b'{"contact": "\\ud800 lone"}', "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b"[" * 5000, "application/json"),
    ]:
        headers = {**key, **({"content-type": content_type} if content_type else {})}
        response = http.put(alice, content=content, headers=headers)
        assert response.status_code == 400, content
        assert response.json() == unreadable
    for content_type in ("application/JSON; charset=utf-8", "application/merge-patch+json"):
        response = http.put(
            alice, content=b'{"concurrency": 31}', headers={**key, "content-type": content_type}
        )
        assert response.json() == {"concurrency": 31}
    assert http.put(alice, json={"concurrency": 10**400}, headers=key).status_code == 400
    assert http.put(alice, json={"contact": "nul\x00byte here"}, headers=key).json() == {
        "contact": "nulbyte here"
    }
    assert http.get("/v2/status/heartbeat").json()["message"] == "OK"


def test_the_openapi_document_describes_the_routes(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths) >= {
        "/api/v2/users",
        "/api/v2/users/{user_id}",
        "/api/v2/find_user",
        "/api/v2/dev/test-user",
        "/api/v2/status/heartbeat",
    }
    put_body = paths["/api/v2/users/{user_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert put_body["properties"]["concurrency"] == {"type": "integer", "minimum": 0, "maximum": 500}
    assert "422" not in paths["/api/v2/users/{user_id}"]["get"]["responses"]


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v2/users/3", "GET, PUT, DELETE, HEAD, OPTIONS"),
        ("/v2/users", "GET, HEAD, OPTIONS"),
        ("/v2/find_user", "GET, HEAD, OPTIONS"),
        ("/v2/dev/test-user", "POST, OPTIONS"),
    ],
)
def test_wrong_methods_answer_405_with_allow(http: httpx.Client, path: str, allow: str) -> None:
    response = http.request("PATCH", path)
    assert response.status_code == 405
    assert response.json() == {"message": "The method is not allowed for the requested URL."}
    assert response.headers["allow"] == allow
