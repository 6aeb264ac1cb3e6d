"""Searching and exporting the index agree with the sandbox's own data (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import timezone

import pytest

from horde_users.moderation.filters import FilterError, parse_age
from horde_users.moderation.index import Filters, SortKey, UserIndex
from horde_users.sandbox import Sandbox
from horde_users.sandbox.rules import UserData
from tests.moderation.index_support import FAST_RATE, client, sandbox_users, seed
from tests.sandbox.conftest import postgres_schema_url

DAY = 86400.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        seed(sb, 1500, seed_value=11)
        yield sb


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def index(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UserIndex]:
    """The sandbox's users, synced once per database kind."""

    def synced(url: str) -> UserIndex:
        idx = UserIndex.open(url)
        with client(sandbox) as c:
            idx.sync(c, rate=FAST_RATE)
        return idx

    if request.param == "sqlite":
        idx = synced(str(tmp_path_factory.mktemp("search") / "index.db"))
        yield idx
        idx.engine.dispose()
        return
    with postgres_schema_url("hu_search") as url:
        idx = synced(url)
        yield idx
        idx.engine.dispose()


def created_ts(user: UserData) -> float:
    return user.created.replace(tzinfo=timezone.utc).timestamp()


Case = tuple[Filters, Callable[[UserData], bool]]

