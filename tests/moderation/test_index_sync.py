"""Syncing the index from a real sandbox: complete, resumable, paced, and honest about gone users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine

from horde_users.moderation.details import NotModeratorError
from horde_users.moderation.index import Filters, SourceMismatchError, SyncProgress, UserIndex
from horde_users.sandbox import Sandbox
from tests.moderation.index_support import FAST_RATE, Kinds, client, sandbox_users, seed
from tests.sandbox.conftest import postgres_schema_url


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Sandbox, Kinds]]:
    """2,000 users of every kind (plus Anonymous) in one sandbox, rate limits off; not changed by tests."""
    with Sandbox() as sandbox:
        yield sandbox, seed(sandbox, 2000)


@pytest.fixture(params=["sqlite", "postgres"])
def index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserIndex]:
    """An empty index in a SQLite file, or in a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        idx = UserIndex.open(str(tmp_path_factory.mktemp("index") / "index.db"))
        yield idx
        idx.engine.dispose()
        return
    with postgres_schema_url("hu_index") as url:
        idx = UserIndex.open(url)
        yield idx
        idx.engine.dispose()


def assert_matches_sandbox(index: UserIndex, sandbox: Sandbox) -> None:
    """The index holds exactly the sandbox's listed users, with their current public fields."""
    expected = sandbox_users(sandbox)
    indexed = {user.id: user for user in index.find(limit=None)}
    assert sorted(indexed) == sorted(expected)
    for user_id, data in expected.items():
        got = indexed[user_id]
        assert got.username == data.alias
        assert got.kudos == data.kudos
        for role in ("moderator", "trusted", "flagged", "service", "education", "deleted", "pseudonymous"):
            assert getattr(got, role) == getattr(data, role), (user_id, role)
        assert got.worker_count == len(data.worker_ids)
        assert got.public["id"] == user_id
        assert got.public["username"] == data.alias


def test_a_sync_indexes_exactly_the_sandbox_users(seeded: tuple[Sandbox, Kinds], index: UserIndex) -> None:
    sandbox, _ = seeded
    with client(sandbox) as c:
        report = index.sync(c, rate=FAST_RATE)
    assert_matches_sandbox(index, sandbox)
    assert report.users_seen == report.users_indexed == 2001
    assert report.pages == 81  # 2001 users: 80 full pages and one of 1
    assert report.rate_limited == 0
    assert not report.resumed
    assert index.synced_at() == pytest.approx(report.finished_at)
    # the public JSON is what the list sent, key for key
    with client(sandbox) as c:
        listed = c.list_users(page=1, sort="age")[3]
    stored = index.get(listed.id_ or 0)
    assert stored is not None
    assert set(stored.public) == set(json.loads(listed.model_dump_json(by_alias=True, exclude_unset=True)))


def test_an_interrupted_sync_resumes_where_it_stopped_and_loses_nothing(
    seeded: tuple[Sandbox, Kinds], index: UserIndex
) -> None:
    sandbox, _ = seeded

    committed: list[SyncProgress] = []

    def stop_after_five(progress: SyncProgress) -> None:
        # Progress comes after each commit: several pages when they come fast, maybe all 81 (then
        # the short last page stays the checkpoint's next page, to be read again).
        if progress.pages_done >= 5:
            committed.append(progress)
            raise KeyboardInterrupt

    with client(sandbox) as c, pytest.raises(KeyboardInterrupt):
        index.sync(c, rate=FAST_RATE, progress=stop_after_five)
    state = index.state()
    last = committed[-1]
    assert state.synced_at is None
    assert state.unfinished_next_page == last.page
    assert 6 <= last.page <= 81
    assert index.count() == last.users_seen == min(last.pages_done * 25, 2001)  # nothing half-written

    seen: list[int] = []
    with client(sandbox) as c:
        report = index.sync(c, rate=FAST_RATE, progress=lambda p: seen.append(p.page))
    assert report.resumed
    assert report.requests == 82 - last.page  # only the pages from the checkpoint on
    assert report.pages == 81
    assert report.users_seen == 2001
    assert report.rate_limited == 0
    assert seen[0] >= last.page  # the first page this process stored was the checkpoint's
    assert_matches_sandbox(index, sandbox)
    assert index.state().unfinished_run is None


