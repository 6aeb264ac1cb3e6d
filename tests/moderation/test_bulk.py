"""Bulk changes: a file validated whole, planned, sent paced and journaled, resumable without repeats."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from horde_users.client import HordeUsers
from horde_users.moderation.bulk import RowResult, apply_bulk, load_bulk_file, plan_bulk
from horde_users.moderation.journal import Journal
from horde_users.moderation.pacing import Pacer
from horde_users.moderation.roles import Role

if TYPE_CHECKING:
    from horde_users.sandbox import SeededUser
    from tests.moderation.journal_support import Staff

pytest_plugins = ["tests.moderation.journal_support"]

View = Callable[[int], dict[str, object]]


class Interrupted(Exception):
    """Raised from the progress callback to stop a run half way, as a kill would."""


def fast() -> Pacer:
    return Pacer(rate_per_minute=1e9)


def write_csv(path: Path, rows: list[str], header: str = "user_id,kudos,trusted,concurrency,reason") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_every_bad_row_is_listed_with_its_number(tmp_path: Path) -> None:
    file = load_bulk_file(
        write_csv(
            tmp_path / "changes.csv",
            [
                "3,10,,,ok",
                "4,,maybe,,bad boolean",
                "abc,,true,,bad id",
                "5,,,600,too much",
                "6,,,,nothing to change",
                "7,1e400,,,not finite",
            ],
        )
    )
    assert not file.ok
    assert [row.number for row in file.rows] == [1]
    assert file.errors[0] == "row 2: trusted: 'maybe' is not true or false"
    assert file.errors[1].startswith("row 3: user_id: expected a user id")
    assert file.errors[2] == "row 4: concurrency: Input should be less than or equal to 500"
    assert file.errors[3] == "row 5: nothing to change"
    assert file.errors[4].startswith("row 6: kudos: ")
    assert len(file.errors) == 5


def test_file_level_errors(tmp_path: Path) -> None:
    no_id = load_bulk_file(write_csv(tmp_path / "a.csv", ["3,10"], header="id,kudos"))
    assert no_id.errors == ["the CSV file needs a user_id column"]
    unknown = load_bulk_file(write_csv(tmp_path / "b.csv", ["3,10"], header="user_id,karma"))
    assert unknown.errors == ["unknown column 'karma': not a change field"]
    empty = load_bulk_file(write_csv(tmp_path / "c.csv", []))
    assert empty.errors == ["the file has no rows"]


def test_json_lines_are_validated_by_the_model(tmp_path: Path) -> None:
    path = tmp_path / "changes.jsonl"
    lines = [
        {"user_id": 3, "trusted": True, "reason": "known"},
        {"user_id": "bob#4", "concurrency": 40},
        {"user_id": 5, "trusted": "yes"},
        {"user_id": 6, "reset_suspicion": False},
        {"user_id": 7, "flagged": True, "reason": 5},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\nnot json\n[1]\n")
    file = load_bulk_file(path)
    assert [(row.number, row.user_id, row.changes, row.reason) for row in file.rows] == [
        (1, 3, {"trusted": True}, "known"),
        (2, 4, {"concurrency": 40}, None),
    ]
    assert [error.split(":")[0] for error in file.errors] == ["row 3", "row 4", "row 5", "row 6", "row 7"]
    assert file.errors[0] == "row 3: trusted: Input should be a valid boolean"
    assert file.errors[3].startswith("row 6: not JSON")


def test_the_plan_needs_a_reason_for_other_accounts_and_shows_roles(
    staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "plan.csv", [f"{staff.boss.id},,,40,", "3,10,,,", "4,,true,,own reason"])
    plan = plan_bulk(boss, journal, load_bulk_file(path))
    assert plan.errors == ["row 2: a reason is required for another account (reason column or --reason)"]
    with pytest.raises(ValueError, match="reason is required"):
        apply_bulk(boss, journal, plan, pacer=fast())
    plan = plan_bulk(boss, journal, load_bulk_file(path), reason="cleanup")
    assert plan.errors == []
    assert [(p.reason, p.roles) for p in plan.rows] == [
        ("cleanup", {Role.MODERATOR}),
        ("cleanup", {Role.ADMIN}),
        ("own reason", {Role.MODERATOR}),
    ]
    assert plan.rows[1].describe() == "row 2: user 3 kudos=10.0 (admin)"


def _kudos_file(tmp_path: Path, users: list[SeededUser]) -> Path:
    return write_csv(tmp_path / "grants.csv", [f"{user.id},25,true,,event prize" for user in users])


def test_a_killed_run_resumes_and_sends_every_row_exactly_once(
    staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path, view: View
) -> None:
    users = [staff.user(kudos=100) for _ in range(5)]
    path = _kudos_file(tmp_path, users)
    seen: list[RowResult] = []

    def die_after_two(result: RowResult) -> None:
        seen.append(result)
        if len(seen) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        apply_bulk(
            boss,
            journal,
            plan_bulk(boss, journal, load_bulk_file(path)),
            pacer=fast(),
            progress=die_after_two,
        )
    assert [view(u.id)["kudos"] for u in users] == [125.0, 125.0, 100.0, 100.0, 100.0]

    plan = plan_bulk(boss, journal, load_bulk_file(path))
    assert [p.state for p in plan.rows] == ["done earlier"] * 2 + ["send"] * 3
    report = apply_bulk(boss, journal, plan, pacer=fast())
    assert report.ok and report.summary() == "3 done, 2 done earlier"
    assert [view(u.id)["kudos"] for u in users] == [125.0] * 5

    third = apply_bulk(boss, journal, plan_bulk(boss, journal, load_bulk_file(path)), pacer=fast())
    assert third.summary() == "5 done earlier"
    assert [view(u.id)["kudos"] for u in users] == [125.0] * 5
    entries = journal.list()
    assert len(entries) == 5 and all(e.bulk_key and e.reason == "event prize" for e in entries)


class LoseSecondAnswer(httpx.BaseTransport):
    """The real sandbox, except that the answer to the second PUT never arrives (it is applied)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.puts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "PUT":
            self.puts += 1
            if self.puts == 2:
                response.read()
                raise httpx.ReadTimeout("the answer was lost")
        return response