CASES: dict[str, Case] = {
    "trusted": (Filters(trusted=True), lambda u: u.trusted),
    "untrusted": (Filters(trusted=False), lambda u: not u.trusted),
    "flagged": (Filters(flagged=True), lambda u: u.flagged),
    "moderator": (Filters(moderator=True), lambda u: u.moderator),
    "service": (Filters(service=True), lambda u: u.service),
    "education": (Filters(education=True), lambda u: u.education),
    "pseudonymous": (Filters(pseudonymous=True), lambda u: u.pseudonymous),
    "deleted": (Filters(deleted=True), lambda u: u.deleted),
    "not-deleted": (Filters(deleted=False), lambda u: not u.deleted),
    "has-workers": (Filters(has_workers=True), lambda u: bool(u.worker_ids)),
    "min-kudos": (Filters(min_kudos=2500.5), lambda u: u.kudos >= 2500.5),
    "kudos-range": (Filters(min_kudos=100, max_kudos=1200), lambda u: 100 <= u.kudos <= 1200),
    "fragment": (Filters(text="ALPHA"), lambda u: "alpha" in u.username.lower()),
    "short-fragment": (Filters(text="o1"), lambda u: "o1" in u.username.lower()),
    "non-ascii": (Filters(text="élan"), lambda u: "élan" in u.username.lower()),
    "underscore": (Filters(text="u_e"), lambda u: "u_e" in u.username.lower()),
    "digits": (Filters(text="77"), lambda u: u.id == 77 or "77" in u.username),
    "alias": (Filters(text="Anonymous#0"), lambda u: u.id == 0),
    "combined": (
        Filters(text="echo", trusted=True, deleted=False, min_kudos=50),
        lambda u: "echo" in u.username.lower() and u.trusted and not u.deleted and u.kudos >= 50,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_filters_agree_with_the_sandbox(index: UserIndex, sandbox: Sandbox, case: str) -> None:
    filters, predicate = CASES[case]
    expected = [u for u in sandbox_users(sandbox).values() if predicate(u)]
    assert expected, "the seed data must make each case non-empty"
    wanted = [u.id for u in sorted(expected, key=lambda u: (-u.kudos, -u.id))]
    assert [u.id for u in index.find(filters, sort=SortKey.kudos, limit=None)] == wanted
    assert index.count(filters) == len(expected)
    # every way a fragment can be answered gives the same users: the trigram table's candidates, a walk
    # of the sort order that finds enough of them, and one that does not (then the trigram table)
    for cap, walk in [(0, 10_000), (0, 5), (10_000, 10_000)]:
        index.fragment_cap, index.fragment_walk = cap, walk
        try:
            for limit, offset in [(None, 0), (1, 0), (3, 2), (len(wanted), 0)]:
                found = index.find(filters, sort=SortKey.kudos, limit=limit, offset=offset)
                end = None if limit is None else offset + limit
                assert [u.id for u in found] == wanted[offset:end], (cap, walk, limit, offset)
        finally:
            del index.fragment_cap, index.fragment_walk


@pytest.mark.parametrize(("older", "newer"), [("30d", None), (None, "1y"), ("90d", "400d")])
def test_age_filters_agree_with_the_sandbox(
    index: UserIndex, sandbox: Sandbox, older: str | None, newer: str | None
) -> None:
    now = time.time()
    low = parse_age(older) if older else None
    high = parse_age(newer) if newer else None
    users = sandbox_users(sandbox).values()
    for bound in (low, high):  # ages are whole seconds: keep every user clear of the boundary
        if bound is not None:
            assert all(abs((now - created_ts(u)) - bound) > 30 for u in users)
    expected = sorted(
        u.id
        for u in users
        if (low is None or now - created_ts(u) > low) and (high is None or now - created_ts(u) < high)
    )
    found = index.find(Filters(older_than=low, newer_than=high), sort=SortKey.id, limit=None)
    assert [u.id for u in found] == expected


def test_sorts_and_pages(index: UserIndex, sandbox: Sandbox) -> None:
    users = list(sandbox_users(sandbox).values())
    by_age = [u.id for u in sorted(users, key=lambda u: (u.created, u.id))]
    assert [u.id for u in index.find(sort="age", limit=None)] == by_age
    assert [u.id for u in index.find(sort="newest", limit=None)] == by_age[::-1]
    by_name = [u.id for u in sorted(users, key=lambda u: (u.username.lower(), u.id))]
    assert [u.id for u in index.find(sort="name", limit=None)] == by_name
    assert [u.id for u in index.find(sort="id", limit=10, offset=20)] == sorted(u.id for u in users)[20:30]
    assert [u.id for u in index.find(sort="id", reverse=True, limit=3)] == sorted(u.id for u in users)[-3:][
        ::-1
    ]


def test_export_matches_the_search(index: UserIndex) -> None:
    filters = Filters(trusted=True, min_kudos=100)
    found = index.find(filters, sort="id", limit=None)
    lines = io.StringIO()
    assert index.export(filters, "jsonl", lines) == len(found)
    assert [json.loads(line) for line in lines.getvalue().splitlines()] == [u.public for u in found]
    table = io.StringIO()
    assert index.export(filters, "csv", table) == len(found)
    rows = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert [int(row["id"]) for row in rows] == [u.id for u in found]
    assert [float(row["kudos"]) for row in rows] == [u.kudos for u in found]
    assert {row["trusted"] for row in rows} == {"true"}


@pytest.mark.parametrize("text", ['pha" OR "alp', "alp*", "a NOT b", "(al)", 'a"b', "%a_", "ALPHA^"])
def test_fragments_with_query_syntax_are_plain_text(index: UserIndex, sandbox: Sandbox, text: str) -> None:
    """Quotes, stars and operators in a fragment are characters of the name, not trigram-query syntax."""
    expected = sorted(u.id for u in sandbox_users(sandbox).values() if text.lower() in u.username.lower())
    for limit in (None, 5):
        found = index.find(Filters(text=text), sort=SortKey.id, limit=limit)
        assert [u.id for u in found] == expected[:limit]
    assert index.count(Filters(text=text)) == len(expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: i.find(limit=-1), "limit"),
        (lambda i: i.find(sort="loudest"), "unknown sort"),
        (lambda i: i.export(None, "xml", io.StringIO()), "csv or jsonl"),
        (lambda i: i.find(Filters(min_kudos=10, max_kudos=1)), "nothing can match"),
        (lambda i: parse_age("soon"), "not an age"),
        (lambda i: parse_age("-3d"), "not an age"),
    ],
)
def test_bad_input_is_one_clear_error(
    index: UserIndex, call: Callable[[UserIndex], object], message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        call(index)


def test_parse_age_units() -> None:
    assert parse_age("30d") == 30 * DAY
    assert parse_age("12h") == 12 * 3600
    assert parse_age("90m") == 5400
    assert parse_age("2w") == 14 * DAY
    assert parse_age("1y") == 365 * DAY
    assert parse_age("45") == 45
