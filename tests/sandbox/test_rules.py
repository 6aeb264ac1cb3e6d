"""The sandbox's pure decisions, tested directly: privileges, ids, pages, the PUT plan and DELETE (§4-§7)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from horde_users.sandbox import rules
from horde_users.sandbox.domain import kudos_floor, utcnow
from horde_users.sandbox.rules import ApiError, Role, UserData
from horde_users.sandbox.texts import ProfanityFilter, sanitise

NOW = datetime(2026, 11, 27, 1, 17, 41)
ALICE = UserData(id=3, username="alice", kudos=100, created=NOW - timedelta(seconds=78), last_active=NOW)
MOD = UserData(id=2, username="mod", moderator=True, trusted=True, created=NOW)
ANON = UserData(id=0, username="Anonymous", concurrency=500, public_workers=True, created=NOW)


def test_utcnow_reads_the_given_clock_as_naive_utc() -> None:
    assert utcnow(lambda: 1_793_534_400.25) == datetime(2026, 11, 1, 12, 0, 0, 250000)
    assert abs(utcnow() - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=1)


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
    assert kudos_floor(0, False) == -50
    assert kudos_floor(3, False) == 25
    assert kudos_floor(3, True) == 14


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


# ------------------------------------------------------------------------------------- PUT plan


def _plan(caller: UserData, target: UserData, changes: dict[str, Any], *, admin: bool = False) -> rules.Plan:
    return rules.plan_modification(
        caller,
        target,
        changes,
        caller_is_admin=admin,
        is_profane=ProfanityFilter().is_profane,
        sanitise=sanitise,
    )


def test_plan_runs_rows_in_the_server_order_whatever_the_body_order() -> None:
    plan = _plan(MOD, ALICE, {"contact": "alice@example.org", "trusted": True, "kudos": 5}, admin=True)
    assert plan.refusal is None
    assert plan.effects == (
        rules.AddKudos(5, "kudos", 5),
        rules.SetFields({"trusted": True}, {"trusted": True}),
        rules.SetFields({"contact": "alice@example.org"}, {"contact": "alice@example.org"}),
    )


def test_plan_keeps_the_effects_before_the_first_refusal() -> None:
    plan = _plan(MOD, ALICE, {"trusted": True, "kudos": 5, "username": "a" * 31})
    assert plan.effects == ()
    assert plan.refusal == rules.rc_error("NotAdmin")
    plan = _plan(MOD, ALICE, {"trusted": True, "username": "a" * 31, "contact": "alice@example.org"})
    assert plan.effects == (rules.SetFields({"trusted": True}, {"trusted": True}),)
    assert plan.refusal == rules.rc_error("TooLongUserName")


def test_plan_checks_profanity_before_length_and_sanitises_texts() -> None:
    assert _plan(ALICE, ALICE, {"username": "shit " + "a" * 30}).refusal == rules.rc_error("ProfaneUserName")
    assert _plan(ALICE, ALICE, {"contact": "shit happens"}).refusal == rules.rc_error("ProfaneUserContact")
    assert _plan(MOD, ALICE, {"admin_comment": "shit happens"}).refusal == rules.rc_error(
        "ProfaneAdminComment"
    )
    sent = " <b>ob "
    clean = sanitise(sent)
    assert clean != sent
    assert _plan(ALICE, ALICE, {"username": sent}).effects == (
        rules.SetFields({"username": clean}, {"username": clean}),
    )


def test_an_unchanged_text_is_echoed_without_a_write_or_a_profanity_check() -> None:
    target = UserData(id=3, username="alice", contact="shit happens", created=NOW)
    plan = _plan(ALICE, target, {"contact": "shit happens"})
    assert plan == rules.Plan((rules.Echo({"contact": "shit happens"}),))


def test_role_rows_on_the_anonymous_user_echo_its_stored_values() -> None:
    plan = _plan(MOD, ANON, {"trusted": True, "education": True, "reset_suspicion": True, "concurrency": 7})
    assert plan.effects == (
        rules.SetFields({"concurrency": 7}, {"concurrency": 7}),
        rules.Echo({"trusted": False}),
        rules.Echo({"education": False}),
        rules.Echo({"new_suspicion": 0}),
    )


def test_education_moves_concurrency_unless_the_body_sets_it() -> None:
    plan = _plan(MOD, ALICE, {"education": True})
    both = {"concurrency": 200, "education": True}
    assert plan.effects == (rules.SetFields(both, both),)
    plan = _plan(MOD, ALICE, {"education": True, "concurrency": 40})
    assert plan.effects[-1] == rules.SetFields({"education": True}, {"education": True})


def test_a_new_moderator_is_also_trusted_but_a_removed_one_keeps_trust() -> None:
    granted = _plan(MOD, ALICE, {"moderator": True}, admin=True).effects
    assert granted == (rules.SetFields({"moderator": True, "trusted": True}, {"moderator": True}),)
    removed = _plan(MOD, MOD, {"moderator": False}, admin=True).effects
    assert removed == (rules.SetFields({"moderator": False}, {"moderator": False}),)


def test_undelete_needs_a_deleted_target_and_passkeys_a_service_caller() -> None:
    assert _plan(ALICE, ALICE, {"undelete": True}).refusal == rules.rc_error("UserNotDeleted")
    deleted = UserData(id=3, username="alice", deleted=True, created=NOW)
    assert _plan(ALICE, deleted, {"undelete": True}).effects == (rules.Undelete(),)
    assert _plan(ALICE, ALICE, {"generate_proxy_passkey": True}).refusal == rules.rc_error(
        "NonServiceForbidden"
    )
    service = UserData(id=3, username="svc", service=True, created=NOW)
    assert _plan(service, service, {"generate_proxy_passkey": True}).effects == (rules.NewProxyPasskey(),)


def test_a_body_with_no_row_is_refused() -> None:
    assert _plan(ALICE, ALICE, {"filtered": True}) == rules.Plan((), rules.rc_error("NoUserModSelected"))


def test_admin_rows_are_what_make_the_admins_looked_up() -> None:
    assert rules.needs_admin({"usage_multiplier": 2})
    assert not rules.needs_admin({"trusted": True, "contact": "x@y.z"})