def test_a_later_sync_updates_changed_users_and_marks_wiped_ones_gone(tmp_path: object) -> None:
    with Sandbox() as sandbox:
        users = [sandbox.create_user(f"member{n}", kudos=n) for n in range(70)]
        index = UserIndex.open(f"{tmp_path}/index.db")
        with client(sandbox) as c:
            first = index.sync(c, rate=FAST_RATE)
        assert first.marked_gone == 0
        richer, renamed, wiped = users[3], users[30], [users[10], users[60]]
        sandbox.store.set_kudos(richer.id, 777.0)
        sandbox.store.set_fields(renamed.id, username="quartermaster")
        for user in wiped:
            sandbox.store.wipe(user.id)
        newcomer = sandbox.create_user("newcomer", trusted=True)
        before = datetime.now(timezone.utc).timestamp()
        with client(sandbox) as c:
            second = index.sync(c, rate=FAST_RATE)
        assert second.marked_gone == 2
        assert second.verified == 2  # each user the list no longer showed was checked by id
        assert_matches_sandbox(index, sandbox)  # gone users are hidden by default
        assert index.find(Filters(text="quarterm"))[0].id == renamed.id
        assert index.find(Filters(text=f"member30#{renamed.id}")) == []
        gone = index.find(Filters(gone=True), sort="id")
        assert [user.id for user in gone] == sorted(user.id for user in wiped)
        assert all(user.gone_since is not None and user.gone_since >= before for user in gone)
        assert index.find(Filters(text="newcomer", trusted=True))[0].id == newcomer.id
        index.engine.dispose()


def test_a_wipe_during_a_sync_shifts_pages_without_losing_anyone(tmp_path: object) -> None:
    """A wipe on a page already read shifts the later pages left by one: the user that slid onto the
    read page is missed by the list pass, so it is checked by id and kept, never marked gone."""
    with Sandbox() as sandbox:
        users = [sandbox.create_user(f"shift{n}") for n in range(80)]
        index = UserIndex.open(f"{tmp_path}/index.db")
        with client(sandbox) as c:
            index.sync(c, rate=FAST_RATE)
        victim = users[2]  # on page 1

        def wipe_after_page_two(progress: SyncProgress) -> None:
            if progress.pages_done == 2 and sandbox.store.get_user(victim.id) is not None:
                user = sandbox.store.get_user(victim.id)
                if user is not None and user.username == "shift2":
                    sandbox.store.wipe(victim.id)

        with client(sandbox) as c:  # slow enough that each page is its own commit and progress call
            report = index.sync(c, rate=200, progress=wipe_after_page_two)
        assert report.verified == 1  # the first user of page 3 slid onto page 2, already read
        assert report.marked_gone == 0
        present = {user.id for user in index.find(limit=None)}
        assert present == set(sandbox_users(sandbox)) | {victim.id}  # seen before its wipe
        with client(sandbox) as c:
            report = index.sync(c, rate=FAST_RATE)
        assert report.marked_gone == 1
        assert_matches_sandbox(index, sandbox)
        assert [user.id for user in index.find(Filters(gone=True))] == [victim.id]
        index.engine.dispose()


@pytest.mark.horde_sandbox(rate_limits=True)
def test_a_sync_under_the_real_limits_meets_no_429(horde_sandbox: Sandbox, tmp_path: object) -> None:
    for n in range(60):
        horde_sandbox.create_user(f"limited{n}")
    index = UserIndex.open(f"{tmp_path}/index.db")
    with client(horde_sandbox) as c:
        report = index.sync(c, rate=85)  # under the list's 90 a minute
    assert report.rate_limited == 0
    assert report.requests == 3
    assert_matches_sandbox(index, horde_sandbox)
    index.engine.dispose()


def test_an_index_refuses_another_servers_users(seeded: tuple[Sandbox, Kinds], tmp_path: object) -> None:
    sandbox, _ = seeded
    index = UserIndex.open(f"{tmp_path}/index.db")
    with Sandbox() as other:
        other.create_user("stranger")
        with client(other) as c:
            index.sync(c, rate=FAST_RATE)
    with client(sandbox) as c, pytest.raises(SourceMismatchError, match="another database"):
        index.sync(c, rate=FAST_RATE)
    assert index.count() == 2  # Anonymous and the stranger; nothing of the second server
    index.engine.dispose()


