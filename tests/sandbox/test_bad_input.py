"""Bad input never yields a 5xx: a property-based run against a sandbox on a real port, plus explicit cases.

Hypothesis generates a few hundred requests per endpoint (``HORDE_USERS_FUZZ_EXAMPLES``, default 300):
arbitrary page/sort queries, arbitrary path text (unicode, percent signs, huge numbers), JSON-ish and raw
bodies under arbitrary content types, arbitrary ``apikey`` headers, and test-user payloads. Every reply must
be below 500, JSON, carry the §1.5 headers, and every 4xx must have exactly one of the body shapes of
docs/users-api.md §3.1 (or §9's for the test-user endpoint). Where the contract pins the answer down (page
parsing, the digit check, validation messages, 404 echoes, the order of checks) the exact reply is checked
too. No reply may contain a user's API key or another secret it was not asked to show.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import bleach
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox.conftest import postgres_schema_url

MAX_EXAMPLES = int(os.environ.get("HORDE_USERS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after")
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET, OPTIONS, PUT, DELETE, PATCH",
    "access-control-allow-headers": (
        "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, apikey, Client-Agent, "
        "X-Fields, X-Forwarded-For, Proxied-For, Proxy-Authorization"
    ),
}
RCS = {
    "UserNotFound",
    "InvalidAPIKey",
    "NotAdmin",
    "NotModerator",
    "AnonForbiddenUserMod",
    "NonServiceForbidden",
    "NoUserModSelected",
    "TooLongUserName",
    "ProfaneUserName",
    "ProfaneUserContact",
    "ProfaneAdminComment",
    "UserNotDeleted",
    "AnonForbiddenUser",
    "CannotDeleteMod",
    "NotUserOrMod",
    "CannotWipeActiveUser",
}
VALIDATION = "Input payload validation failed"
UNREADABLE = "The browser (or proxy) sent a request that this server could not understand."
WRONG_METHOD = "The method is not allowed for the requested URL."
INVALID_KEY = (
    "No user matching sent API Key. Have you remembered to register at https://stablehorde.net/register ?"
)
NOT_NUMERIC = (
    "User with ID 'Please use only the numerical part of the userID. E.g. the '1' in 'db0#1'' not found."
)
PAGE_HELP = "Which page of results to return. Each page has 25 users. "
PUT_NO_KEY = "The Admin API . Missing required parameter in the HTTP headers"
DELETE_NO_KEY = "The Moderator or User API key. Missing required parameter in the HTTP headers"
TEST_USER_ERRORS = {
    "username must be a string",
    "oauth_id must be a string",
    "moderator must be a boolean",
    "trusted must be a boolean",
    "kudos must be an integer or null",
    "kudos must be non-negative",
    "username cannot be empty",
    "oauth_id cannot be empty",
    "Bad Username",
    "JSON object payload expected",
}
USER_KEYS = [
    "username",
    "id",
    "kudos",
    "evaluating_kudos",
    "concurrency",
    "worker_invited",
    "moderator",
    "kudos_details",
    "worker_count",
    "worker_ids",
    "styles",
    "sharedkey_ids",
    "active_generations",
    "monthly_kudos",
    "trusted",
    "flagged",
    "vpn",
    "service",
    "education",
    "customizer",
    "special",
    "deleted",
    "suspicious",
    "pseudonymous",
    "contact",
    "admin_comment",
    "proxy_passkey",
    "account_age",
    "usage",
    "contributions",
    "records",
]
MODIFY_KEYS = [
    "new_kudos",
    "concurrency",
    "usage_multiplier",
    "worker_invited",
    "moderator",
    "public_workers",
    "username",
    "monthly_kudos",
    "trusted",
    "flagged",
    "customizer",
    "vpn",
    "service",
    "education",
    "special",
    "undeleted",
    "new_suspicion",
    "contact",
    "admin_comment",
    "proxy_passkey",
]
TEST_USER_KEYS = ["alias", "api_key", "created", "kudos", "moderator", "trusted", "user_id", "username"]
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
SENTINEL_KEY = f"sentinel-{uuid.uuid4().hex}"
"""An unknown API key no reply may ever repeat (except find_user's 404 message, §8)."""
HEX_RUN = re.compile(r"[0-9a-f]{64,}")

# PUT body members (§6.2) and their JSON types and limits (§10 for the sandbox's numeric ranges).
BOOL_MEMBERS = [
    "moderator",
    "public_workers",
    "trusted",
    "flagged",
    "customizer",
    "vpn",
    "service",
    "education",
    "special",
    "undelete",
    "filtered",
    "reset_suspicion",
    "generate_proxy_passkey",
]
NUMBER_LIMITS: dict[str, tuple[str, float | int, float | int, str, str]] = {
    # member: (type, minimum, maximum, minimum as written, maximum as written)
    "kudos": ("number", -(10**15), 10**15, "-1000000000000000", "1000000000000000"),
    "usage_multiplier": ("number", 0.1, 10, "0.1", "10"),
    "concurrency": ("integer", 0, 500, "0", "500"),
    "worker_invited": ("integer", INT32_MIN, INT32_MAX, str(INT32_MIN), str(INT32_MAX)),
    "monthly_kudos": ("integer", INT32_MIN, INT32_MAX, str(INT32_MIN), str(INT32_MAX)),
}
STRING_LIMITS = {"username": (3, 100), "contact": (5, 500), "admin_comment": (5, 500)}
OPERATION_MEMBERS = set(NUMBER_LIMITS) | set(STRING_LIMITS) | (set(BOOL_MEMBERS) - {"filtered"})
PUT_MEMBERS = sorted(set(NUMBER_LIMITS) | set(STRING_LIMITS) | set(BOOL_MEMBERS))

JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON; Charset=UTF-8",
    "application/merge-patch+json",
    "application/vnd.api+json; version=1",
]
OTHER_TYPES = [
    None,
    "",
    "text/plain",
    "text/json",
    "json",
    "application/jsonx",
    "application/json-patch",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "*/*",
]


# ------------------------------------------------------------------------------------------- fixtures


@dataclass
class Target:
    """A running sandbox, a client for it, and the secrets it must never repeat."""

    client: httpx.Client = field(repr=False)
    port: int
    keys: dict[str, str] = field(repr=False)  # role -> API key; never shown in a failure report
    ids: dict[str, int]
    secrets: set[str] = field(default_factory=set, repr=False)
    shared_key: str | None = field(default=None, repr=False)
    passkey: str | None = field(default=None, repr=False)
    """Bob's proxy passkey: shown only to moderators (level 2) and in the PUT that issued it."""


def _start(**options: Any) -> Iterator[tuple[Any, httpx.Client, int]]:
    from horde_users.sandbox import Sandbox

    with Sandbox(**options) as sandbox:
        url = httpx.URL(sandbox.url)
        assert url.port is not None
        # A fresh connection per request, so that a request that crashes the server (uvicorn then drops
        # the connection) is reported as itself and cannot break the next one.
        no_keep_alive = httpx.Limits(max_keepalive_connections=0)
        origin = f"{url.scheme}://{url.host}:{url.port}"
        with httpx.Client(base_url=origin, timeout=30.0, limits=no_keep_alive) as client:
            yield sandbox, client, url.port


def _database(kind: str) -> Iterator[str | None]:
    """None (a fresh SQLite file) or a PostgreSQL URL on a fresh schema, dropped afterwards."""
    if kind == "sqlite":
        yield None
        return
    with postgres_schema_url("hu_fuzz") as url:
        yield url


