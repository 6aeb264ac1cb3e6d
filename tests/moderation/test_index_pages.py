"""Pages written by a sync's :class:`PageWriter`: several pages sharing one transaction are stored as
page-by-page writes would store them."""

from __future__ import annotations

import time
from pathlib import Path

from horde_users.models import UserDetailsResponse
from horde_users.moderation.filters import Filters
from horde_users.moderation.index import UserIndex
from horde_users.moderation.ingest import Checkpoint, PageWriter, split_alias
from horde_users.moderation.sync import _open_run


def listed(user_id: int, name: str, kudos: float) -> UserDetailsResponse:
    """A user as a list page shows it (the fields the index reads)."""
    return UserDetailsResponse.model_validate(
        {"username": f"{name}#{user_id}", "id": user_id, "kudos": kudos}
    )


def test_a_user_on_two_pages_of_one_transaction_is_stored_once_as_last_listed(tmp_path: Path) -> None:
    index = UserIndex.open(str(tmp_path / "index.db"))
    run_id, _ = _open_run(index.engine, "test", time.time())
    checkpoint = Checkpoint(run_id, 1, 0, 0)
    with index.engine.connect() as conn:
        writer = PageWriter(conn, checkpoint, commit_every=3600)  # both pages in one transaction
        first = [listed(1, "alphaowl", 10), listed(2, "betaowl", 20)]
        second = [listed(1, "omegaowl", 30), listed(3, "gammaowl", 40)]  # renamed between the pages
        assert not writer.add(first, next_page=2, now=time.time(), last=False)
        assert writer.add(second, next_page=3, now=time.time(), last=True)

    assert (checkpoint.next_page, checkpoint.pages_done, checkpoint.users_seen) == (3, 2, 4)
    assert sorted(user.id for user in index.find(limit=None)) == [1, 2, 3]
    renamed = index.get(1)
    assert renamed is not None and (renamed.username, renamed.kudos) == ("omegaowl#1", 30)
    assert [user.id for user in index.find(Filters(text="omegao"), limit=None)] == [1]
    assert index.find(Filters(text="alphao"), limit=None) == []
    assert sorted(user.id for user in index.find(Filters(text="owl"), limit=None)) == [1, 2, 3]
    index.engine.dispose()


def varied(user_id: int) -> UserDetailsResponse:
    """A listed user whose roles, counts and age vary with its id (some fields left unset)."""
    body: dict[str, object] = {
        "username": f"user{user_id}#{user_id}" if user_id % 7 else f"no alias {user_id}",
        "id": user_id,
        "kudos": user_id * 1.5,
        "concurrency": None if user_id % 5 == 0 else 30,
        "worker_count": user_id % 3,
        "styles": [{"name": "a},{b", "id": "s1"}, {"name": "c", "id": "s2"}] if user_id % 11 == 0 else [],
        "monthly_kudos": {},
    }
    for offset, role in enumerate(("moderator", "trusted", "flagged", "service", "education", "customizer")):
        if (user_id + offset) % 4 != 3:  # some roles unset (None), the others True or False
            body[role] = (user_id >> offset) % 2 == 1
    body["deleted"] = user_id % 13 == 0
    body["pseudonymous"] = None if user_id % 17 == 0 else user_id % 2 == 0
    if user_id % 19:
        body["account_age"] = user_id * 1000
    return UserDetailsResponse.model_validate(body)


def test_a_large_batch_is_stored_as_each_user_alone_would_be(tmp_path: Path) -> None:
    """More users than one statement holds, some listed twice and renamed between: every row, view and
    trigram entry is what the user's own fields say, as the last listing showed it."""
    index = UserIndex.open(str(tmp_path / "index.db"))
    run_id, _ = _open_run(index.engine, "test", time.time())
    checkpoint = Checkpoint(run_id, 1, 0, 0)
    now = 1_800_000_000.0
    early = [listed(5, "earlyname", 1), listed(6, "earlyname", 2)]  # again a few rows later
    first = [varied(n) for n in range(1, 131)]
    again = [listed(n, f"renamed{n}", n) for n in range(120, 126)]  # listed again, renamed
    with index.engine.connect() as conn:
        writer = PageWriter(conn, checkpoint, commit_every=3600)
        writer.add(early, next_page=2, now=now, last=False)
        writer.add(first, next_page=3, now=now, last=False)
        writer.add(again, next_page=4, now=now, last=True)
    assert checkpoint.users_seen == 138

    latest = {user.id_: user for user in [*early, *first, *again] if user.id_ is not None}
    stored = {user.id: user for user in index.find(limit=None, sort="id")}
    assert sorted(stored) == sorted(latest)
    for user_id, user in latest.items():
        row = stored[user_id]
        assert row.public_json == user.model_dump_json(by_alias=True, exclude_unset=True)
        name = split_alias(user.username or "")
        assert (row.username, row.kudos, row.concurrency, row.worker_count) == (
            user.username,
            user.kudos,
            user.concurrency,
            user.worker_count or 0,
        )
        for role in ("moderator", "trusted", "flagged", "service", "education", "customizer", "deleted"):
            assert getattr(row, role) is bool(getattr(user, role)), (user_id, role)
        assert row.pseudonymous is bool(user.pseudonymous)
        assert row.account_age == user.account_age
        assert row.created_at == (None if user.account_age is None else now - user.account_age)
        assert (row.listed_at, row.gone, row.gone_since) == (now, False, None)
        assert user_id in [found.id for found in index.find(Filters(text=name.upper()), limit=None)]
    assert index.find(Filters(text="user121"), limit=None) == []
    assert index.find(Filters(text="earlyname"), limit=None) == []
    assert [user.id for user in index.find(Filters(text="renamed121"), limit=None)] == [121]
    index.engine.dispose()


def test_the_short_last_page_read_again_is_counted_once(tmp_path: Path) -> None:
    """A resumed run reads the short last page again (it stays the checkpoint's next page): its new
    count replaces the old one, so a run's pages and users are what the server lists."""
    index = UserIndex.open(str(tmp_path / "index.db"))
    run_id, _ = _open_run(index.engine, "test", time.time())
    checkpoint = Checkpoint(run_id, 1, 0, 0)
    full = [listed(n, f"member{n}", n) for n in range(1, 26)]
    with index.engine.connect() as conn:
        writer = PageWriter(conn, checkpoint)
        writer.add(full, next_page=2, now=time.time(), last=False)
        writer.add([listed(26, "late", 1)], next_page=2, now=time.time(), last=True)
        assert (checkpoint.next_page, checkpoint.pages_done, checkpoint.users_seen) == (2, 2, 26)
        grown = [listed(26, "late", 1), listed(27, "later", 2)]
        writer.add(grown, next_page=2, now=time.time(), last=True)
    assert (checkpoint.next_page, checkpoint.pages_done, checkpoint.users_seen) == (2, 2, 27)
    assert index.count() == 27
    index.engine.dispose()