def test_fetch_details_stores_the_moderator_view_beside_the_public_one(tmp_path: object) -> None:
    with Sandbox() as sandbox:
        mod = sandbox.create_user("warden", moderator=True)
        plain = sandbox.create_user("plain")
        suspect = sandbox.create_user("suspect", service=True)
        passkey = sandbox.store.new_proxy_passkey(suspect.id)
        shared = sandbox.create_shared_key(suspect.id)
        sandbox.add_suspicion(suspect.id)
        sandbox.add_suspicion(suspect.id)
        index = UserIndex.open(f"{tmp_path}/index.db")
        with client(sandbox) as c:
            index.sync(c, rate=FAST_RATE)
        with client(sandbox, plain.api_key) as c, pytest.raises(NotModeratorError):
            index.fetch_details(c, [suspect.id], rate=FAST_RATE)
        assert index.get(suspect.id).details_json is None  # type: ignore[union-attr]
        with client(sandbox, mod.api_key) as c:
            report = index.fetch_details(c, [suspect.id, 999], rate=FAST_RATE)
        assert report.fetched == [suspect.id]
        assert report.not_indexed == [999]
        stored = index.get(suspect.id)
        assert stored is not None
        assert stored.suspicious == 2
        assert stored.details is not None and stored.details["suspicious"] == 2
        assert stored.public["suspicious"] is None  # the public view stays as listed
        assert "proxy_passkey" not in stored.details and "sharedkey_ids" not in stored.details
        assert passkey not in (stored.details_json or "") and shared not in (stored.details_json or "")
        index.engine.dispose()


class FakeTime:
    """One clock for the sandbox's rate limiter and the sync's pacer; sleeping moves it on."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_a_429_is_waited_out_for_its_retry_after_and_the_sync_completes(tmp_path: object) -> None:
    """Paced far above the limit on purpose: the 91st list request is refused with Retry-After, the
    sync waits that long (on the shared fake clock) and carries on with the same page."""
    import warnings

    with warnings.catch_warnings():  # starlette warns, on import, that it prefers httpx2 to httpx
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from horde_users.client import HordeUsers
    from horde_users.moderation.pacing import Pacer
    from horde_users.sandbox.app import create_app
    from horde_users.sandbox.middleware import install_edge_middleware
    from horde_users.sandbox.store import SandboxStore

    fake = FakeTime()
    store = SandboxStore(f"{tmp_path}/sandbox.db")
    for n in range(95 * 25 - 1):  # with Anonymous: 95 full pages, then an empty one
        store.create_user(f"crowd{n}")
    app = create_app(rate_limits=False, store=store)
    install_edge_middleware(app, rate_limits=True, clock=fake.clock)
    index = UserIndex.open(f"{tmp_path}/index.db")
    pacer = Pacer(rate_per_minute=6000, clock=fake.clock, sleep=fake.sleep)
    with (
        TestClient(app, base_url="http://sandbox") as http,
        HordeUsers(base_url="http://sandbox/api", max_retries=0, http_client=http) as c,
    ):
        report = index.sync(c, pacer=pacer)
    assert report.rate_limited == 1
    assert report.requests == 96 + 1  # every page once, the refused one twice
    assert report.users_indexed == 95 * 25
    assert fake.slept >= 60  # Retry-After of a fresh window is 60 s (plus the margin)
    index.engine.dispose()
    store.close()


def test_a_sync_leaves_the_connections_durability_as_it_found_it(
    seeded: tuple[Sandbox, Kinds], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The sync relaxes SQLite's flushes and log checkpoints while it writes; the journal, which shares
    the pooled connection, must get the defaults back."""
    sandbox, _ = seeded
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('durable') / 'index.db'}", pool_size=1)
    try:
        index = UserIndex(engine)
        with engine.connect() as conn:
            before = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in DURABILITY_PRAGMAS]
        with client(sandbox) as c:
            index.sync(c, rate=FAST_RATE)
        with engine.connect() as conn:  # the one pooled connection the sync used
            assert [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in DURABILITY_PRAGMAS] == before
    finally:
        engine.dispose()


DURABILITY_PRAGMAS = ("synchronous", "wal_autocheckpoint", "cache_size", "temp_store")