def _seeded(kind: str) -> Iterator[Target]:
    """Rate limits and the test-user endpoint off; ids 1-4: an admin (also moderator), a moderator, alice
    (with a contact and an admin comment) and bob (a service account with a proxy passkey, a shared key)."""
    for database in _database(kind):
        for sandbox, client, port in _start(database=database, rate_limits=False, test_user_endpoint=False):
            users = {
                "admin": sandbox.create_user("fuzz_admin", admin=True, moderator=True, trusted=True),
                "moderator": sandbox.create_user("fuzz_mod", moderator=True, trusted=True),
                "alice": sandbox.create_user("fuzz_alice"),
                "bob": sandbox.create_user("fuzz_bob", service=True),
            }
            keys = {role: user.api_key for role, user in users.items()}
            ids = {role: int(user.id) for role, user in users.items()}
            assert sorted(ids.values()) == [1, 2, 3, 4]
            fuzz = Target(client=client, port=port, keys=keys, ids=ids, secrets=set(keys.values()))
            fuzz.shared_key = str(sandbox.create_shared_key(users["bob"].alias, "fuzz"))
            response = client.put(
                f"/api/v2/users/{ids['alice']}",
                headers={"apikey": keys["admin"]},
                json={"contact": "alice@example.org", "admin_comment": "keep an eye on alice"},
            )
            assert response.status_code == 200, response.text
            response = client.put(
                f"/api/v2/users/{ids['bob']}",
                headers={"apikey": keys["bob"]},
                json={"generate_proxy_passkey": True},
            )
            assert response.status_code == 200, response.text
            fuzz.passkey = response.json()["proxy_passkey"]
            yield fuzz


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=DATABASES)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Seeded users whose roles stay as seeded, on SQLite and PostgreSQL: the explicit cases."""
    yield from _seeded(request.param)


@pytest.fixture(scope="module")
def read_target() -> Iterator[Target]:
    """Seeded users for the read-only fuzzing (list, single user, find_user)."""
    yield from _seeded("sqlite")


@pytest.fixture(scope="module")
def mutable_target() -> Iterator[Target]:
    """Seeded users for the PUT and DELETE fuzzing, which changes roles, names and deletions at random."""
    yield from _seeded("sqlite")


@pytest.fixture(scope="module")
def pg_mutable_target() -> Iterator[Target]:
    """The same on PostgreSQL (skips without it)."""
    yield from _seeded("postgres")


@pytest.fixture(scope="module", params=DATABASES)
def test_user_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """A sandbox serving the test-user endpoint (its upserts rotate keys), rate limits off."""
    for database in _database(request.param):
        for _, client, port in _start(database=database, rate_limits=False, test_user_endpoint=True):
            yield Target(client=client, port=port, keys={}, ids={})


@pytest.fixture(scope="module")
def upsert_target() -> Iterator[Target]:
    """A test-user sandbox for the fuzzing, whose upserts :data:`UPSERTS` tracks (and requests that change
    nothing: 405, 413)."""
    for _, client, port in _start(rate_limits=False, test_user_endpoint=True):
        yield Target(client=client, port=port, keys={}, ids={})


# ------------------------------------------------------------------------------------- reply checking


def check_reply(
    fuzz: Target, response: httpx.Response, *, echo_ok: str | None = None, passkey_ok: bool = False
) -> Any:
    """The checks every reply passes (every sandbox here runs with rate limits off); returns its JSON body.

    ``echo_ok`` is the one message that may quote the sentinel key (find_user's 404, §8); ``passkey_ok``
    says the reply may show bob's proxy passkey (a moderator's view of bob).
    """
    where = f"{response.request.method} {response.request.url.raw_path.decode('ascii', 'replace')[:200]}"
    assert response.status_code < 500, f"{where} -> {response.status_code} {response.text[:500]!r}"
    for name, value in CORS.items():
        assert response.headers.get(name) == value, f"{where}: {name} {response.headers.get(name)!r}"
    limited = [name for name in RATE_LIMIT_HEADERS if name in response.headers]
    assert not limited, f"{where}: rate limits are off, yet the reply has {limited} (§10)"
    node = f"127.0.0.1:{fuzz.port}:horde-users-"
    assert response.headers.get("horde-node", "").startswith(node), f"{where}: Horde-Node"
    content_type = response.headers.get("content-type")
    assert content_type == JSON_CONTENT_TYPE, (
        f"{where} -> {response.status_code}: content-type {content_type!r}"
    )
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"{where} -> {response.status_code}: body is not JSON: {response.text[:300]!r}")
    text = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in fuzz.secrets:
        assert secret not in text, f"{where} -> {response.status_code}: the reply repeats an API key"
    if fuzz.passkey and not passkey_ok:
        assert fuzz.passkey not in text, f"{where} -> {response.status_code}: the reply shows a proxy passkey"
    if SENTINEL_KEY in text:
        assert echo_ok is not None, f"{where} -> {response.status_code}: the reply repeats the sent apikey"
        assert isinstance(body, dict), where
        assert body.get("message") == echo_ok, f"{where}: the sent apikey shows outside the 404 message"
    for run in HEX_RUN.findall(response.text):
        assert run.isdigit(), f"{where}: the reply holds a 64-hex string (a key hash?)"
    if response.status_code >= 400:
        error_shape(response.status_code, body, where)
    return body


def error_shape(status: int, body: Any, where: str) -> str:
    """Which §3.1 shape (a-h) or §9 test-user error an error body has; fails on anything else."""
    assert isinstance(body, dict), f"{where} -> {status}: error body {body!r} is not an object"
    assert isinstance(body.get("message"), str), f"{where} -> {status}: no string message in {body!r}"
    keys = list(body)
    if sorted(keys) == ["message", "rc"]:
        assert status in (400, 401, 403, 404), f"{where}: rc body with status {status}"
        assert body["rc"] in RCS, f"{where}: unknown rc {body['rc']!r}"
        return "a"
    if sorted(keys) == ["errors", "message"]:
        assert status == 400, f"{where}: validation body with status {status}"
        assert body["message"] == VALIDATION, f"{where}: {body!r}"
        errors = body["errors"]
        assert isinstance(errors, dict), f"{where}: errors {errors!r}"
        assert errors, f"{where}: empty errors"
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in errors.items()), (
            f"{where}: {errors!r}"
        )
        return "b"
    assert keys == ["message"], f"{where} -> {status}: unexpected error body keys {keys} in {body!r}"
    known = {
        (429, "60 per 1 minute"): "c",
        (429, "90 per 1 minute"): "c",
        (400, UNREADABLE): "e",
        (405, WRONG_METHOD): "f",
        (413, "Payload Too Large"): "g",
        (404, "Not Found"): "h",
        (403, "Forbidden"): "test-user",
    }
    shape = known.get((status, body["message"]))
    if shape is None and status == 400 and body["message"] in TEST_USER_ERRORS:
        shape = "test-user"
    assert shape is not None, f"{where} -> {status}: body {body!r} fits no error shape of §3.1 or §9"
    return shape


def assert_error(response: httpx.Response, body: Any, status: int, expected: Any, why: str) -> None:
    """Status and body (or, for an rc string, just the rc) as the contract says."""
    where = f"{response.request.method} {response.request.url.raw_path.decode('ascii', 'replace')[:200]}"
    assert response.status_code == status, (
        f"{where}: {why}: expected {status}, got {response.status_code} {body!r}"
    )
    if isinstance(expected, str):
        assert isinstance(body, dict), where
        assert body.get("rc") == expected, f"{where}: {why}: expected rc {expected}, got {body!r}"
    else:
        assert body == expected, f"{where}: {why}:\n expected {expected!r}\n got      {body!r}"
        assert list(body) == list(expected), f"{where}: key order {list(body)} != {list(expected)}"


def validation(errors: dict[str, str]) -> dict[str, Any]:
    return {"errors": errors, "message": VALIDATION}


def not_found(text: str) -> dict[str, str]:
    return {"message": f"User with ID '{text}' not found.", "rc": "UserNotFound"}


def invalid_key() -> dict[str, str]:
    return {"message": INVALID_KEY, "rc": "InvalidAPIKey"}


# ------------------------------------------------------------------------------------------ the oracle


def is_json_type(content_type: str | None) -> bool:
    """§3.1 shape (e): the media type is application/json or application/<name>+json, any case."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        return True
    return (
        media.startswith("application/") and media.endswith("+json") and len(media) > len("application/+json")
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> tuple[bool, Any]:
    """(True, value) when ``raw`` is JSON (``json.loads`` of the bytes), else (False, None)."""
    try:
        return True, json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False, None


def sanitise(text: str) -> str:
    """§6.4: bleach's default clean (NULs dropped), then stripped."""
    return str(bleach.clean(text.replace("\x00", ""))).strip()


def is_json_integer(value: Any) -> bool:
    """An integer for the schema: an int (not a bool) or an integral float such as 5.0 (§3.2)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def member_error(name: str, value: Any) -> str | None:
    """The §3.2 message for one PUT body member, or None when it passes the schema (§6.2, §10)."""
    if name in NUMBER_LIMITS:
        kind, low, high, low_text, high_text = NUMBER_LIMITS[name]
        fits = (
            is_json_integer(value)
            if kind == "integer"
            else isinstance(value, (int, float)) and not isinstance(value, bool)
        )
        if not fits:
            return f"{value!r} is not of type '{kind}'"
        if value < low:
            return f"{value!r} is less than the minimum of {low_text}"
        if value > high:
            return f"{value!r} is greater than the maximum of {high_text}"
        return None
    if name in STRING_LIMITS:
        shortest, longest = STRING_LIMITS[name]
        if not isinstance(value, str):
            return f"{value!r} is not of type 'string'"
        if len(value) < shortest:
            return f"{value!r} is too short"
        if len(value) > longest:
            return f"{value!r} is too long"
        if name == "username" and not sanitise(value):
            return f"{value!r} is too short"
        return None
    if name in BOOL_MEMBERS and not isinstance(value, bool):
        return f"{value!r} is not of type 'boolean'"
    return None


def body_verdict(content_type: str | None, raw: bytes) -> tuple[str, Any]:
    """What step 1 of §4.3 makes of a PUT body: ("e", None), ("b", errors) or ("ok", the object)."""
    if not is_json_type(content_type):
        return "e", None
    ok, value = parse_json(raw)
    if not ok:
        return "e", None
    if not isinstance(value, dict):
        return "b", {"": f"{value!r} is not of type 'object'"}
    errors = {name: message for name, v in value.items() if (message := member_error(name, v)) is not None}
    return ("b", errors) if errors else ("ok", value)


def python_int(text: str) -> int | None:
    """Python's ``int()`` of the path text (PUT's lookup, §4.3), None when it does not convert."""
    try:
        return int(text)
    except ValueError:
        return None


def is_ascii_digits(text: str) -> bool:
    return bool(text) and all("0" <= c <= "9" for c in text)


# ------------------------------------------------------------------------------------------ strategies

printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
path_text = st.one_of(
    st.integers(min_value=-5, max_value=12).map(str),
    st.integers(min_value=2**31 - 2, max_value=2**31 + 2).map(str),
    st.integers(min_value=2**31, max_value=10**60).map(str),
    st.integers(min_value=-(10**30), max_value=-1).map(str),
    st.from_regex(r"\A[0 +-]{0,3}[0-9]{1,4}[ ]{0,2}\Z"),
    st.sampled_from(
        [
            "abc",
            "db0#1",
            "1#x",
            "1%23x",
            " 3",
            "+3",
            "3 ",
            "1_0",
            "٣",
            "３",
            "1e3",
            "0x10",
            "%",
            "%2F",
            "a/b",
            "\x00",
            "3\x00",
            "…",
            "𝟑",
            "\u00a03",
            "-0",
            "0",
            "00",
            "3.0",
            "3/",
            "/3",
        ]
    ),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
).filter(lambda t: t not in ("", ".", ".."))
apikey_choice = st.one_of(
    st.sampled_from(
        ["<none>", "<empty>", "admin", "moderator", "alice", "bob", "<anon>", "<sentinel>", "<shared>"]
    ),
    st.text(printable, min_size=1, max_size=40).filter(lambda s: s == s.strip()),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0xFF).filter(lambda c: c != "\x7f"),
        min_size=1,
        max_size=30,
    ),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    any_text,
)


def _json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3)


json_value = st.recursive(json_scalar, _json_containers, max_leaves=6)


def _member_values(name: str) -> st.SearchStrategy[Any]:
    if name in NUMBER_LIMITS:
        kind, low, high, _, _ = NUMBER_LIMITS[name]
        near = st.sampled_from([low, high, low - 1, high + 1, 0, 1, -1])
        typed = st.integers(min_value=-(2**40), max_value=2**40) if kind == "integer" else st.floats()
        huge = st.integers(min_value=10**300, max_value=10**400)  # beyond any float
        return st.one_of(
            near,
            near.map(float),
            typed,
            st.integers(),
            st.floats(),
            huge,
            huge.map(lambda n: -n),
            json_scalar,
        )
    if name in STRING_LIMITS:
        shortest, longest = STRING_LIMITS[name]
        sizes = st.sampled_from([0, 1, shortest - 1, shortest, 30, 31, longest, longest + 1])
        return st.one_of(
            sizes.map(lambda n: "x" * n),
            st.text(st.characters(exclude_categories=["Cs"]), min_size=shortest - 1, max_size=longest + 1),
            st.sampled_from(["   ", "<b>hi</b>", "a\x00b\x00c", "  ok ok  ", "<<<>>>", "&&&&&", "\t\n\r  "]),
            json_scalar,
        )
    return st.one_of(st.booleans(), json_scalar)


put_object = st.lists(
    st.sampled_from([*PUT_MEMBERS, "", "Kudos", "unknown"]),
    max_size=4,
    unique=True,
).flatmap(lambda names: st.fixed_dictionaries({name: _member_values(name) for name in names}))


@st.composite
def put_body(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """(Content-Type, raw body) for a PUT: mostly JSON objects, some other JSON, raw bytes and NaN."""
    kind = draw(st.sampled_from(["object"] * 6 + ["value", "raw", "constant"]))
    content_type = draw(st.sampled_from(JSON_TYPES * 3 + OTHER_TYPES))
    if kind == "object":
        raw = json.dumps(draw(put_object)).encode()
    elif kind == "value":
        raw = json.dumps(draw(json_value)).encode()
    elif kind == "constant":
        raw = draw(
            st.sampled_from([b'{"kudos": NaN}', b'{"kudos": Infinity}', b'{"usage_multiplier": -Infinity}'])
        )
    else:
        raw = draw(st.binary(max_size=60))
    return content_type, raw


# ----------------------------------------------------------------------------------------- the helpers


def apikey_header(fuzz: Target, choice: str) -> tuple[dict[str, Any], str | None]:
    """The headers for an apikey choice and the key text the server sees (None when no header is sent)."""
    special = {
        "<none>": None,
        "<empty>": "",
        "<anon>": "0000000000",
        "<sentinel>": SENTINEL_KEY,
        "<shared>": fuzz.shared_key or SENTINEL_KEY,
    }
    key = special[choice] if choice in special else fuzz.keys.get(choice, choice)
    if key is None:
        return {}, None
    return {"apikey": key.encode("latin-1")}, key


def known_key(fuzz: Target, key: str) -> bool:
    return key == "0000000000" or key in fuzz.keys.values()


def user_path(text: str) -> str:
    return "/api/v2/users/" + quote(text, safe="")


LEVEL1_KEYS = {"worker_ids", "sharedkey_ids", "active_generations", "vpn", "special", "contact"}
LEVEL2_KEYS = {"evaluating_kudos", "monthly_kudos", "suspicious", "admin_comment", "proxy_passkey"}
LIST_NULLS = ["evaluating_kudos", "sharedkey_ids", "vpn", "special", "suspicious", "contact", "admin_comment"]
LIST_NULLS.append("proxy_passkey")


def privilege(fuzz: Target, key: str | None, target_id: int | None) -> int:
    """§5.1 for GET /users/{id}: 2 for a moderator's key, 1 for the target's own key, else 0."""
    if not key:
        return 0
    if key in (fuzz.keys["admin"], fuzz.keys["moderator"]):
        return 2
    owner = 0 if key == "0000000000" else next((fuzz.ids[r] for r, k in fuzz.keys.items() if k == key), None)
    return 1 if owner is not None and owner == target_id else 0


def check_view(fuzz: Target, body: dict[str, Any], level: int) -> None:
    """Exactly the fields of a privilege level (§5.2): none above it, the always-shown ones at it."""
    user_id = body["id"]
    hidden = set() if level == 2 else set(LEVEL2_KEYS)
    if level == 0:
        hidden |= LEVEL1_KEYS - ({"worker_ids"} if user_id == 0 else set())  # Anonymous has public workers
    shown = sorted(hidden & set(body))
    assert not shown, f"user {user_id} at level {level} shows {shown}"
    required = {"worker_ids", "sharedkey_ids", "vpn", "special"} if level >= 1 else set()
    if level == 2:
        required |= {"evaluating_kudos", "monthly_kudos", "suspicious"}
    if user_id == fuzz.ids["alice"]:
        required |= {"contact"} if level >= 1 else set()
        required |= {"admin_comment"} if level == 2 else set()
    if user_id == fuzz.ids["bob"] and level == 2:
        required.add("proxy_passkey")
    missing = sorted(required - set(body))
    assert not missing, f"user {user_id} at level {level} lacks {missing}"


# ------------------------------------------------------------------------------------ property tests


@FUZZ
@given(
    pages=st.lists(
        st.one_of(
            st.integers(min_value=-(10**6), max_value=10**6).map(str),
            st.integers().map(str),
            st.from_regex(r"\A[ +-]{0,2}[0-9]{1,6}[ ]{0,2}\Z"),
            st.sampled_from(["", "abc", "1.5", "1e3", "٣", "1_000", "10001", "0x1", " ", "+", "\x00", "0"]),
            any_text,
        ),
        max_size=3,
    ),
    sort=st.one_of(st.none(), st.sampled_from(["kudos", "age", "Age", "KUDOS", "", "id"]), any_text),
    apikey=apikey_choice,
)
def test_list_users_any_query(read_target: Target, pages: list[str], sort: str | None, apikey: str) -> None:
    """GET /users: 200 for any page int() reads (§4.1), else 400 shape (b) with the §3.2 message; the
    public view only (§2.1), in order."""
    target = read_target
    params: list[tuple[str, str | int | float | bool | None]] = [("page", page) for page in pages]
    if sort is not None:
        params.append(("sort", sort))
    headers, _ = apikey_header(target, apikey)
    response = target.client.get("/api/v2/users", params=params, headers=headers)
    body = check_reply(target, response)
    page = python_int(pages[0]) if pages else 1
    if page is None:
        try:
            int(pages[0])
        except ValueError as exc:
            messages = {
                PAGE_HELP + str(exc),
                f"{PAGE_HELP}invalid literal for int() with base 10: {pages[0]!r}",
            }
        assert response.status_code == 400, f"page={pages[0]!r}: expected 400, got {response.status_code}"
        assert list(body) == ["errors", "message"], body
        assert body["errors"].get("page") in messages, f"page={pages[0]!r}: {body!r}"
        assert list(body["errors"]) == ["page"], body
        return
    assert response.status_code == 200, (
        f"page={pages[0]!r}: expected 200, got {response.status_code} {body!r}"
    )
    assert isinstance(body, list), body
    if page > 10000:
        assert body == [], f"page={page}: expected []"
    assert len(body) <= 25
    for user in body:
        assert list(user) == USER_KEYS, f"list item keys {list(user)}"
        private = {k: user[k] for k in LIST_NULLS if user[k] is not None}
        assert not private, f"list item {user['id']} shows non-public values {private}"
        assert user["active_generations"] == {}
        assert user["monthly_kudos"] == {}
        assert (user["worker_ids"] is None) == (user["id"] != 0), f"worker_ids of {user['id']}"
    if sort == "age":
        order = [user["id"] for user in body]  # creation order is id order here
        assert order == sorted(order), f"sort=age: ids {order}"
    else:
        order = [(-user["kudos"], user["id"]) for user in body]
        assert order == sorted(order), f"sort={sort!r}: (kudos, id) order {order}"


@FUZZ
@given(text=path_text, apikey=apikey_choice)
def test_get_user_any_path(read_target: Target, text: str, apikey: str) -> None:
    """GET /users/{id}: the digit check, then the key, then the lookup (§4.2), with their exact bodies,
    and exactly the fields of the caller's privilege level (§5)."""
    target = read_target
    headers, key = apikey_header(target, apikey)
    level = privilege(target, key, python_int(text) if is_ascii_digits(text) else None)
    show_passkey = level == 2 and is_ascii_digits(text) and int(text) == target.ids["bob"]
    response = target.client.get(user_path(text), headers=headers)
    body = check_reply(target, response, passkey_ok=show_passkey)
    if "/" in text and response.status_code == 404 and body == {"message": "Not Found"}:
        return  # a decoded "/" makes the path match no route (shape h)
    if not is_ascii_digits(text):
        assert_error(response, body, 404, {"message": NOT_NUMERIC, "rc": "UserNotFound"}, "non-digit id")
    elif key and not known_key(target, key):
        assert_error(response, body, 401, invalid_key(), "unknown key")
    elif int(text) in (0, *target.ids.values()):
        assert response.status_code == 200, f"{text!r}: {response.status_code} {body!r}"
        assert body["id"] == int(text)
        assert [k for k in USER_KEYS if k in body] == list(body), f"keys out of order: {list(body)}"
        check_view(target, body, level)
    else:
        assert_error(response, body, 404, not_found(text), "no such user")


