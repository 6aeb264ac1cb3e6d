"""Replay the real AI Horde exchanges (tests/data/examples) against a sandbox on a real port.

The setting of examples/README.md: a fresh sandbox with ADMINS ``["peer_admin#1"]``, the test-user endpoint
on and rate limits on; its 29 users created through ``POST /api/v2/dev/test-user`` in order (ids 1..29).
Every example is then sent in number order with the owners' real keys and its reply compared with the real
one: status, ``rc``, message (its stem: the real server's 404 suffix of docs/users-api.md §3.4 and the date in
``CannotWipeActiveUser`` aside), body keys and their order, and the whole body (values and number forms).

What the published exchanges do not make deterministic is compared loosely, each case explained where it
is handled (:func:`expected_body`): ``account_age`` and dates depend on the clock, and the unpublished
exchanges (missing numbers) changed the real server's state, which shows in 072. Every reply is also
checked for the headers of §1.5 (CORS, ``Horde-Node``, content type) and §4.6 (rate-limit headers on the
limited routes only). ``X-RateLimit-Limit`` is compared with the real one; ``Remaining``, ``Reset`` and
``Retry-After`` are not (the real counts include the unpublished requests, and the times are the capture's),
so they are checked against the rules of §4.6 instead: limit - 1 on a window's first request, one less per
request in the same bucket and window, 0 and a 429 once used up, ``Reset`` = that first request's second
+ 61, ``Retry-After`` = ``floor(Reset - now)`` (±1 s).
"""

from __future__ import annotations

import copy
import email.utils
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import postgres_schema_url

# --------------------------------------------------------------------------------------------- examples


def _examples_dir() -> Path:
    """tests/data/examples (real exchanges captured from the AI Horde), or $HORDE_USERS_EXAMPLES_DIR."""
    override = os.environ.get("HORDE_USERS_EXAMPLES_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (
        here.parent / "data" / "examples",
        here.parents[2] / ".." / "shared" / "api" / "examples",
    ):
        if candidate.is_dir():
            return candidate
    return here.parent / "data" / "examples"


EXAMPLES_DIR = _examples_dir()
EXAMPLES: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES_DIR.glob("*.json"))
}
CASES = list(EXAMPLES)

# examples/README.md, "Seeding": username, oauth_id, moderator, trusted, kudos, in id order.
SEED_USERS: list[tuple[str, str, bool, bool, int]] = [
    ("peer_admin", "peer_admin_oauth", True, True, 10000),
    ("peer_mod", "peer_mod_oauth", True, True, 5000),
    ("peer_alice", "peer_alice_oauth", False, False, 100),
    ("peer_bob", "peer_bob_oauth", False, False, 100),
    ("peer_doomed", "peer_doomed_oauth", False, False, 0),
] + [(f"peer_filler{n:02d}", f"peer_filler{n:02d}_oauth", False, False, 3 * n) for n in range(1, 25)]

PLACEHOLDER_OWNERS = {
    "<admin-key>": 1,
    "<moderator-key>": 2,
    "<alice-key>": 3,
    "<bob-key>": 4,
    "<doomed-key>": 5,
}
ANON_PLACEHOLDER = "<anonymous-key 0000000000>"
ANON_KEY = "0000000000"

CORS_ALLOW_METHODS = "POST, GET, OPTIONS, PUT, DELETE, PATCH"
CORS_ALLOW_HEADERS = (
    "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, apikey, Client-Agent, X-Fields, "
    "X-Forwarded-For, Proxied-For, Proxy-Authorization"
)
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after")
PREFLIGHT_ALLOW = {
    "/api/v2/users": {"GET", "HEAD", "OPTIONS"},
    "/api/v2/users/3": {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"},
    "/api/v2/find_user": {"GET", "HEAD", "OPTIONS"},
    "/api/v2/dev/test-user": {"POST", "OPTIONS"},
}
API_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
RFC822_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} -0000$"
)
WIPE_STEM = "You cannot permanently wipe a user that was active in the last 30 days. Try again after "
WIPE_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$")
SUFFIX_MARK = " You have requested this URI ["
RATE_LIMITED_GETS = 61  # 140 was the 62nd GET /api/v2/users/15 of its window (examples/README.md)