def test_a_row_with_an_unknown_outcome_is_reported_not_resent(
    staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path, view: View
) -> None:
    users = [staff.user(kudos=100) for _ in range(3)]
    path = _kudos_file(tmp_path, users)
    with (
        httpx.Client(transport=LoseSecondAnswer()) as http,
        HordeUsers(api_key=staff.boss.api_key, base_url=staff.sandbox.url, http_client=http) as lossy,
    ):
        first = apply_bulk(lossy, journal, plan_bulk(lossy, journal, load_bulk_file(path)), pacer=fast())
    assert first.summary() == "2 done, 1 unknown" and not first.ok
    again = apply_bulk(boss, journal, plan_bulk(boss, journal, load_bulk_file(path)), pacer=fast())
    assert again.summary() == "2 done earlier, 1 unknown earlier" and not again.ok
    (unknown,) = [r for r in again.results if r.outcome == "unknown earlier"]
    assert f"check user {users[1].id}" in unknown.message
    assert [view(u.id)["kudos"] for u in users] == [125.0] * 3  # applied once, never twice


def test_a_role_refusal_stops_the_run_and_a_later_run_finishes_it(
    staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path, view: View
) -> None:
    users = [staff.user(kudos=100) for _ in range(3)]
    path = _kudos_file(tmp_path, users)
    with staff.client(staff.mod) as mod:
        report = apply_bulk(mod, journal, plan_bulk(mod, journal, load_bulk_file(path)), pacer=fast())
    assert report.summary() == "1 refused, 2 not sent"
    assert report.stopped is not None and "admin role" in report.stopped and "NotAdmin" in report.stopped
    assert [len(journal.list(user=u.id)) for u in users] == [1, 0, 0]  # two rows never sent

    plan = plan_bulk(boss, journal, load_bulk_file(path))
    assert [p.state for p in plan.rows] == ["send"] * 3  # the refusal applied nothing: safe to resend
    finished = apply_bulk(boss, journal, plan, pacer=fast())
    assert finished.ok and finished.summary() == "3 done"
    assert [view(u.id)["kudos"] for u in users] == [125.0] * 3