def put_case(target: Target, text: str, apikey: str, payload: tuple[str | None, bytes]) -> None:
    """PUT /users/{id}: body first (shapes e, b), then lookup, key, operations (§4.3), never a 5xx."""
    content_type, raw = payload
    headers, key = apikey_header(target, apikey)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = target.client.put(user_path(text), headers=headers, content=raw)
    body = check_reply(target, response)
    if "/" in text and response.status_code == 404 and body == {"message": "Not Found"}:
        return
    verdict, detail = body_verdict(content_type, raw)
    if verdict == "e":
        assert_error(
            response, body, 400, {"message": UNREADABLE}, f"unreadable body {content_type!r} {raw[:80]!r}"
        )
        return
    if verdict == "b":
        assert_error(response, body, 400, validation(detail), f"body {raw[:200]!r}")
        return
    number = python_int(text)
    if number is None or not 0 <= number <= INT32_MAX or number not in (0, *target.ids.values()):
        assert_error(response, body, 404, not_found(text), "PUT lookup with int()")
    elif key is None:
        assert_error(response, body, 400, validation({"apikey": PUT_NO_KEY}), "no apikey")
    elif not known_key(target, key):
        assert_error(response, body, 401, invalid_key(), "unknown key (empty included)")
    elif not OPERATION_MEMBERS & set(detail):
        assert_error(response, body, 400, "NoUserModSelected", f"nothing to do in {detail!r}")
    elif response.status_code == 200:
        assert list(body), "empty 200 body"
        assert [k for k in MODIFY_KEYS if k in body] == list(body), f"ModifyUser keys {list(body)}"
    else:
        allowed = {
            400: {
                "TooLongUserName",
                "ProfaneUserName",
                "ProfaneUserContact",
                "ProfaneAdminComment",
                "UserNotDeleted",
            },
            403: {"NotAdmin", "NotModerator", "AnonForbiddenUserMod", "NonServiceForbidden"},
        }
        assert body.get("rc") in allowed.get(response.status_code, set()), f"{response.status_code} {body!r}"