# ------------------------------------------------------------------------------------------- comparison


class Matcher:
    """A placeholder in an expected body for a value the exchanges do not pin down."""

    def check(self, value: object) -> str | None:
        """None when ``value`` fits, else why not."""
        raise NotImplementedError


class NonNegativeInt(Matcher):
    """``account_age``: whole seconds since creation, so it depends on the clock."""

    def check(self, value: object) -> str | None:
        if type(value) is int and value >= 0:
            return None
        return f"expected a non-negative integer, got {value!r}"

    def __repr__(self) -> str:
        return "<non-negative int>"


@dataclass
class Rfc822Between(Matcher):
    """An RFC 822 ``-0000`` date (docs/users-api.md §2.3) within [lo, hi] (Unix seconds, one second slack)."""

    lo: float
    hi: float

    def check(self, value: object) -> str | None:
        if not isinstance(value, str) or not RFC822_RE.match(value):
            return f"expected an RFC 822 date like 'Fri, 27 Nov 2026 01:17:41 -0000', got {value!r}"
        stamp = email.utils.parsedate_to_datetime(value).timestamp()
        if not math.floor(self.lo) - 1 <= stamp <= self.hi + 1:
            return f"date {value!r} is not the time of the request that set it"
        return None


def json_diff(actual: object, expected: object, path: str = "$") -> list[str]:
    """Differences between two JSON values: keys, key order, JSON types (0 vs 0.0) and values."""
    if isinstance(expected, Matcher):
        problem = expected.check(actual)
        return [f"{path}: {problem}"] if problem else []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        out: list[str] = []
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing:
            out.append(f"{path}: missing keys {missing}")
        if extra:
            out.append(f"{path}: unexpected keys {extra} (values {[actual[k] for k in extra]!r})")
        if not missing and not extra and list(actual) != list(expected):
            out.append(f"{path}: key order {list(actual)} != expected {list(expected)}")
        for key, value in expected.items():
            if key in actual:
                out += json_diff(actual[key], value, f"{path}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {actual!r}"]
        if len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}"]
        out = []
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            out += json_diff(got, want, f"{path}[{index}]")
        return out
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def mask_account_age(body: Any) -> Any:
    """``account_age`` (every user body, list items included) depends on the clock: any int >= 0."""
    if isinstance(body, list):
        return [mask_account_age(item) for item in body]
    if isinstance(body, dict):
        return {k: NonNegativeInt() if k == "account_age" else mask_account_age(v) for k, v in body.items()}
    return body


def message_stem(message: str) -> str:
    """A real message without the §3.4 404 suffix (the sandbox never adds it, §10)."""
    cut = message.find(SUFFIX_MARK)
    return message[:cut] if cut >= 0 else message


# --------------------------------------------------------------------------------------------- the run


@dataclass
class Sent:
    """One request of the run and its reply."""

    label: str
    method: str
    path: str
    response: httpx.Response
    started: float
    finished: float

    @property
    def bucket(self) -> tuple[tuple[str, ...], int] | None:
        """The rate-limit bucket (docs/users-api.md §4.6) and its limit; None when a route is not limited."""
        if self.method == "OPTIONS":
            return None
        route = self.path.split("?", 1)[0]
        if route == "/api/v2/users" and self.method in ("GET", "HEAD"):
            return ("list",), 90
        if route == "/api/v2/find_user" and self.method in ("GET", "HEAD"):
            return ("find_user",), 90
        if route == "/api/v2/dev/test-user" and self.method == "POST":
            return ("test-user",), 90
        if (
            route.startswith("/api/v2/users/")
            and "/" not in route[len("/api/v2/users/") :]
            and self.method in ("GET", "HEAD", "PUT", "DELETE")
        ):
            return ("single", self.method, route), 60
        return None


