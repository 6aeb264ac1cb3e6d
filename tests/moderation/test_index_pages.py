"""Pages written by a sync's :class:`PageWriter`: several pages sharing one transaction are stored as
page-by-page writes would store them."""

from __future__ import annotations

import time
from pathlib import Path

from horde_users.models import UserDetailsResponse
from horde_users.moderation.filters import Filters
from horde_users.moderation.index import UserIndex
from horde_users.moderation.ingest import Checkpoint, PageWriter
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