def delete_case(target: Target, text: str, apikey: str) -> None:
    """DELETE /users/{id}: digit check, key, lookup, missing key (sandbox 400, §10), then §7 (§4.4)."""
    headers, key = apikey_header(target, apikey)
    response = target.client.delete(user_path(text), headers=headers)
    body = check_reply(target, response)
    if "/" in text and response.status_code == 404 and body == {"message": "Not Found"}:
        return
    if not is_ascii_digits(text):
        assert_error(response, body, 404, {"message": NOT_NUMERIC, "rc": "UserNotFound"}, "non-digit id")
    elif key and not known_key(target, key):
        assert_error(response, body, 401, invalid_key(), "unknown key")
    elif int(text) not in (0, *target.ids.values()):
        assert_error(response, body, 404, not_found(text), "no such user")
    elif not key:
        assert_error(response, body, 400, validation({"apikey": DELETE_NO_KEY}), "no apikey")
    elif response.status_code == 200:
        assert body == {"message": "OK"}
    else:
        allowed = {"AnonForbiddenUser", "CannotDeleteMod", "NotUserOrMod", "CannotWipeActiveUser"}
        assert response.status_code == 403, f"{response.status_code} {body!r}"
        assert body.get("rc") in allowed, body


@FUZZ
@given(text=path_text, apikey=apikey_choice, payload=put_body())
def test_put_user_any_input(
    mutable_target: Target, text: str, apikey: str, payload: tuple[str | None, bytes]
) -> None:
    """PUT /users/{id} with any path text, key, body and content type (see :func:`put_case`)."""
    put_case(mutable_target, text, apikey, payload)