@dataclass
class ReplayRun:
    """Everything the replay sent and got back."""

    client: httpx.Client = field(repr=False)
    origin: str
    port: int
    sent: list[Sent] = field(default_factory=list, repr=False)
    keys: dict[int, str] = field(default_factory=dict, repr=False)  # never shown in a failure report
    creations: list[Sent] = field(default_factory=list, repr=False)
    examples: dict[str, Sent] = field(default_factory=dict, repr=False)
    preflights: dict[str, Sent] = field(default_factory=dict, repr=False)
    others: dict[str, Sent] = field(default_factory=dict, repr=False)
    warm_up_gets: list[Sent] = field(default_factory=list, repr=False)

    def send(
        self,
        label: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        json_body: Any = None,
        content: bytes | None = None,
    ) -> Sent:
        started = time.time()
        if json_body is not None:
            response = self.client.request(method, self.origin + path, headers=headers, json=json_body)
        else:
            response = self.client.request(method, self.origin + path, headers=headers, content=content)
        sent = Sent(label, method, path, response, started, time.time())
        self.sent.append(sent)
        return sent

    def secrets(self) -> dict[str, str]:
        """Placeholder -> real key (never printed by the assertions)."""
        out = {placeholder: self.keys[user_id] for placeholder, user_id in PLACEHOLDER_OWNERS.items()}
        out[ANON_PLACEHOLDER] = ANON_KEY
        return out

    def replay_example(self, case: str) -> Sent:
        request = EXAMPLES[case]["request"]
        headers: dict[str, str] = {}
        for name, value in request["headers"].items():
            for placeholder, key in self.secrets().items():
                value = value.replace(placeholder, key)
            assert not re.search(r"<[a-z -]*key[^>]*>", value), f"{case}: unknown placeholder in {name}"
            headers[name] = value
        raw = request.get("raw_body")
        content = raw.encode("utf-8") if isinstance(raw, str) else None
        return self.send(
            case, request["method"], request["path"], headers, json_body=request.get("json"), content=content
        )


def _preflight(run: ReplayRun, path: str) -> None:
    headers = {"Origin": "https://example.org", "Access-Control-Request-Method": "PUT"}
    headers["Access-Control-Request-Headers"] = "apikey, content-type"
    run.preflights[path] = run.send(f"OPTIONS {path}", "OPTIONS", path, headers)


def _run_replay(run: ReplayRun) -> None:
    for user_id, (name, oauth_id, moderator, trusted, kudos) in enumerate(SEED_USERS, start=1):
        body = {
            "username": name,
            "oauth_id": oauth_id,
            "moderator": moderator,
            "trusted": trusted,
            "kudos": kudos,
        }
        sent = run.send(f"create {name}", "POST", "/api/v2/dev/test-user", json_body=body)
        run.creations.append(sent)
        if sent.response.status_code in (200, 201):
            run.keys[user_id] = sent.response.json().get("api_key", "")
        if user_id == 1:
            _preflight(run, "/api/v2/dev/test-user")  # between two counted POSTs: proves it is not counted
    run.others["heartbeat"] = run.send("heartbeat", "GET", "/api/v2/status/heartbeat")
    if len(run.keys) != len(SEED_USERS):  # test_seed_users reports why; the examples need every key
        for path in PREFLIGHT_ALLOW:
            if path not in run.preflights:
                _preflight(run, path)
        run.others["unknown route"] = run.send("unknown route", "GET", "/api/v2/no_such_route")
        return
    for case in CASES:
        if case.startswith("140"):
            _warm_up_for_429(run)
        run.examples[case] = run.replay_example(case)
        if case.startswith("011"):
            _preflight(run, "/api/v2/users")
        elif case.startswith("020"):
            _preflight(run, "/api/v2/users/3")
        elif case.startswith("040"):
            _preflight(run, "/api/v2/find_user")
    run.others["unknown route"] = run.send("unknown route", "GET", "/api/v2/no_such_route")