def test_a_refused_row_that_already_granted_kudos_is_never_resent(
    staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path, view: View
) -> None:
    target = staff.user(kudos=100)
    too_long = "x" * 31  # valid for the model, refused by the server after the kudos row ran (§6.5)
    path = write_csv(
        tmp_path / "partial.csv", [f"{target.id},10,{too_long},x"], header="user_id,kudos,username,reason"
    )
    first = apply_bulk(boss, journal, plan_bulk(boss, journal, load_bulk_file(path)), pacer=fast())
    assert first.summary() == "1 refused" and first.results[0].error is not None
    assert first.results[0].error["rc"] == "TooLongUserName"
    assert view(target.id)["kudos"] == 110.0  # the grant went through before the refusal
    plan = plan_bulk(boss, journal, load_bulk_file(path))
    assert [p.state for p in plan.rows] == ["unsafe to resend"]
    again = apply_bulk(boss, journal, plan, pacer=fast())
    assert again.summary() == "1 not sent" and "not re-sent" in again.results[0].message
    assert view(target.id)["kudos"] == 110.0


def test_rows_needing_another_role_still_go_after_a_role_refusal(
    staff: Staff, journal: Journal, tmp_path: Path
) -> None:
    one, two, three = (staff.user() for _ in range(3))
    path = write_csv(tmp_path / "mixed.csv", [f"{one.id},5,,,x", f"{two.id},,true,,x", f"{three.id},7,,,x"])
    with staff.client(staff.mod) as mod:
        report = apply_bulk(mod, journal, plan_bulk(mod, journal, load_bulk_file(path)), pacer=fast())
    assert [r.outcome for r in report.results] == ["refused", "done", "not sent"]
    assert report.results[2].message == "the key lacks the admin role"
    assert report.stopped is None  # a row needing only the moderator role could still go


def test_a_key_that_stops_working_stops_the_run_at_the_first_401(
    staff: Staff, journal: Journal, tmp_path: Path
) -> None:
    me = staff.user("leaving", created=datetime(2020, 1, 1, tzinfo=timezone.utc))
    path = write_csv(
        tmp_path / "own.csv", [f"{me.id},me{n}@example.org" for n in range(3)], header="user_id,contact"
    )
    with staff.client(me) as own:
        plan = plan_bulk(own, journal, load_bulk_file(path))

        def wipe_after_the_first_row(result: RowResult) -> None:
            if result.row.row.number == 1:  # delete, then delete again: the account is wiped, its key dead
                own.delete_user(me.id)
                own.delete_user(me.id)

        report = apply_bulk(own, journal, plan, pacer=fast(), progress=wipe_after_the_first_row)
    assert report.summary() == "1 done, 1 refused, 1 not sent"
    assert report.stopped == "the server refused the key (401): stopped"
    assert report.results[1].error is not None and report.results[1].error["rc"] == "InvalidAPIKey"


def test_a_plan_is_applied_with_the_key_it_was_made_with(
    staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "trust.csv", [f"{staff.user().id},,true,,x"])
    plan = plan_bulk(boss, journal, load_bulk_file(path))
    with staff.client(staff.mod) as mod, pytest.raises(ValueError, match="the plan was made as boss"):
        apply_bulk(mod, journal, plan, pacer=fast())
    assert journal.list() == []


def test_rows_are_paced(staff: Staff, boss: HordeUsers, journal: Journal, tmp_path: Path) -> None:
    users = [staff.user() for _ in range(3)]
    path = write_csv(tmp_path / "paced.csv", [f"{u.id},,true,,x" for u in users])
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(rate_per_minute=30, clock=lambda: now[0], sleep=sleep)
    report = apply_bulk(boss, journal, plan_bulk(boss, journal, load_bulk_file(path)), pacer=pacer)
    assert report.ok
    assert slept == [2.0, 2.0]  # the first row goes at once, then one row every 2 s