@FUZZ
@given(text=path_text, apikey=apikey_choice)
def test_delete_user_any_path(mutable_target: Target, text: str, apikey: str) -> None:
    """DELETE /users/{id} with any path text and key (see :func:`delete_case`)."""
    delete_case(mutable_target, text, apikey)


@pytest.mark.postgres
@settings(FUZZ, max_examples=max(MAX_EXAMPLES // 3, 20))
@given(
    text=path_text,
    apikey=apikey_choice,
    payload=put_body(),
    delete=st.integers(min_value=0, max_value=3).map(lambda n: n == 0),
)
def test_put_and_delete_on_postgres(
    pg_mutable_target: Target, text: str, apikey: str, payload: tuple[str | None, bytes], delete: bool
) -> None:
    """The PUT and DELETE fuzzing on PostgreSQL, whose types and text rules are stricter than SQLite's."""
    if delete:
        delete_case(pg_mutable_target, text, apikey)
    else:
        put_case(pg_mutable_target, text, apikey, payload)


@FUZZ
@given(apikey=apikey_choice, shared_form=st.sampled_from(["canonical", "upper", "bare"]))
def test_find_user_any_key(read_target: Target, apikey: str, shared_form: str) -> None:
    """GET /find_user: 401 without a key, the owner (level 1) for a key, the shared key's owner (level 0),
    else a 404 echoing the key (§8)."""
    target = read_target
    headers, key = apikey_header(target, apikey)
    if apikey == "<shared>" and target.shared_key is not None:
        forms: dict[str, Callable[[str], str]] = {
            "canonical": str,
            "upper": str.upper,
            "bare": lambda k: k.replace("-", ""),
        }
        key = forms[shared_form](target.shared_key)
        headers = {"apikey": key}
    message = f"User with api_key '{key}' not found."
    response = target.client.get("/api/v2/find_user", headers=headers)
    body = check_reply(target, response, echo_ok=message)
    if not key:
        assert_error(response, body, 401, invalid_key(), "no key")
    elif known_key(target, key):
        assert response.status_code == 200, f"{response.status_code} {body!r}"
        owner = 0 if key == "0000000000" else target.ids[next(r for r, k in target.keys.items() if k == key)]
        assert body["id"] == owner
        check_view(target, body, 1)
    elif apikey == "<shared>" and target.shared_key is not None:
        assert response.status_code == 200, f"shared key ({shared_form}): {response.status_code} {body!r}"
        assert body["id"] == target.ids["bob"]
        assert body["username"] == "fuzz_bob#4 (Shared Key: fuzz)"
        check_view(target, body, 0)
    else:
        assert_error(response, body, 404, {"message": message, "rc": "UserNotFound"}, "unknown key")


upsert_object = st.lists(
    st.sampled_from(["username", "oauth_id", "moderator", "trusted", "kudos", "other"]),
    max_size=5,
    unique=True,
).flatmap(
    lambda names: st.fixed_dictionaries(
        {
            name: {
                "username": st.one_of(
                    any_text, st.sampled_from(["", "  ", "<b>x</b>", "x" * 35]), json_scalar
                ),
                "oauth_id": st.one_of(
                    st.sampled_from(["fuzz_a", "fuzz_b", "fuzz_c", " fuzz_a ", "", "   ", str(uuid.uuid4())]),
                    any_text,
                    json_scalar,
                ),
                "moderator": st.one_of(st.booleans(), json_scalar),
                "trusted": st.one_of(st.booleans(), json_scalar),
                "kudos": st.one_of(st.integers(min_value=-5, max_value=10**6), st.none(), json_scalar),
                "other": json_value,
            }[name]
            for name in names
        }
    )
)


@dataclass
class UpsertState:
    """What the test-user sandbox holds: sanitised oauth_id -> user id, kudos."""

    users: dict[str, tuple[int, int | None]] = field(default_factory=dict)


UPSERTS = UpsertState()


def upsert_verdict(content_type: str | None, raw: bytes | None) -> tuple[str | None, dict[str, Any]]:
    """§9 step 4 and its error order: (error message or None, the effective payload)."""
    payload: Any = {}
    if raw is not None and is_json_type(content_type):
        ok, value = parse_json(raw)
        payload = value if ok and value else {}
    if not isinstance(payload, dict):
        return "JSON object payload expected", {}
    for name, kind in (("username", str), ("oauth_id", str), ("moderator", bool), ("trusted", bool)):
        if name in payload and not isinstance(payload[name], kind):
            return f"{name} must be a {'string' if kind is str else 'boolean'}", payload
    kudos = payload.get("kudos")
    if "kudos" in payload and kudos is not None:
        if isinstance(kudos, bool) or not isinstance(kudos, int):
            return "kudos must be an integer or null", payload
        if kudos < 0:
            return "kudos must be non-negative", payload
    if not sanitise(payload.get("username", "test_user")):
        return "username cannot be empty", payload
    if not sanitise(payload.get("oauth_id", "ci_test_user")):
        return "oauth_id cannot be empty", payload
    return None, payload


@FUZZ
@given(
    kind=st.sampled_from(["object"] * 6 + ["value", "raw", "none"]),
    obj=upsert_object,
    value=json_value,
    raw=st.binary(max_size=40),
    content_type=st.sampled_from(JSON_TYPES * 3 + OTHER_TYPES),
)
def test_test_user_any_payload(
    upsert_target: Target,
    kind: str,
    obj: dict[str, Any],
    value: Any,
    raw: bytes,
    content_type: str | None,
) -> None:
    """POST /dev/test-user (§9): error order, defaults, upsert by oauth_id, the reply's keys and values."""
    fuzz = upsert_target
    body_bytes = {
        "object": json.dumps(obj).encode(),
        "value": json.dumps(value).encode(),
        "raw": raw,
        "none": None,
    }[kind]
    headers: dict[str, str] = {}
    if content_type is not None and body_bytes is not None:
        headers["Content-Type"] = content_type
    response = fuzz.client.post("/api/v2/dev/test-user", headers=headers, content=body_bytes)
    body = check_reply(fuzz, response)
    error, payload = upsert_verdict(headers.get("Content-Type"), body_bytes)
    if error is not None:
        assert_error(response, body, 400, {"message": error}, f"payload {body_bytes!r:.200}")
        return
    if response.status_code == 400 and body == {"message": "Bad Username"}:
        return  # the profanity list is the sandbox's own (§6.4)
    oauth_id = sanitise(payload.get("oauth_id", "ci_test_user"))
    name = sanitise(payload.get("username", "test_user"))
    known = UPSERTS.users.get(oauth_id)
    expected_status = 200 if known else 201
    assert response.status_code == expected_status, f"oauth_id {oauth_id!r}: {response.status_code} {body!r}"
    assert list(body) == TEST_USER_KEYS, f"keys {list(body)}"
    key = body["api_key"]
    assert isinstance(key, str)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", key), "api_key is not a 22-character URL-safe token"
    fuzz.secrets.add(key)  # once shown, a key must not show again (a later upsert issues a new one)
    assert isinstance(body["user_id"], str)
    assert body["user_id"].isdigit()
    user_id = int(body["user_id"])
    if known:
        assert user_id == known[0], "an upsert changed the user id"
    stored_name = name if known else name[:30]
    assert body["username"] == stored_name, f"username {body['username']!r} != {stored_name!r}"
    assert body["alias"] == f"{stored_name}#{user_id}"
    assert body["created"] is (not known)
    moderator = payload.get("moderator", True)
    assert body["moderator"] is moderator
    assert body["trusted"] is (True if moderator else payload.get("trusted", True))
    assert type(body["kudos"]) is int, f"kudos {body['kudos']!r} is not a JSON integer"
    kudos = payload.get("kudos", 10000)
    expected_kudos = kudos if kudos is not None else (known[1] if known else None)
    if expected_kudos is not None and expected_kudos < 2**53:
        assert body["kudos"] == expected_kudos
    UPSERTS.users[oauth_id] = (user_id, body["kudos"])


# ------------------------------------------------------------------------------------- explicit cases


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/json", b"{not json"),
        ("application/json", b""),
        ("application/json", b"{"),
        ("application/json", b'{"concurrency": 30,}'),
        ("application/json", b"\xff\xfe\x00"),
        ("application/json", b'{"username": "a\x00b"}'),  # a raw NUL inside a JSON string is not JSON
        ("application/json", b'{"kudos": NaN}'),
        ("application/json", b'{"kudos": Infinity}'),
        ("application/json", b'{"kudos": -Infinity}'),
        ("application/json", b'{"usage_multiplier": NaN}'),
        ("text/plain", b"concurrency=30"),
        ("text/plain", b'{"concurrency": 30}'),
        (None, b'{"concurrency": 30}'),
        ("application/x-www-form-urlencoded", b"concurrency=30"),
    ],
)
def test_put_unreadable_body(target: Target, content_type: str | None, raw: bytes) -> None:
    """§3.1 shape (e): not declared as JSON, not JSON, or NaN/Infinity -> 400 with the fixed message."""
    headers = {"apikey": target.keys["moderator"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = target.client.put("/api/v2/users/3", headers=headers, content=raw)
    body = check_reply(target, response)
    assert_error(response, body, 400, {"message": UNREADABLE}, "shape (e)")


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (b"[1,2]", {"": "[1, 2] is not of type 'object'"}),
        (b"null", {"": "None is not of type 'object'"}),
        (b'"x"', {"": "'x' is not of type 'object'"}),
        (b'{"concurrency": true}', {"concurrency": "True is not of type 'integer'"}),
        (b'{"concurrency": "40"}', {"concurrency": "'40' is not of type 'integer'"}),
        (b'{"concurrency": 5.5}', {"concurrency": "5.5 is not of type 'integer'"}),
        (b'{"concurrency": null}', {"concurrency": "None is not of type 'integer'"}),
        (b'{"concurrency": -1}', {"concurrency": "-1 is less than the minimum of 0"}),
        (b'{"concurrency": 2147483648}', {"concurrency": "2147483648 is greater than the maximum of 500"}),
        (
            b'{"worker_invited": 2147483648}',
            {"worker_invited": "2147483648 is greater than the maximum of 2147483647"},
        ),
        (
            b'{"monthly_kudos": -2147483649}',
            {"monthly_kudos": "-2147483649 is less than the minimum of -2147483648"},
        ),
        (b'{"worker_invited": 1e20}', {"worker_invited": "1e+20 is greater than the maximum of 2147483647"}),
        (
            b'{"kudos": 10000000000000001}',
            {"kudos": "10000000000000001 is greater than the maximum of 1000000000000000"},
        ),
        (b'{"kudos": -1e16}', {"kudos": "-1e+16 is less than the minimum of -1000000000000000"}),
        (b'{"kudos": 1e400}', {"kudos": "inf is greater than the maximum of 1000000000000000"}),
        (b'{"kudos": true}', {"kudos": "True is not of type 'number'"}),
        (b'{"usage_multiplier": 11}', {"usage_multiplier": "11 is greater than the maximum of 10"}),
        (b'{"usage_multiplier": 0.05}', {"usage_multiplier": "0.05 is less than the minimum of 0.1"}),
        (b'{"trusted": "yes"}', {"trusted": "'yes' is not of type 'boolean'"}),
        (b'{"undelete": null}', {"undelete": "None is not of type 'boolean'"}),
        (b'{"username": "ab"}', {"username": "'ab' is too short"}),
        (b'{"username": "   "}', {"username": "'   ' is too short"}),
        (b'{"username": "\\u0000\\u0000\\u0000"}', {"username": "'\\x00\\x00\\x00' is too short"}),
        (b'{"contact": "abcd"}', {"contact": "'abcd' is too short"}),
        (b'{"admin_comment": 5}', {"admin_comment": "5 is not of type 'string'"}),
    ],
)
def test_put_validation_messages(target: Target, payload: bytes, errors: dict[str, str]) -> None:
    """§3.2 and §10: shape (b) with the exact message, checked before the user lookup."""
    for path in ("/api/v2/users/3", "/api/v2/users/999999"):
        response = target.client.put(
            path,
            headers={"apikey": target.keys["admin"], "Content-Type": "application/json"},
            content=payload,
        )
        body = check_reply(target, response)
        assert_error(response, body, 400, validation(errors), f"validation of {payload!r}")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"kudos": 1' + b"0" * 5000 + b"}",  # more digits than Python's int() takes by default
        b"[" * 30000 + b"]" * 30000,  # nested deeper than the parser recurses
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
        b'{"username": "' + "𝟑".encode() * 5000 + b'"}',
    ],
    ids=["5000-digit-int", "deep-array", "deep-object", "long-astral-username"],
)
def test_put_pathological_json(target: Target, payload: bytes) -> None:
    """Huge numbers and deep nesting inside the 64 KiB cap: a 400 (shape b or e), never a 5xx."""
    headers = {"apikey": target.keys["admin"], "Content-Type": "application/json"}
    response = target.client.put("/api/v2/users/3", headers=headers, content=payload)
    body = check_reply(target, response)
    assert response.status_code == 400, f"{response.status_code} {body!r:.300}"
    assert error_shape(400, body, "PUT") in ("b", "e")