def _warm_up_for_429(run: ReplayRun) -> None:
    """61 GETs of /api/v2/users/15 in one window (a fresh window restarts the count), so 140 is the 62nd."""
    in_window = 0
    reset = None
    for _ in range(3 * RATE_LIMITED_GETS):
        sent = run.send("warm-up GET /users/15", "GET", "/api/v2/users/15")
        run.warm_up_gets.append(sent)
        this_reset = sent.response.headers.get("x-ratelimit-reset")
        if this_reset != reset:
            reset, in_window = this_reset, 0
        in_window += 1
        if in_window == RATE_LIMITED_GETS:
            return


def _database(kind: str) -> Iterator[str | None]:
    """None (the sandbox's default fresh SQLite) or a PostgreSQL URL on a fresh schema, dropped afterwards."""
    if kind == "sqlite":
        yield None
        return
    with postgres_schema_url("hu_replay") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replay(request: pytest.FixtureRequest) -> Iterator[ReplayRun]:
    """Run the whole replay once per database; the tests below inspect what it recorded."""
    if not CASES:
        pytest.skip(f"no example exchanges in {EXAMPLES_DIR}")
    for database in _database(request.param):
        yield from _replay_on(database)


def _replay_on(database: str | None) -> Iterator[ReplayRun]:
    from horde_users.sandbox import Sandbox

    options: dict[str, Any] = {"admins": ["peer_admin#1"], "test_user_endpoint": True, "rate_limits": True}
    with Sandbox(database=database, **options) as sandbox:
        url = httpx.URL(sandbox.url)
        assert url.path == "/api", f"sb.url must end in /api, got {sandbox.url!r}"
        assert url.host == "127.0.0.1"
        assert url.port is not None
        origin = f"{url.scheme}://{url.host}:{url.port}"
        with httpx.Client(timeout=30.0) as client:
            run = ReplayRun(client=client, origin=origin, port=url.port)
            _run_replay(run)
            yield run


# ------------------------------------------------------------------------------------- expected bodies


def _sent(run: ReplayRun, prefix: str) -> Sent:
    return next(sent for case, sent in run.examples.items() if case.startswith(prefix))


def expected_body(case: str, run: ReplayRun) -> Any:
    """The body the sandbox must send for ``case``, from the real one plus the deviations explained here."""
    real = copy.deepcopy(EXAMPLES[case]["response"]["json"])
    if isinstance(real, dict) and isinstance(real.get("message"), str):
        real["message"] = message_stem(real["message"])
    if isinstance(real, list):
        # The sandbox breaks kudos ties by ascending id (§4.1); the real server's tie order is unspecified
        # (011 lists id 5 before id 0, both at 0 kudos).
        real.sort(key=lambda user: (-user["kudos"], user["id"]))
    if case.startswith("072"):
        real = _expected_072(real, run)
    if case.startswith("110"):
        real["message"] = _WipeMessage(run)
    return mask_account_age(real)


def _expected_072(real: dict[str, Any], run: ReplayRun) -> dict[str, Any]:
    """User 3 seen by a moderator after the PUTs 050-069.

    The real server also ran unpublished PUTs on user 3 (its PUT bucket's X-Ratelimit-Remaining drops
    59 -> 57 between 050 and 054, 53 -> 47 between 060 and 067, 44 -> 41 between 069 and 075): an admin
    kudos delta of -8 (kudos 242 = 100 + 50 - 8 + 100, kudos_details.admin 42 = 50 - 8), trusted and
    education set back to false (which also put concurrency back to 30, §6.3 row 12), and
    admin_comment "watch this account". The sandbox saw only the published PUTs, whose effects the spec
    pins down: 050 kudos +50 (admin 50.0), 054 monthly_kudos +100 (balance +100, recurring 100.0,
    last_received set at that moment), 060 trusted, 067 education with concurrency 200, 069 nothing
    (no suspicion). Everything else, key order included, must match the real body.
    """
    real["kudos"] = 250.0
    real["concurrency"] = 200
    real["kudos_details"]["admin"] = 50.0
    real["trusted"] = True
    real["education"] = True
    del real["admin_comment"]
    put_054 = _sent(run, "054")
    real["monthly_kudos"]["last_received"] = Rfc822Between(put_054.started, put_054.finished)
    return real


