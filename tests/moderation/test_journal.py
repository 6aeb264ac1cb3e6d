"""The journal: every change recorded before it is sent and completed after, against a real sandbox."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from horde_users.client import HordeUsers
from horde_users.errors import InvalidRequestError
from horde_users.moderation.changes import (
    ReasonRequired,
    apply_change,
    delete_user,
    send_change,
    undelete_user,
)
from horde_users.moderation.database import open_database
from horde_users.moderation.errors import DatabaseError, ModerationError
from horde_users.moderation.journal import EntryNotFound, Journal

if TYPE_CHECKING:
    from tests.moderation.journal_support import Staff

pytest_plugins = ["tests.moderation.journal_support"]


class LoseTheAnswer(httpx.BaseTransport):
    """Sends every request to the real sandbox, but for a PUT or DELETE raises ``fault`` after it arrived."""

    def __init__(self, fault: BaseException) -> None:
        self.inner = httpx.HTTPTransport()
        self.fault = fault
        self.changes_sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method in ("PUT", "DELETE"):
            response.read()
            self.changes_sent += 1
            raise self.fault
        return response


def test_a_modify_with_a_reason_is_journaled_with_its_views(
    staff: Staff, boss: HordeUsers, journal: Journal
) -> None:
    target = staff.user(kudos=100)
    entry = apply_change(boss, journal, target.id, {"trusted": True, "kudos": 50}, reason="helps a lot")
    assert entry.outcome == "done"
    assert (entry.actor, entry.actor_id) == (f"boss#{staff.boss.id}", staff.boss.id)
    assert (entry.user_id, entry.user_name, entry.reason) == (target.id, target.alias, "helps a lot")
    assert entry.changes == {"kudos": 50.0, "trusted": True}
    assert entry.before is not None and entry.after is not None
    assert (entry.before["trusted"], entry.after["trusted"]) == (False, True)
    assert (entry.before["kudos"], entry.after["kudos"]) == (100.0, 150.0)
    assert "monthly_kudos" in entry.before  # the moderator's (privileged) view
    assert entry.reply == {"new_kudos": 150.0, "trusted": True}
    assert entry.undoes is None and entry.completed_at is not None
    assert journal.get(entry.id) == entry


def test_a_reason_is_required_for_another_account_and_nothing_is_sent(
    staff: Staff, boss: HordeUsers, journal: Journal
) -> None:
    target = staff.user()
    for reason in (None, "   "):
        with pytest.raises(ReasonRequired, match="reason is required"):
            apply_change(boss, journal, target.id, {"flagged": True}, reason=reason)
    assert boss.get_user(target.id).flagged is False
    assert journal.list() == []
    with staff.client(target) as own:  # one's own account needs no reason
        entry = apply_change(own, journal, target.id, {"contact": "me@example.org"}, reason=None)
    assert entry.outcome == "done" and entry.reason is None and entry.actor == target.alias


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kudos": "lots"}, "kudos"),
        ({"trusted": True, "nonsense": 1}, "nonsense"),
        ({}, "at least one field"),
    ],
)
def test_an_invalid_change_is_an_invalid_request_and_nothing_is_sent_or_journaled(
    staff: Staff, boss: HordeUsers, journal: Journal, changes: dict[str, object], problem: str
) -> None:
    target = staff.user(kudos=100)
    with pytest.raises(InvalidRequestError, match=problem) as caught:
        apply_change(boss, journal, target.id, changes, reason="a test")
    assert isinstance(caught.value, ValueError)
    assert journal.list() == []
    view = boss.get_user(target.id)
    assert (view.kudos, view.trusted) == (100, False)


def test_a_refusal_is_journaled_with_its_rc_status_and_message(staff: Staff, journal: Journal) -> None:
    target = staff.user()
    with staff.client(staff.mod) as mod:
        result = send_change(mod, journal, target.id, "modify", {"kudos": 5}, reason="bonus")
    entry = result.entry
    assert entry.outcome == "refused"
    assert entry.error is not None
    assert (entry.error["status"], entry.error["rc"]) == (403, "NotAdmin")
    assert entry.error["message"]
    assert entry.after is not None and entry.after["kudos"] == entry.before["kudos"]  # type: ignore[index]
    with pytest.raises(Exception, match="NotAdmin"):
        result.unwrap()


def test_a_lost_answer_is_unknown_never_done(staff: Staff, journal: Journal) -> None:
    target = staff.user(kudos=100)
    transport = LoseTheAnswer(httpx.ReadTimeout("no answer"))
    with (
        httpx.Client(transport=transport) as http,
        HordeUsers(
            api_key=staff.boss.api_key, base_url=staff.sandbox.url, http_client=http, sleep=lambda _s: None
        ) as client,
    ):
        result = send_change(client, journal, target.id, "modify", {"kudos": 10}, reason="bonus")
    assert transport.changes_sent == 1  # a kudos grant is never retried
    assert result.entry.outcome == "unknown"
    assert result.error is not None and result.error.outcome_unknown
    assert result.entry.after is not None and result.entry.after["kudos"] == 110.0  # it was applied


def test_an_interrupt_while_sending_leaves_unknown_and_is_raised(staff: Staff, journal: Journal) -> None:
    target = staff.user()
    transport = LoseTheAnswer(KeyboardInterrupt())
    with (
        httpx.Client(transport=transport) as http,
        HordeUsers(api_key=staff.boss.api_key, base_url=staff.sandbox.url, http_client=http) as client,
        pytest.raises(KeyboardInterrupt),
    ):
        apply_change(client, journal, target.id, {"flagged": True}, reason="spam")
    (entry,) = journal.list(user=target.id)
    assert entry.outcome == "unknown"
    assert entry.error == {"message": "interrupted before the answer came"}


def test_delete_and_undelete_are_journaled(staff: Staff, boss: HordeUsers, journal: Journal) -> None:
    target = staff.user()
    deleted = delete_user(boss, journal, target.id, reason="spam account")
    assert (deleted.action, deleted.outcome, deleted.changes) == ("delete", "done", {})
    assert deleted.reply == {"message": "OK"}
    assert deleted.before["deleted"] is False and deleted.after["deleted"] is True  # type: ignore[index]
    restored = undelete_user(boss, journal, target.id, reason="appeal accepted")
    assert (restored.action, restored.changes, restored.outcome) == ("undelete", {"undelete": True}, "done")
    assert restored.after["deleted"] is False  # type: ignore[index]


def test_an_entry_is_completed_once(staff: Staff, boss: HordeUsers, journal: Journal) -> None:
    entry = apply_change(boss, journal, staff.user().id, {"flagged": True}, reason="spam")
    with pytest.raises(ModerationError, match="already completed"):
        journal.complete(entry.id, "unknown")
    assert journal.get(entry.id).outcome == "done"


def test_credentials_are_never_stored(staff: Staff, journal: Journal, tmp_path: Path) -> None:
    service = staff.user("svc", service=True)
    with staff.client(service) as own:
        result = send_change(
            own, journal, service.id, "modify", {"generate_proxy_passkey": True}, reason=None
        )
    passkey = result.unwrap().proxy_passkey  # type: ignore[union-attr]
    assert passkey and result.entry.outcome == "done"
    stored = json.dumps(journal.get(result.entry.id).to_json())
    assert passkey not in stored
    assert '"proxy_passkey"' not in stored and '"sharedkey_ids"' not in stored
    assert passkey.encode() not in (tmp_path / "journal.db").read_bytes()


def test_list_filters_show_and_export(staff: Staff, boss: HordeUsers, journal: Journal) -> None:
    one, two = staff.user(), staff.user()
    first = apply_change(boss, journal, one.id, {"flagged": True}, reason='spam, "quoted"')
    with staff.client(staff.mod) as mod:
        second = apply_change(mod, journal, two.id, {"trusted": True}, reason="known")
    assert [e.id for e in journal.list()] == [second.id, first.id]  # newest first
    assert [e.id for e in journal.list(user=one.id)] == [first.id]
    assert [e.id for e in journal.list(user=one.alias)] == [first.id]
    assert [e.id for e in journal.list(actor="mia")] == [second.id]
    assert [e.id for e in journal.list(actor=staff.boss.id)] == [first.id]
    assert journal.list(since=datetime.now(timezone.utc) + timedelta(minutes=1)) == []
    assert len(journal.list(since=datetime.now(timezone.utc) - timedelta(minutes=1))) == 2
    assert [e.id for e in journal.list(limit=1, offset=1)] == [first.id]
    assert (journal.count(), journal.count(actor="mia"), journal.count(outcome="refused")) == (2, 1, 0)
    with pytest.raises(EntryNotFound):
        journal.get(second.id + 100)

    lines = io.StringIO()
    assert journal.export(lines, "jsonl") == 2
    exported = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [e["id"] for e in exported] == [first.id, second.id]  # oldest first
    for key in (
        "id",
        "time",
        "actor",
        "user_id",
        "reason",
        "changes",
        "before",
        "after",
        "outcome",
        "undoes",
    ):
        assert key in exported[0]
    table = io.StringIO()
    journal.export(table, "csv", user=one.id)
    (row,) = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert row["reason"] == 'spam, "quoted"' and json.loads(row["changes"]) == {"flagged": True}


def test_an_unwritable_database_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match="cannot write the database file"):
        open_database(str(blocker / "journal.db"))


def test_a_journal_that_cannot_be_written_stops_the_change(
    staff: Staff, boss: HordeUsers, tmp_path: Path, view: Callable[[int], dict[str, object]]
) -> None:
    target = staff.user()
    path = tmp_path / "journal.db"
    engine = open_database(str(path))
    journal = Journal(engine)
    engine.dispose()
    read_only = open_database(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(DatabaseError, match="cannot write to the journal"):
            apply_change(boss, Journal(read_only), target.id, {"flagged": True}, reason="spam")
    finally:
        read_only.dispose()
    assert view(target.id)["flagged"] is False
    assert journal.list() == []