@pytest.mark.parametrize("sign", [1, -1], ids=["positive", "negative"])
@pytest.mark.parametrize("member", list(NUMBER_LIMITS))
def test_put_integers_beyond_float_range(target: Target, member: str, sign: int) -> None:
    """§3.2/§10: a 401-digit integer is out of range like any other (shape b, exact message), never a 5xx."""
    value = sign * 10**400
    _, _, _, low_text, high_text = NUMBER_LIMITS[member]
    message = (
        f"{value} is greater than the maximum of {high_text}"
        if sign > 0
        else (f"{value} is less than the minimum of {low_text}")
    )
    response = target.client.put(
        "/api/v2/users/3",
        headers={"apikey": target.keys["admin"], "Content-Type": "application/json"},
        content=b'{"%s": %d}' % (member.encode(), value),
    )
    assert_error(
        response, check_reply(target, response), 400, validation({member: message}), f"{member}: 10**400"
    )


def test_put_accepts_json_variants_and_integral_floats(target: Target) -> None:
    """+json media types and charset parameters are JSON; 5.0 is an integer, stored and echoed as 5."""
    for content_type in ("application/merge-patch+json", "APPLICATION/JSON; charset=UTF-8"):
        response = target.client.put(
            "/api/v2/users/4",
            headers={"apikey": target.keys["moderator"], "Content-Type": content_type},
            content=b'{"concurrency": 5.0}',
        )
        body = check_reply(target, response)
        assert response.status_code == 200, f"{content_type}: {response.status_code} {body!r}"
        assert body == {"concurrency": 5}
        assert type(body["concurrency"]) is int