class _WipeMessage(Matcher):
    """110: the stem, then ``last_active + 30 days`` of user 5, whose last_active is its creation (§1.4, §7).

    The real date (2026-12-27 01:16:23.314838) is the real creation time + 30 days; ours is the time of
    our creation call for user 5, written ``YYYY-MM-DD HH:MM:SS.ffffff`` (fraction omitted when zero).
    """

    def __init__(self, run: ReplayRun) -> None:
        created = run.creations[4]
        self.lo = created.started + 30 * 86400
        self.hi = created.finished + 30 * 86400

    def check(self, value: object) -> str | None:
        if not isinstance(value, str) or not value.startswith(WIPE_STEM):
            return f"expected {WIPE_STEM!r} + a date, got {value!r}"
        date = value[len(WIPE_STEM) :]
        if not WIPE_DATE_RE.match(date) or date.endswith(".000000"):
            return f"date {date!r} is not 'YYYY-MM-DD HH:MM:SS[.ffffff]' (fraction omitted when zero)"
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in date else "%Y-%m-%d %H:%M:%S"
        stamp = datetime.strptime(date, fmt).replace(tzinfo=timezone.utc).timestamp()
        if not self.lo - 1 <= stamp <= self.hi + 1:
            lo = datetime.fromtimestamp(self.lo, timezone.utc)
            return f"date {date!r} is not user 5's creation + 30 days (about {lo:%Y-%m-%d %H:%M:%S} UTC)"
        return None


# ---------------------------------------------------------------------------------------------- tests


def _body(sent: Sent) -> Any:
    try:
        return sent.response.json()
    except ValueError:
        return f"<not JSON: {sent.response.text[:200]!r}>"


