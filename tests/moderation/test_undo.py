"""Undo: the inverse change, journaled and linked; refused when impossible or when the account moved on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from horde_users.client import HordeUsers
from horde_users.moderation.changes import apply_change, delete_user, send_change, undelete_user
from horde_users.moderation.journal import Journal
from horde_users.moderation.roles import Role
from horde_users.moderation.undo import UndoRefused, apply_undo, plan_undo

if TYPE_CHECKING:
    from tests.moderation.journal_support import Staff

pytest_plugins = ["tests.moderation.journal_support"]

View = Callable[[int], dict[str, object]]


def test_undo_restores_the_account_and_links_the_entry(
    staff: Staff, boss: HordeUsers, journal: Journal, view: View
) -> None:
    target = staff.user(kudos=100)
    before = view(target.id)
    entry = apply_change(
        boss, journal, target.id,
        {"trusted": True, "concurrency": 40, "kudos": 50, "username": "renamed"},
        reason="review",
    )  # fmt: skip
    plan = plan_undo(journal, boss, entry.id)
    assert plan.allowed() and not plan.conflicts
    assert plan.changes == {
        "kudos": -50,
        "concurrency": 30,
        "trusted": False,
        "username": target.alias.rpartition("#")[0],
    }
    assert plan.roles == {Role.ADMIN, Role.MODERATOR}
    undo = apply_undo(boss, journal, plan, reason="wrong account")
    assert (undo.outcome, undo.undoes, undo.reason) == ("done", entry.id, "wrong account")
    now = view(target.id)
    for name in ("trusted", "concurrency", "kudos", "username"):
        assert now[name] == before[name], name
    assert now["kudos_details"]["admin"] == 0  # type: ignore[index]


def test_a_comment_or_contact_that_was_empty_cannot_be_undone(
    staff: Staff, boss: HordeUsers, journal: Journal
) -> None:
    entry = apply_change(boss, journal, staff.user().id, {"admin_comment": "first note"}, reason="note")
    plan = plan_undo(journal, boss, entry.id)
    assert not plan.allowed(force=True)
    assert plan.refusals == [
        "admin_comment was empty or not visible to the actor before, so it cannot be set back"
    ]


def test_undo_refuses_once_the_account_moved_on_unless_forced(
    staff: Staff, boss: HordeUsers, journal: Journal, view: View
) -> None:
    target = staff.user()
    entry = apply_change(boss, journal, target.id, {"concurrency": 40}, reason="more room")
    apply_change(boss, journal, target.id, {"concurrency": 50}, reason="even more")
    plan = plan_undo(journal, boss, entry.id)
    assert not plan.allowed()
    assert plan.conflicts == [f"the account has moved on: concurrency is 50 now, 40 after #{entry.id}"]
    with pytest.raises(UndoRefused, match="moved on"):
        apply_undo(boss, journal, plan, reason="revert")
    assert view(target.id)["concurrency"] == 50
    forced = apply_undo(boss, journal, plan, reason="revert", force=True)
    assert forced.outcome == "done" and view(target.id)["concurrency"] == 30


def test_a_later_kudos_grant_counts_as_moving_on(staff: Staff, boss: HordeUsers, journal: Journal) -> None:
    target = staff.user(kudos=100)
    entry = apply_change(boss, journal, target.id, {"kudos": 10}, reason="bonus")
    assert plan_undo(journal, boss, entry.id).allowed()
    apply_change(boss, journal, target.id, {"kudos": 5}, reason="another bonus")
    plan = plan_undo(journal, boss, entry.id)
    assert plan.conflicts and "kudos_details.admin" in plan.conflicts[0]


def test_an_undone_entry_is_not_undone_twice_unless_forced(
    staff: Staff, boss: HordeUsers, journal: Journal
) -> None:
    entry = apply_change(boss, journal, staff.user().id, {"flagged": True}, reason="spam")
    first = apply_undo(boss, journal, plan_undo(journal, boss, entry.id), reason="not spam")
    again = plan_undo(journal, boss, entry.id)
    assert f"already undone by #{first.id}" in again.conflicts
    assert not again.allowed()


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"reset_suspicion": True}, "reset_suspicion removed the suspicion records"),
        ({"monthly_kudos": 100}, "monthly_kudos cannot be reversed"),
        ({"monthly_kudos": -5}, "monthly_kudos cannot be reversed"),
        ({"usage_multiplier": 2.0}, "usage_multiplier is in no view"),
        ({"trusted": True, "reset_suspicion": True}, "reset_suspicion removed"),
    ],
)
def test_changes_that_cannot_be_undone_are_refused_even_forced(
    staff: Staff, boss: HordeUsers, journal: Journal, changes: dict[str, object], refusal: str
) -> None:
    entry = apply_change(boss, journal, staff.user().id, changes, reason="test")
    assert entry.outcome == "done"
    plan = plan_undo(journal, boss, entry.id)
    assert not plan.allowed(force=True)
    assert any(refusal in text for text in plan.refusals), plan.refusals
    with pytest.raises(UndoRefused, match=refusal.split()[0]):
        apply_undo(boss, journal, plan, reason="undo", force=True)
    assert journal.undone_by(entry.id) == []


def test_a_new_proxy_passkey_cannot_be_undone(staff: Staff, journal: Journal) -> None:
    service = staff.user("svc", service=True)
    with staff.client(service) as own:
        entry = apply_change(own, journal, service.id, {"generate_proxy_passkey": True}, reason=None)
        plan = plan_undo(journal, own, entry.id)
    assert plan.refusals == ["generate_proxy_passkey replaced the old passkey for good"]


def test_a_refused_change_has_nothing_to_undo(staff: Staff, journal: Journal) -> None:
    with staff.client(staff.mod) as mod:
        entry = send_change(mod, journal, staff.user().id, "modify", {"kudos": 5}, reason="x").entry
        plan = plan_undo(journal, mod, entry.id)
    assert plan.refusals == [f"entry #{entry.id} was refused: nothing known to undo"]


def test_side_effects_are_undone_too(staff: Staff, boss: HordeUsers, journal: Journal, view: View) -> None:
    promoted = staff.user()
    entry = apply_change(boss, journal, promoted.id, {"moderator": True}, reason="new moderator")
    assert view(promoted.id)["trusted"] is True  # moderator: true also trusts
    plan = plan_undo(journal, boss, entry.id)
    assert plan.changes == {"moderator": False, "trusted": False}
    apply_undo(boss, journal, plan, reason="too early")
    assert (view(promoted.id)["moderator"], view(promoted.id)["trusted"]) == (False, False)

    school = staff.user()
    entry = apply_change(boss, journal, school.id, {"education": True}, reason="a school")
    assert view(school.id)["concurrency"] == 200
    plan = plan_undo(journal, boss, entry.id)
    assert plan.changes == {"education": False, "concurrency": 30}
    apply_undo(boss, journal, plan, reason="not a school")
    assert (view(school.id)["education"], view(school.id)["concurrency"]) == (False, 30)


def test_a_delete_is_undone_with_an_undelete_and_back(
    staff: Staff, boss: HordeUsers, journal: Journal, view: View
) -> None:
    target = staff.user()
    deleted = delete_user(boss, journal, target.id, reason="spam")
    plan = plan_undo(journal, boss, deleted.id)
    assert plan.action == "undelete" and plan.allowed()
    restored = apply_undo(boss, journal, plan, reason="appeal")
    assert restored.action == "undelete" and view(target.id)["deleted"] is False

    redo = plan_undo(journal, boss, restored.id)  # undoing the undelete soft-deletes again
    assert redo.action == "delete" and redo.roles == {Role.MODERATOR}
    apply_undo(boss, journal, redo, reason="appeal withdrawn")
    assert view(target.id)["deleted"] is True


def test_an_undelete_is_never_undone_on_a_deleted_account(
    staff: Staff, boss: HordeUsers, journal: Journal, view: View
) -> None:
    target = staff.user()
    delete_user(boss, journal, target.id, reason="spam")
    restored = undelete_user(boss, journal, target.id, reason="appeal")
    delete_user(boss, journal, target.id, reason="spam again")
    plan = plan_undo(journal, boss, restored.id)
    assert "a delete now would wipe it for good" in " ".join(plan.refusals)
    with pytest.raises(UndoRefused):
        apply_undo(boss, journal, plan, reason="x", force=True)
    assert view(target.id)["deleted"] is True  # still there, not wiped