def test_nul_bytes(target: Target) -> None:
    """NUL in the path, the query and a JSON string: 4xx with exact bodies; a NUL in a name is dropped."""
    response = target.client.get("/api/v2/users/%00")
    assert_error(
        response, check_reply(target, response), 404, {"message": NOT_NUMERIC, "rc": "UserNotFound"}, "GET"
    )
    response = target.client.delete("/api/v2/users/3%00", headers={"apikey": target.keys["bob"]})
    assert_error(
        response, check_reply(target, response), 404, {"message": NOT_NUMERIC, "rc": "UserNotFound"}, "DELETE"
    )
    response = target.client.put(
        "/api/v2/users/%00", headers={"apikey": target.keys["admin"]}, json={"trusted": True}
    )
    assert_error(response, check_reply(target, response), 404, not_found("\x00"), "PUT int() lookup")
    response = target.client.get("/api/v2/users", params={"page": "\x00"})
    message = f"{PAGE_HELP}invalid literal for int() with base 10: '\\x00'"
    assert_error(response, check_reply(target, response), 400, validation({"page": message}), "page")
    response = target.client.put(
        "/api/v2/users/4", headers={"apikey": target.keys["bob"]}, json={"contact": "bob\x00@example.org"}
    )
    body = check_reply(target, response)
    assert response.status_code == 200, body
    assert body == {"contact": "bob@example.org"}


@pytest.mark.parametrize(
    "text", ["2147483648", "4294967296", "99999999999999999999999999999999", "0002147483648"]
)
def test_ids_beyond_int32(target: Target, text: str) -> None:
    """Ids outside 0..2^31-1 are 404 UserNotFound echoing the path text on GET, PUT and DELETE."""
    path = f"/api/v2/users/{text}"
    for method, kwargs in (
        ("GET", {}),
        ("GET", {"headers": {"apikey": target.keys["moderator"]}}),
        ("PUT", {"headers": {"apikey": target.keys["admin"]}, "json": {"kudos": 1}}),
        ("PUT", {"json": {"kudos": 1}}),
        ("DELETE", {"headers": {"apikey": target.keys["moderator"]}}),
        ("DELETE", {}),
    ):
        response = target.client.request(method, path, **kwargs)
        assert_error(response, check_reply(target, response), 404, not_found(text), f"{method} id {text}")


def test_negative_and_signed_ids(target: Target) -> None:
    """GET/DELETE accept ASCII digits only; PUT reads the path with int() (§4.2-§4.4)."""
    for method in ("GET", "DELETE"):
        for text in ("-1", "+3", "%203", "%D9%A3"):
            response = target.client.request(
                method, f"/api/v2/users/{text}", headers={"apikey": target.keys["moderator"]}
            )
            assert_error(
                response,
                check_reply(target, response),
                404,
                {"message": NOT_NUMERIC, "rc": "UserNotFound"},
                method,
            )
    response = target.client.put(
        "/api/v2/users/-1", headers={"apikey": target.keys["admin"]}, json={"kudos": 0}
    )
    assert_error(response, check_reply(target, response), 404, not_found("-1"), "PUT -1")
    for text in ("+4", "%204", "004", "%D9%A4"):  # " 4" and Arabic-Indic 4 convert with int()
        response = target.client.put(
            f"/api/v2/users/{text}", headers={"apikey": target.keys["moderator"]}, json={"worker_invited": 2}
        )
        body = check_reply(target, response)
        assert response.status_code == 200, f"PUT /users/{text}: {response.status_code} {body!r}"
        assert body == {"worker_invited": 2}


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"contact": "'
    remaining = size - len(b'{"contact": "') - 2
    while remaining > 0:
        piece = min(remaining, 8192)
        yield b" " * piece
        remaining -= piece
    yield b'"}'


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_64_kib_is_413(target: Target, upsert_target: Target, chunked: bool) -> None:
    """§3.1 shape (g): any body over 65536 bytes -> 413 {"message": "Payload Too Large"}; 65536 is fine."""
    too_big: Any = _chunks(65537) if chunked else b" " * 65537
    cases = [
        (
            target,
            "PUT",
            "/api/v2/users/3",
            {"apikey": target.keys["alice"], "Content-Type": "application/json"},
        ),
        (target, "GET", "/api/v2/users", {}),
        (target, "DELETE", "/api/v2/users/3", {"apikey": target.keys["alice"]}),
        (upsert_target, "POST", "/api/v2/dev/test-user", {"Content-Type": "application/json"}),
    ]
    for fuzz, method, path, headers in cases:
        content = _chunks(65537) if chunked else too_big
        response = fuzz.client.request(method, path, headers=headers, content=content)
        assert_error(
            response, check_reply(fuzz, response), 413, {"message": "Payload Too Large"}, f"{method} {path}"
        )
    exact = b'{"contact": "' + b"x" * 200 + b'"}'
    exact = exact + b" " * (65536 - len(exact))
    response = target.client.put(
        "/api/v2/users/4",
        headers={"apikey": target.keys["bob"], "Content-Type": "application/json"},
        content=exact,
    )
    body = check_reply(target, response)
    assert response.status_code == 200, f"a 65536-byte body: {response.status_code} {body!r:.200}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2"),
        ("GET", "/api/v2/no_such_route"),
        ("GET", "/api/v3/users"),
        ("GET", "/api/v2/users/"),
        ("GET", "/api/v2/users/3/extra"),
        ("PUT", "/api/v2/users/3/"),
        ("GET", "/api/v2/find_user/3"),
        ("GET", "/api/v2/dev"),
        ("POST", "/api/v2/dev/test-user/x"),
        ("DELETE", "/api/v2/nothing"),
        ("GET", "/API/V2/USERS"),
        ("OPTIONS", "/api/v2/no_such_route"),
        ("OPTIONS", "/api/v2/users/3/extra"),
    ],
)
def test_unknown_route(target: Target, method: str, path: str) -> None:
    """§3.1 shape (h): a path that matches no route -> 404 {"message": "Not Found"}."""
    response = target.client.request(method, path)
    assert_error(response, check_reply(target, response), 404, {"message": "Not Found"}, "unknown route")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v2/users"),
        ("PUT", "/api/v2/users"),
        ("DELETE", "/api/v2/users"),
        ("PATCH", "/api/v2/users"),
        ("POST", "/api/v2/users/3"),
        ("PATCH", "/api/v2/users/3"),
        ("POST", "/api/v2/find_user"),
        ("PUT", "/api/v2/find_user"),
        ("DELETE", "/api/v2/find_user"),
        ("GET", "/api/v2/dev/test-user"),
        ("PUT", "/api/v2/dev/test-user"),
        ("POST", "/api/v2/status/heartbeat"),
        ("TRACE", "/api/v2/users"),
        ("PROPFIND", "/api/v2/users/1"),
        ("FOO", "/api/v2/find_user"),
    ],
)
def test_wrong_method(target: Target, upsert_target: Target, method: str, path: str) -> None:
    """§3.1 shape (f): 405 with the fixed message and no rc (the test-user route on a sandbox serving it)."""
    fuzz = upsert_target if path.endswith("test-user") else target
    response = fuzz.client.request(method, path, headers={"apikey": target.keys["admin"]})
    assert_error(response, check_reply(fuzz, response), 405, {"message": WRONG_METHOD}, "wrong method")