def test_seed_users_get_ids_1_to_29(replay: ReplayRun) -> None:
    """The 29 test-user calls of examples/README.md create ids 1..29 with the §9 reply."""
    problems: list[str] = []
    for user_id, ((name, _, moderator, trusted, kudos), sent) in enumerate(
        zip(SEED_USERS, replay.creations, strict=True), start=1
    ):
        body = _body(sent)
        if sent.response.status_code != 201:
            problems.append(f"{name}: status {sent.response.status_code} != 201, body {body!r}")
            continue
        key = body.get("api_key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not API_KEY_RE.match(key):
            problems.append(f"{name}: api_key is not a 22-character URL-safe token")
        expected = {
            "alias": f"{name}#{user_id}",
            "api_key": body.get("api_key"),
            "created": True,
            "kudos": kudos,
            "moderator": moderator,
            "trusted": trusted or moderator,
            "user_id": str(user_id),
            "username": name,
        }
        problems += [f"{name}: {d}" for d in json_diff(body, expected)]
    assert not problems, "\n".join(problems)
    assert len(set(replay.keys.values())) == len(SEED_USERS), "API keys are not unique"


@pytest.mark.parametrize("case", CASES)
def test_example(replay: ReplayRun, case: str) -> None:
    """One example: status, rc, message stem, body keys in order, and the whole body."""
    if case not in replay.examples:
        pytest.fail(
            "the 29 test-user calls did not all succeed (see test_seed_users), so nothing was replayed"
        )
    sent = replay.examples[case]
    real = EXAMPLES[case]["response"]
    body = _body(sent)
    problems: list[str] = []
    if sent.response.status_code != real["status"]:
        problems.append(f"status: expected {real['status']}, got {sent.response.status_code}")
    if isinstance(real["json"], dict) and "rc" in real["json"]:
        got_rc = body.get("rc") if isinstance(body, dict) else None
        if got_rc != real["json"]["rc"]:
            problems.append(f"rc: expected {real['json']['rc']!r}, got {got_rc!r}")
    problems += json_diff(body, expected_body(case, replay))
    limit = real["headers"].get("X-Ratelimit-Limit")
    if limit is not None and sent.response.headers.get("x-ratelimit-limit") != limit:
        problems.append(
            f"X-RateLimit-Limit: expected {limit}, got {sent.response.headers.get('x-ratelimit-limit')}"
        )
    if case.startswith("140"):
        problems += _check_429(replay, sent)
    assert not problems, f"{case} ({EXAMPLES[case].get('note', '')}):\n" + "\n".join(problems)


def _check_429(run: ReplayRun, sent: Sent) -> list[str]:
    """140: of the 61 GETs before it (one window) the first 60 got 200, counting down to Remaining 0, the 61st
    a 429 (60 per minute); 140 is the 62nd."""
    problems: list[str] = []
    window = run.warm_up_gets[-RATE_LIMITED_GETS:]
    statuses = [s.response.status_code for s in window]
    if statuses != [200] * 60 + [429]:
        problems.append(f"the 61 GETs of /api/v2/users/15 before 140 got statuses {statuses}")
    remaining = [s.response.headers.get("x-ratelimit-remaining") for s in window]
    if remaining != [str(n) for n in range(59, -1, -1)] + ["0"]:
        problems.append(f"X-RateLimit-Remaining over the 61 GETs: {remaining}")
    if sent.response.headers.get("x-ratelimit-remaining") != "0":
        problems.append(
            f"429: X-RateLimit-Remaining {sent.response.headers.get('x-ratelimit-remaining')!r} != '0'"
        )
    if sent.response.headers.get("x-ratelimit-reset") != window[-1].response.headers.get("x-ratelimit-reset"):
        problems.append("429: X-RateLimit-Reset differs from the window's (a 429 must not extend the window)")
    return problems


def _common_header_problems(run: ReplayRun, sent: Sent) -> list[str]:
    headers = sent.response.headers
    problems: list[str] = []
    fixed = {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": CORS_ALLOW_METHODS,
        "access-control-allow-headers": CORS_ALLOW_HEADERS,
        "horde-node": f"127.0.0.1:{run.port}:horde-users-{_version()}",
    }
    for name, value in fixed.items():
        if headers.get_list(name) != [value]:
            problems.append(f"{name}: expected [{value!r}], got {headers.get_list(name)!r}")
    if sent.method != "OPTIONS" and headers.get("content-type") != JSON_CONTENT_TYPE:
        problems.append(f"content-type: expected {JSON_CONTENT_TYPE!r}, got {headers.get('content-type')!r}")
    if "www-authenticate" in headers:
        problems.append("has a WWW-Authenticate header")
    bucket = sent.bucket
    present = [name for name in RATE_LIMIT_HEADERS if name in headers]
    if bucket is None and present:
        problems.append(f"not a rate-limited request, yet has {present}")
    if bucket is not None and len(present) != len(RATE_LIMIT_HEADERS):
        problems.append(f"rate-limited route, yet has only {present}")
    return problems


def _version() -> str:
    from horde_users import __version__

    return __version__


def test_common_headers_on_every_reply(replay: ReplayRun) -> None:
    """§1.5 on every reply of the run: CORS, Horde-Node, JSON content type; rate-limit headers iff limited."""
    problems = [
        f"{sent.label} ({sent.method} {sent.path} -> {sent.response.status_code}): {problem}"
        for sent in replay.sent
        for problem in _common_header_problems(replay, sent)
    ]
    assert not problems, "\n".join(problems[:40])


def test_rate_limit_headers_count_down_per_bucket(replay: ReplayRun) -> None:
    """§4.6 on every limited reply: shapes, Limit, Remaining per bucket and window, Reset and Retry-After."""
    problems: list[str] = []
    last: dict[tuple[str, ...], tuple[int, int]] = {}  # bucket -> (reset, remaining)
    for sent in replay.sent:
        found = sent.bucket
        if found is None:
            continue
        bucket, limit = found
        where = f"{sent.label} ({sent.method} {sent.path} -> {sent.response.status_code})"
        values = {name: sent.response.headers.get(name, "") for name in RATE_LIMIT_HEADERS}
        if not all(v.isascii() and v.isdigit() for v in values.values()):
            problems.append(f"{where}: rate-limit headers are not whole numbers: {values}")
            continue
        got_limit, remaining, reset, retry_after = (int(values[name]) for name in RATE_LIMIT_HEADERS)
        if got_limit != limit:
            problems.append(f"{where}: X-RateLimit-Limit {got_limit} != {limit}")
        previous = last.get(bucket)
        if previous is not None and previous[0] == reset:
            want = max(previous[1] - 1, 0)
            if remaining != want:
                problems.append(
                    f"{where}: X-RateLimit-Remaining {remaining}, expected {want} (previous {previous[1]})"
                )
            limited = previous[1] == 0
        else:
            if remaining != limit - 1:
                problems.append(
                    f"{where}: first request of a window has Remaining {remaining} != {limit - 1}"
                )
            if previous is not None and reset < previous[0]:
                problems.append(f"{where}: X-RateLimit-Reset went back in time")
            # Reset = floor(t0) + 61 for the request that opened the window (±1 s tolerated, §4.6).
            if not math.floor(sent.started) + 60 <= reset <= math.floor(sent.finished) + 62:
                problems.append(f"{where}: X-RateLimit-Reset {reset} is not this request's second + 61")
            limited = False
        if limited != (sent.response.status_code == 429):
            problems.append(
                f"{where}: status {sent.response.status_code}, window {'' if limited else 'not '}used up"
            )
        # Retry-After = floor(Reset - now), now within [started, finished]; ±1 s tolerated.
        if not math.floor(reset - sent.finished) - 1 <= retry_after <= math.floor(reset - sent.started) + 1:
            problems.append(f"{where}: Retry-After {retry_after} != floor(X-RateLimit-Reset - now)")
        if not 0 <= retry_after <= 61:
            problems.append(f"{where}: Retry-After {retry_after} outside 0..61")
        last[bucket] = (reset, remaining)
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("path", list(PREFLIGHT_ALLOW))
def test_preflight(replay: ReplayRun, path: str) -> None:
    """§1.5 CORS preflight: 200, empty body, text/html, Allow, fixed CORS values, never rate limited."""
    sent = replay.preflights[path]
    headers = sent.response.headers
    problems = _common_header_problems(replay, sent)
    if sent.response.status_code != 200:
        problems.append(f"status {sent.response.status_code} != 200")
    if sent.response.content != b"":
        problems.append(f"body {sent.response.content[:100]!r} is not empty")
    if headers.get("content-type") != "text/html; charset=utf-8":
        problems.append(f"content-type {headers.get('content-type')!r} != 'text/html; charset=utf-8'")
    allow = {method.strip() for method in headers.get("allow", "").split(",") if method.strip()}
    if allow != PREFLIGHT_ALLOW[path]:
        problems.append(f"Allow {headers.get('allow')!r} != {sorted(PREFLIGHT_ALLOW[path])}")
    for name in ("access-control-max-age", "access-control-allow-credentials"):
        if name in headers:
            problems.append(f"has {name}")
    assert not problems, "\n".join(problems)


def test_heartbeat(replay: ReplayRun) -> None:
    """§4.7: 200 {"message": "OK", "version": <package version>}, no rate-limit headers."""
    sent = replay.others["heartbeat"]
    problems = _common_header_problems(replay, sent)
    if sent.response.status_code != 200:
        problems.append(f"status {sent.response.status_code} != 200")
    body = _body(sent)
    if not isinstance(body, dict) or body.get("message") != "OK" or body.get("version") != _version():
        problems.append(f"body {body!r} lacks message 'OK' and version {_version()!r}")
    assert not problems, "\n".join(problems)


def test_unknown_route(replay: ReplayRun) -> None:
    """§3.1 shape (h): 404 {"message": "Not Found"}, with the common headers and no rate-limit headers."""
    sent = replay.others["unknown route"]
    problems = _common_header_problems(replay, sent)
    if sent.response.status_code != 404:
        problems.append(f"status {sent.response.status_code} != 404")
    problems += json_diff(_body(sent), {"message": "Not Found"})
    assert not problems, "\n".join(problems)
