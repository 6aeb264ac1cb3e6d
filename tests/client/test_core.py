"""The I/O-free core: request building, error mapping of the real example exchanges, retry rules."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from horde_users import _core
from horde_users.errors import HordeAPIError, InvalidResponseError, error_class_for_status, excerpt, redact
from horde_users.models import (
    RC,
    BaseAIHordeRequest,
    DeleteUserRequest,
    FindUserRequest,
    ListUsersDetailsRequest,
    ModifyUser,
    ModifyUserRequest,
    SingleUserDetailsRequest,
    UserDetailsResponse,
)

KEY = "Z" * 22
BASE = "http://127.0.0.1:7001/api"


def call_for(model: Any) -> _core.Call:
    return _core.prepare(model, base_url=BASE, api_key=KEY, client_agent="t:1:t")


_URL_BASES = [
    "http://127.0.0.1:7001/api/v2/users/",
    "HTTP://Example.ORG:80/API/v2/users/",
    "https://bücher.example/a b/%7e/v2/",
    "http://h/x/../api/./v2/",
    "http://[::1]:8080/api/v2/find_user",
    "http://h/api?x=1/",
    "http://h/api/v2/users",
]


@given(
    base=st.sampled_from(_URL_BASES),
    tail=st.text(alphabet=st.sampled_from("aZ09_~=&?-.%/#é :"), max_size=12),
)
def test_url_text_writes_each_url_as_httpx_does(base: str, tail: str) -> None:
    url = base + tail
    try:
        expected = str(httpx.URL(url))
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            _core.url_text(url)
        return
    assert _core.url_text(url) == expected


_SHAPES: dict[str, Callable[[Any], BaseAIHordeRequest]] = {
    "get_user": lambda i: SingleUserDetailsRequest(user_id=i),
    "get_user, own headers": lambda i: SingleUserDetailsRequest(
        user_id=i, accept="application/json; q=0.9", client_agent="mine:2:x"
    ),
    "get_user, own key": lambda i: SingleUserDetailsRequest(user_id=i, apikey="Y" * 22),
    "delete": lambda i: DeleteUserRequest(user_id=i, apikey=KEY),
    "find_user": lambda i: FindUserRequest(apikey=KEY),
    "list": lambda i: ListUsersDetailsRequest(page=int(i) % 3 + 1, sort="age" if int(i) % 2 else "kudos"),
    "modify": lambda i: ModifyUserRequest(user_id=i, apikey=KEY, kudos=int(i) % 5 + 1),
}


def _parts(call: _core.Call) -> tuple[Any, ...]:
    request = call.request
    return (call, request.method, str(request.url), list(request.headers.raw), request.content)


@given(
    base=st.sampled_from(
        ["http://127.0.0.1:7001/api", "HTTP://Example.ORG:80/API", "https://bü.example/a b/api"]
    ),
    key=st.sampled_from([KEY, "0000000000", "0123456789abcdef0123456789abcdef"]),
    shapes=st.lists(st.sampled_from(sorted(_SHAPES)), min_size=1, max_size=6),
    user_ids=st.lists(
        st.integers(0, 2**31 - 1) | st.from_regex(r"0{0,2}[0-9]{1,9}", fullmatch=True), min_size=6
    ),
)
def test_a_preparer_builds_each_call_as_prepare_does(
    base: str, key: str, shapes: list[str], user_ids: list[int | str]
) -> None:
    """Calls of a shape seen before take its parts: the result is the call prepare() builds, every time."""
    settings: dict[str, Any] = {"base_url": base, "api_key": key, "client_agent": "t:1:t", "timeout": 5.0}
    preparer = _core.Preparer(**settings)
    for shape, user_id in zip(shapes * 2, user_ids, strict=False):
        model = _SHAPES[shape](user_id)
        assert _parts(preparer(model)) == _parts(_core.prepare(model, **settings))


def test_a_request_that_builds_itself_its_own_way_is_built_afresh_each_time() -> None:
    class Tagged(SingleUserDetailsRequest):
        def build_http_request(self, base_url: str | None = None) -> Any:
            http = super().build_http_request(base_url)
            http.headers["X-Asked-For"] = self.user_id
            return http

    preparer = _core.Preparer(base_url=BASE, api_key=KEY, client_agent="t:1:t", timeout=5.0)
    for user_id in (1, 2):
        assert dict(preparer(Tagged(user_id=user_id)).headers)["X-Asked-For"] == str(user_id)


def test_a_preparer_keeps_the_latest_shapes_only() -> None:
    preparer = _core.Preparer(base_url=BASE, api_key=KEY, client_agent="t:1:t", timeout=5.0)
    for page in range(1, _core.Preparer.MAX_SHAPES + 10):
        preparer(ListUsersDetailsRequest(page=page))
    preparer(SingleUserDetailsRequest(user_id=1))
    assert preparer(SingleUserDetailsRequest(user_id=2)).target == f"{BASE}/v2/users/2"
    assert len(preparer._templates) == _core.Preparer.MAX_SHAPES


def test_a_call_url_is_the_one_httpx_parses() -> None:
    call = call_for(ListUsersDetailsRequest(page=3, sort="age"))
    assert call.target == f"{BASE}/v2/users?page=3&sort=age"
    assert call.full_url == httpx.URL(call.target)
    assert str(call.request.url) == call.target


def test_build_request_fills_in_the_clients_key_and_agent_only_when_the_model_has_none() -> None:
    request = _core.build_request(
        SingleUserDetailsRequest(user_id=3), base_url=BASE, api_key=KEY, client_agent="a:1:b"
    )
    assert str(request.url) == BASE + "/v2/users/3"
    assert request.headers["apikey"] == KEY
    assert request.headers["client-agent"] == "a:1:b"
    explicit = SingleUserDetailsRequest(user_id=3, apikey=None, **{"Client-Agent": "mine:2:me"})
    request = _core.build_request(explicit, base_url=BASE, api_key=KEY, client_agent="a:1:b")
    assert "apikey" not in request.headers
    assert request.headers["client-agent"] == "mine:2:me"
    listing = _core.build_request(ListUsersDetailsRequest(page=2, sort="age"), base_url=BASE, api_key=KEY)
    assert listing.url.params == httpx.QueryParams({"page": "2", "sort": "age"})
    assert "apikey" not in listing.headers


def test_timeout_travels_with_the_request() -> None:
    request = _core.build_request(FindUserRequest(apikey=KEY), base_url=BASE, timeout=2.5)
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


@pytest.mark.parametrize("field", sorted(_core.SAFE_PUT_FIELDS))
def test_puts_of_absolute_fields_are_repeatable(field: str) -> None:
    value: Any = {
        "concurrency": 5,
        "usage_multiplier": 1.5,
        "worker_invited": 2,
        "username": "someone",
        "contact": "me@example.org",
        "admin_comment": "a note here",
    }.get(field, True)
    assert call_for(ModifyUserRequest(user_id=3, apikey=KEY, **{field: value})).repeatable


@pytest.mark.parametrize(
    "changes",
    [
        {"kudos": 1.0},
        {"monthly_kudos": 1},
        {"generate_proxy_passkey": True},
        {"undelete": True},
        {"kudos": 0.0, "trusted": True},
    ],
)
def test_puts_of_deltas_and_one_shot_fields_are_not(changes: dict[str, Any]) -> None:
    call = call_for(ModifyUserRequest(user_id=3, apikey=KEY, **changes))
    assert not call.repeatable
    assert call.changes_data


def test_reads_are_repeatable_and_deletes_never() -> None:
    assert call_for(FindUserRequest(apikey=KEY)).repeatable
    assert call_for(ListUsersDetailsRequest()).repeatable
    assert not call_for(DeleteUserRequest(user_id=3, apikey=KEY)).repeatable
    assert sorted(ModifyUser.model_fields) == sorted(
        _core.SAFE_PUT_FIELDS | {"kudos", "monthly_kudos", "generate_proxy_passkey", "undelete"}
    )


def examples_with_errors() -> list[dict[str, Any]]:
    from tests.conftest import load_examples

    return [e for e in load_examples() if e["response"]["status"] >= 400]


@pytest.mark.parametrize("case", examples_with_errors(), ids=lambda e: e["case"])
def test_every_real_error_body_maps_to_its_class(case: dict[str, Any]) -> None:
    sent = case["request"]
    response = case["response"]
    method = sent["method"]
    model: Any = {
        "GET": FindUserRequest(apikey=KEY)
        if sent["path"].endswith("find_user")
        else ListUsersDetailsRequest(),
        "PUT": ModifyUserRequest(user_id=3, apikey=KEY, trusted=True),
        "DELETE": DeleteUserRequest(user_id=3, apikey=KEY),
    }[method]
    call = _core.prepare(model, base_url=BASE, api_key=KEY, extra_secrets=[sent["headers"].get("apikey")])
    http_response = httpx.Response(response["status"], headers=response["headers"], json=response["json"])
    error = _core.error_from_response(call, http_response)
    assert type(error) is error_class_for_status(response["status"])
    body = response["json"]
    if "rc" in body:
        assert error.rc is RC(body["rc"])
    else:
        assert error.rc is None
    assert error.errors == body.get("errors")
    assert error.horde_node == "vm:7001:5.1.5"
    assert error.retry_after == (
        60 if response["status"] == 429 else None
    )  # Retry-After read on 429/503 only
    with pytest.raises(HordeAPIError):
        _core.parse_response(call, http_response)
    if sent["headers"].get("apikey"):
        assert sent["headers"]["apikey"] not in str(error)


def test_parse_retry_after_forms() -> None:
    assert _core.parse_retry_after("7") == 7.0
    assert _core.parse_retry_after(" 0 ") == 0.0
    assert _core.parse_retry_after("-3") == 0.0
    assert _core.parse_retry_after("Fri, 27 Nov 2026 01:18:41 GMT", now=1795742321 - 60) == 60.0
    assert _core.parse_retry_after("soon") is None
    assert _core.parse_retry_after(None) is None


def test_backoff_doubles_with_jitter_up_to_8_seconds() -> None:
    rng = random.Random(4)
    for retry, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        for _ in range(20):
            assert 0.75 * ceiling <= _core.backoff_delay(retry, rng) <= ceiling


def test_decide_respects_max_retries_and_long_retry_after() -> None:
    call = call_for(DeleteUserRequest(user_id=3, apikey=KEY))
    limited = httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "60 per 1 minute"})
    decision = _core.decide(call, retries_done=0, max_retries=2, response=limited)
    assert decision.delay is not None and 3.0 <= decision.delay < 4.0
    assert not _core.decide(call, retries_done=2, max_retries=2, response=limited).retry
    too_long = httpx.Response(429, headers={"Retry-After": "61"}, json={})
    assert not _core.decide(call, retries_done=0, max_retries=2, response=too_long).retry
    assert not _core.decide(call, retries_done=0, max_retries=2, response=httpx.Response(503)).retry
    refused = httpx.ConnectError("refused")
    assert _core.decide(call, retries_done=0, max_retries=2, exc=refused).retry
    assert not _core.decide(call, retries_done=0, max_retries=2, exc=httpx.ReadTimeout("slow")).retry
    assert not _core.decide(call, retries_done=0, max_retries=2, response=httpx.Response(500)).retry


def test_redact_and_excerpt() -> None:
    assert redact("key abcabc and abc", ["abc", "abcabc", None, ""]) == "key <redacted> and <redacted>"
    page = "<html><body>\n<h1>502   Bad Gateway</h1>" + "x" * 500 + "</body></html>"
    short = excerpt(page)
    assert short.startswith("502 Bad Gateway x")
    assert len(short) == 200


def test_200_that_is_not_json_or_not_the_model() -> None:
    call = call_for(FindUserRequest(apikey=KEY))
    for response in (
        httpx.Response(200, text=""),
        httpx.Response(200, text="{oops"),
        httpx.Response(200, json=[1]),
    ):
        with pytest.raises(HordeAPIError) as caught:
            _core.parse_response(call, response)
        assert caught.value.status_code == 200


def test_a_cause_that_shows_a_key_is_dropped_and_a_clean_one_kept() -> None:
    call = call_for(FindUserRequest(apikey=KEY))
    leaking = httpx.LocalProtocolError(f"Illegal header value b'{KEY}'")
    assert _core.safe_cause(call, leaking) is None
    clean = httpx.ConnectError("[Errno 111] Connection refused")
    assert _core.safe_cause(call, clean) is clean


def test_retry_reasons_are_plain_words() -> None:
    read = call_for(FindUserRequest(apikey=KEY))
    rng = random.Random(1)

    def reason(**outcome: Any) -> str:
        return _core.decide(read, retries_done=0, max_retries=2, rng=rng, **outcome).reason

    assert reason(exc=httpx.ReadTimeout("slow")) == "timed out"
    assert reason(exc=httpx.ConnectTimeout("slow")) == "timed out"
    assert reason(exc=httpx.ConnectError("refused")) == "could not connect"
    assert reason(exc=httpx.RemoteProtocolError("gone")) == "connection dropped"
    assert reason(response=httpx.Response(429)) == "rate limited"
    assert reason(response=httpx.Response(429, headers={"Retry-After": "2"})) == "rate limited (Retry-After)"
    assert reason(response=httpx.Response(502)) == "502 Bad Gateway"
    assert reason(response=httpx.Response(503, headers={"Retry-After": "1"})) == (
        "503 Service Unavailable (Retry-After)"
    )


def test_body_reader_stops_at_the_deadline_and_the_size_cap() -> None:
    call = _core.prepare(FindUserRequest(apikey=KEY), base_url=BASE, timeout=2.0)
    now = [100.0]
    response = httpx.Response(200, headers={"Content-Length": "6"})
    reader = _core.BodyReader(call, response, started=100.0, limit=8, clock=lambda: now[0])
    reader.add(b"1234")
    now[0] = 102.5
    with pytest.raises(httpx.ReadTimeout, match="within 2 s"):
        reader.add(b"5")
    reader = _core.BodyReader(call, httpx.Response(200), started=100.0, limit=8, clock=lambda: 100.0)
    reader.add(b"12345678")
    assert reader.body == b"12345678"
    with pytest.raises(InvalidResponseError):
        reader.add(b"9")
    with pytest.raises(InvalidResponseError, match="9 bytes"):
        _core.BodyReader(call, httpx.Response(200, headers={"Content-Length": "9"}), started=0, limit=8)


def test_a_body_that_came_whole_passes_the_same_checks() -> None:
    call = _core.prepare(FindUserRequest(apikey=KEY), base_url=BASE, timeout=2.0)
    response = httpx.Response(200)
    assert (
        _core.whole_body(call, response, b"12345678", started=100.0, limit=8, clock=lambda: 102.0)
        == b"12345678"
    )
    with pytest.raises(InvalidResponseError, match="the answer is 9 bytes, more than the 8 bytes"):
        _core.whole_body(call, response, b"123456789", started=100.0, limit=8, clock=lambda: 100.0)
    with pytest.raises(httpx.ReadTimeout, match="within 2 s"):
        _core.whole_body(call, response, b"1234", started=100.0, limit=8, clock=lambda: 102.5)


def test_a_calls_repr_never_shows_its_keys() -> None:
    call = call_for(ModifyUserRequest(user_id=3, apikey=KEY, trusted=True))
    assert KEY in call.secrets
    assert KEY not in repr(call)


def _users(count: int) -> list[UserDetailsResponse]:
    return [UserDetailsResponse(id=n, username=f"u#{n}") for n in range(count)]


def _walk(pager: _core.Pager, pages: list[int]) -> tuple[list[int], int]:
    """The pages a pager asks for when each page holds ``pages[i]`` users, and how many it yields."""
    asked: list[int] = []
    taken = 0
    while pager.page is not None:
        asked.append(pager.page)
        taken += len(pager.take(_users(pages[len(asked) - 1])))
    return asked, taken


def test_pager_stops_at_a_short_or_empty_page() -> None:
    assert _walk(_core.Pager(1, None), [25, 25, 3]) == ([1, 2, 3], 53)
    assert _walk(_core.Pager(4, None), [25, 0]) == ([4, 5], 25)


def test_pager_stops_once_limit_users_are_taken() -> None:
    assert _walk(_core.Pager(1, 30), [25, 25, 25]) == ([1, 2], 30)
    assert _walk(_core.Pager(1, 25), [25, 25]) == ([1], 25)  # no page is asked for beyond the limit
    assert _walk(_core.Pager(1, 0), [25]) == ([], 0)


def test_pager_never_asks_past_the_last_page() -> None:
    assert _walk(_core.Pager(9999, None), [25, 25, 25]) == ([9999, 10000], 50)
    assert _walk(_core.Pager(10001, None), [25]) == ([], 0)


def test_the_request_is_built_from_the_calls_parts_once() -> None:
    """Transports that need no ``httpx.Request`` send ``target`` and ``headers``: the same as its own."""
    call = call_for(ListUsersDetailsRequest(page=2, sort="age"))
    request = call.request
    assert call.request is request  # every attempt sends the one request
    assert (call.method, call.target) == (request.method, str(request.url))
    assert call.target == BASE + "/v2/users?page=2&sort=age"
    sent = [(name.encode(), value.encode()) for name, value in call.headers]
    assert request.headers.raw == [(b"Host", b"127.0.0.1:7001"), *sent]
    assert request.content == b""


def test_what_httpx_refuses_is_refused_when_the_call_is_prepared() -> None:
    """A header httpx cannot encode fails at once, as it did when the request was built there."""
    with pytest.raises(UnicodeEncodeError):
        _core.prepare(SingleUserDetailsRequest(user_id=3, **{"Client-Agent": "naïve:1:x"}), base_url=BASE)