def test_missing_and_empty_keys(target: Target) -> None:
    """Empty apikey: absent for DELETE (400, §10) and find_user (401), present for PUT (401, §4.3)."""
    for headers in ({}, {"apikey": ""}):
        response = target.client.delete("/api/v2/users/3", headers=headers)
        body = check_reply(target, response)
        assert_error(response, body, 400, validation({"apikey": DELETE_NO_KEY}), f"DELETE {headers}")
        response = target.client.get("/api/v2/find_user", headers=headers)
        assert_error(response, check_reply(target, response), 401, invalid_key(), f"find_user {headers}")
    response = target.client.put("/api/v2/users/3", headers={"apikey": ""}, json={"concurrency": 30})
    assert_error(response, check_reply(target, response), 401, invalid_key(), "PUT with an empty key")
    response = target.client.put("/api/v2/users/3", json={"concurrency": 30})
    assert_error(
        response, check_reply(target, response), 400, validation({"apikey": PUT_NO_KEY}), "PUT, no key"
    )


def test_test_user_endpoint_disabled(target: Target) -> None:
    """§9 step 2: disabled -> 404 {"message": "Not Found"}, whatever the body."""
    for content in (None, b"{}", b'{"username": "x"}', b"[1]"):
        response = target.client.post(
            "/api/v2/dev/test-user", headers={"Content-Type": "application/json"}, content=content
        )
        assert_error(response, check_reply(target, response), 404, {"message": "Not Found"}, "disabled")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1]", "JSON object payload expected"),
        (b"1", "JSON object payload expected"),
        (b'"x"', "JSON object payload expected"),
        (b'{"username": null}', "username must be a string"),
        (b'{"username": 1, "oauth_id": 1}', "username must be a string"),
        (b'{"oauth_id": []}', "oauth_id must be a string"),
        (b'{"moderator": "true"}', "moderator must be a boolean"),
        (b'{"trusted": null, "kudos": -1}', "trusted must be a boolean"),
        (b'{"kudos": 100.0}', "kudos must be an integer or null"),
        (b'{"kudos": true}', "kudos must be an integer or null"),
        (b'{"kudos": -1}', "kudos must be non-negative"),
        (b'{"username": "   "}', "username cannot be empty"),
        (b'{"username": "\\u0000"}', "username cannot be empty"),
        (b'{"oauth_id": " "}', "oauth_id cannot be empty"),
    ],
)
def test_test_user_errors(test_user_target: Target, payload: bytes, message: str) -> None:
    """§9: the 400 messages, in their order."""
    response = test_user_target.client.post(
        "/api/v2/dev/test-user", headers={"Content-Type": "application/json"}, content=payload
    )
    assert_error(response, check_reply(test_user_target, response), 400, {"message": message}, "test-user")


def test_test_user_ignores_x_forwarded_for(test_user_target: Target) -> None:
    """§9 step 3: the socket peer decides (loopback here); X-Forwarded-For is not trusted, either way."""
    for forwarded in ("203.0.113.9", "127.0.0.1", "10.0.0.1, 203.0.113.9"):
        response = test_user_target.client.post(
            "/api/v2/dev/test-user",
            headers={"X-Forwarded-For": forwarded},
            json={"username": "xff_user", "oauth_id": "xff_oauth", "kudos": 7},
        )
        body = check_reply(test_user_target, response)
        assert response.status_code in (200, 201), (
            f"X-Forwarded-For {forwarded}: {response.status_code} {body!r}"
        )
        test_user_target.secrets.add(body["api_key"])


@pytest.mark.parametrize(
    "path", ["/api/v2/users", "/api/v2/users/1", "/api/v2/find_user", "/api/v2/status/heartbeat"]
)
def test_head_is_served_where_allow_lists_it(target: Target, path: str) -> None:
    """§1.5: the GET routes list HEAD in ``Allow``, so HEAD answers like GET (same status), without a body."""
    headers = {"apikey": target.keys["alice"]}
    get = target.client.get(path, headers=headers)
    head = target.client.head(path, headers=headers)
    assert get.status_code == 200, f"GET {path}: {get.status_code}"
    assert head.status_code == get.status_code, f"HEAD {path}: {head.status_code} (GET: {get.status_code})"
    assert head.content == b"", f"HEAD {path} sent a body"


def test_test_user_kudos_has_no_upper_limit(test_user_target: Target) -> None:
    """§9: ``kudos`` is any integer >= 0 (or null); its only errors are the listed ones (no maximum)."""
    response = test_user_target.client.post(
        "/api/v2/dev/test-user", json={"username": "rich", "oauth_id": "rich_oauth", "kudos": 10**16}
    )
    body = check_reply(test_user_target, response)
    assert response.status_code in (200, 201), f"kudos 10**16: {response.status_code} {body!r}"
    assert body["kudos"] == 10**16
    test_user_target.secrets.add(body["api_key"])


@pytest.mark.parametrize("raw", ["%FF", "%C0%80", "%E2%82", "%ZZ", "%", "1%FF", "%2e%2e", "%ED%A0%80"])
def test_invalid_percent_encodings(target: Target, raw: str) -> None:
    """Percent-escapes that are not UTF-8 (or not escapes) in the path and the query: 4xx, never a 5xx."""
    numeric = {"message": NOT_NUMERIC, "rc": "UserNotFound"}
    for method in ("GET", "DELETE"):
        response = target.client.request(
            method, f"/api/v2/users/{raw}", headers={"apikey": target.keys["bob"]}
        )
        assert_error(response, check_reply(target, response), 404, numeric, f"{method} /users/{raw}")
    response = target.client.put(
        f"/api/v2/users/{raw}", headers={"apikey": target.keys["admin"]}, json={"trusted": True}
    )
    assert_error(response, check_reply(target, response), 404, "UserNotFound", f"PUT /users/{raw}")
    response = target.client.get(f"/api/v2/users?page={raw}")
    body = check_reply(target, response)
    assert response.status_code == 400, f"page={raw}: {response.status_code} {body!r}"
    assert list(body["errors"]) == ["page"], body
