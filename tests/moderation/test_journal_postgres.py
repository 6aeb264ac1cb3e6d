"""The same journal on PostgreSQL, shared by a team: concurrent writers lose no entry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from horde_users.client import HordeUsers
from horde_users.moderation.changes import apply_change
from horde_users.moderation.database import open_database
from horde_users.moderation.journal import Journal
from horde_users.moderation.undo import apply_undo, plan_undo
from tests.sandbox.conftest import postgres_schema_url

if TYPE_CHECKING:
    from tests.moderation.journal_support import Staff

pytest_plugins = ["tests.moderation.journal_support"]
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema_url("hu_journal") as url:
        yield url


def test_changes_and_undo_on_postgres(staff: Staff, boss: HordeUsers, pg_url: str) -> None:
    engine = open_database(pg_url)
    try:
        journal = Journal(engine)
        target = staff.user(kudos=100)
        entry = apply_change(boss, journal, target.id, {"trusted": True, "kudos": 20}, reason="helps")
        assert entry.outcome == "done" and entry.after is not None and entry.after["kudos"] == 120.0
        undo = apply_undo(boss, journal, plan_undo(journal, boss, entry.id), reason="mistake")
        assert undo.outcome == "done" and undo.undoes == entry.id
        assert boss.get_user(target.id).trusted is False
        assert [e.id for e in Journal(engine).list(user=target.id)] == [undo.id, entry.id]
    finally:
        engine.dispose()


def test_two_moderators_writing_at_once_lose_no_entry(pg_url: str) -> None:
    per_writer = 40
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []
    written: dict[int, list[int]] = {1: [], 2: []}

    def moderator(actor_id: int) -> None:
        engine = open_database(pg_url)  # each moderator has a process-like engine of its own
        try:
            journal = Journal(engine)
            barrier.wait(timeout=30)
            for n in range(per_writer):
                entry = journal.begin(
                    action="modify", actor_id=actor_id, actor=f"mod#{actor_id}", user_id=100 + n,
                    user_name=None, reason="sweep", changes={"flagged": True}, before=None,
                )  # fmt: skip
                journal.complete(entry.id, "done", after={"flagged": True})
                written[actor_id].append(entry.id)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=moderator, args=(actor,)) for actor in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    engine = open_database(pg_url)
    try:
        entries = Journal(engine).list()
    finally:
        engine.dispose()
    assert len(entries) == 2 * per_writer
    assert {e.id for e in entries} == set(written[1]) | set(written[2])
    assert all(e.outcome == "done" for e in entries)
    for actor in (1, 2):
        assert sorted(e.id for e in entries if e.actor_id == actor) == written[actor]
