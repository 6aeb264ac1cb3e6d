"""Retries that never lose or double anything, proven against a misbehaving server on loopback."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from horde_users._core import MAX_RESPONSE_BYTES
from horde_users.errors import (
    HordeConnectionError,
    HordeTimeoutError,
    InvalidResponseError,
    RateLimitError,
    ServerError,
)
from horde_users.models import DeleteUserResponse, ModifyUserResponse, UserDetailsResponse
from tests.client.conftest import MakeApi
from tests.client.faultserver import FaultServer, Flood, Hang, Raw, Reply, Reset, SlowHead, Trickle
from tests.conftest import EXAMPLES_DIR

pytestmark = pytest.mark.anyio

KEY = "k3y-Of-Twenty-Two-Chr0"
assert len(KEY) == 22


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
    return data


def replay(name: str) -> Reply:
    """The real server's response of an example exchange, status, headers and body."""
    response = example(name)["response"]
    headers = {k: v for k, v in response["headers"].items() if k.lower() not in ("content-length", "date")}
    return Reply(response["status"], json.dumps(response["json"]).encode(), headers)


USER_200 = replay("021_get_user_owner")
KUDOS_200 = replay("050_put_admin_kudos")
DELETE_200 = replay("108_delete_owner")
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)


async def test_get_is_retried_after_503_and_succeeds(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(503, {"message": "Service Unavailable"}), USER_200)
    api = make_api(api_key=KEY, base_url=fault_server.url)
    user = await api.get_user(3)
    assert isinstance(user, UserDetailsResponse)
    assert user.id_ == 3
    assert fault_server.count("GET") == 2
    assert len(api.sleeps) == 1
    assert 0.375 <= api.sleeps[0] <= 0.5  # first backoff: 0.5 s less up to 25 % jitter


async def test_429_with_retry_after_waits_then_succeeds_even_for_a_kudos_put(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    limited = Reply.json(
        429, {"message": "60 per 1 minute"}, {"Retry-After": "1", "X-RateLimit-Remaining": "0"}
    )
    fault_server.script(limited, KUDOS_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, real_sleep=True)
    reply = await api.modify_user(3, kudos=50)
    assert isinstance(reply, ModifyUserResponse)
    assert reply.new_kudos == 150.0
    assert fault_server.count("PUT") == 2
    assert len(api.sleeps) == 1
    assert 1.0 <= api.sleeps[0] < 2.0  # Retry-After, plus up to 1 s for its ±1 s precision


async def test_429_with_retry_after_over_60_raises_at_once(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    fault_server.script(Reply.json(429, {"message": "60 per 1 minute"}, {"Retry-After": "120"}))
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(RateLimitError) as caught:
        await api.get_user(3)
    assert caught.value.retry_after == 120
    assert caught.value.status_code == 429
    assert fault_server.count() == 1
    assert api.sleeps == []


async def test_real_429_is_retried_until_retries_run_out(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    real_429 = replay("140_get_user_rate_limited")  # Retry-After: 60 from the real server
    fault_server.script(real_429, real_429)
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    with pytest.raises(RateLimitError) as caught:
        await api.get_user(15)
    error = caught.value
    assert (error.retry_after, error.rc, error.horde_node) == (60, None, "vm:7001:5.1.5")
    assert error.message == "60 per 1 minute"
    assert fault_server.count() == 1


async def test_timeout_on_kudos_put_raises_after_exactly_one_request(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    fault_server.script(Hang(), KUDOS_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, timeout=0.5)
    with pytest.raises(HordeTimeoutError) as caught:
        await api.modify_user(3, kudos=50)
    error = caught.value
    assert error.outcome_unknown
    assert error.request_sent
    assert "read the user" in str(error).lower()
    assert fault_server.count("PUT") == 1
    assert api.sleeps == []


@pytest.mark.parametrize(
    "changes", [{"kudos": 5}, {"monthly_kudos": 5}, {"undelete": True}, {"trusted": True, "kudos": 1}]
)
async def test_ambiguous_failures_never_repeat_unsafe_puts(
    make_api: MakeApi, fault_server: FaultServer, changes: dict[str, Any]
) -> None:
    fault_server.script(Reply.json(503, {"message": "Service Unavailable"}), KUDOS_200)
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(ServerError) as caught:
        await api.modify_user(3, **changes)
    assert caught.value.status_code == 503
    assert caught.value.outcome_unknown
    assert fault_server.count("PUT") == 1


async def test_generate_proxy_passkey_is_never_repeated(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reset(), Reply.json(200, {"proxy_passkey": "x" * 22}))
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(HordeConnectionError) as caught:
        await api.modify_user(3, generate_proxy_passkey=True)
    assert caught.value.outcome_unknown
    assert fault_server.count("PUT") == 1


async def test_connection_reset_on_delete_raises_after_exactly_one_request(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    fault_server.script(Reset(), DELETE_200)
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(HordeConnectionError) as caught:
        await api.delete_user(5)
    error = caught.value
    assert not isinstance(error, HordeTimeoutError)
    assert error.outcome_unknown
    assert error.method == "DELETE"
    assert error.path == "/api/v2/users/5"
    assert "a repeated DELETE can wipe the account" in str(error)
    assert fault_server.count("DELETE") == 1


async def test_delete_is_not_retried_after_a_502(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reply.html(502, BAD_GATEWAY_HTML), DELETE_200)
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(ServerError) as caught:
        await api.delete_user(5)
    assert caught.value.outcome_unknown
    assert fault_server.count("DELETE") == 1


async def test_429_on_delete_is_retried(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(429, {"message": "60 per 1 minute"}, {"Retry-After": "0"}), DELETE_200)
    api = make_api(api_key=KEY, base_url=fault_server.url)
    assert await api.delete_user(5) == DeleteUserResponse(message="OK")
    assert fault_server.count("DELETE") == 2


@pytest.mark.parametrize("fault", [Hang(), Reset(), Reply.json(504, {"message": "Gateway Timeout"})])
async def test_safe_put_is_retried_after_ambiguous_failures(
    make_api: MakeApi, fault_server: FaultServer, fault: Any
) -> None:
    fault_server.script(fault, Reply.json(200, {"concurrency": 40, "trusted": True}))
    api = make_api(api_key=KEY, base_url=fault_server.url, timeout=0.5)
    reply = await api.modify_user(3, trusted=True, concurrency=40, reset_suspicion=True)
    assert (reply.trusted, reply.concurrency) == (True, 40)
    assert fault_server.count("PUT") == 2


@pytest.mark.parametrize("fault", [Hang(), Reset()])
async def test_reads_are_retried_after_timeouts_and_resets(
    make_api: MakeApi, fault_server: FaultServer, fault: Any
) -> None:
    fault_server.script(fault, USER_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, timeout=0.5)
    user = await api.find_user()
    assert user.username == "peer_alice#3"
    assert fault_server.count("GET") == 2


async def test_retries_stop_after_max_retries(make_api: MakeApi, fault_server: FaultServer) -> None:
    unavailable = Reply.json(503, {"message": "Service Unavailable"})
    fault_server.script(unavailable, unavailable, unavailable, USER_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=2)
    with pytest.raises(ServerError) as caught:
        await api.get_user(3)
    assert not caught.value.outcome_unknown  # a read changes nothing
    assert fault_server.count() == 3
    assert len(api.sleeps) == 2
    assert api.sleeps[1] > api.sleeps[0]  # 0.5 s then 1 s, less jitter


async def test_max_retries_zero_turns_retries_off(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(503, {"message": "Service Unavailable"}), USER_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    with pytest.raises(ServerError):
        await api.get_user(3)
    assert fault_server.count() == 1


async def test_retry_after_is_honoured_on_503_but_not_on_502(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    fault_server.script(
        Reply.json(503, {"message": "Service Unavailable"}, {"Retry-After": "1"}),
        Reply(502, b"<html>bad</html>", {"Retry-After": "30", "Content-Type": "text/html"}),
        USER_200,
    )
    api = make_api(api_key=KEY, base_url=fault_server.url)
    await api.get_user(3)
    assert fault_server.count() == 3
    assert api.sleeps[0] >= 1.0
    assert api.sleeps[1] <= 1.0  # plain backoff: Retry-After is read on 429 and 503 only


async def test_html_502_page_gives_server_error_with_an_excerpt(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    fault_server.script(Reply.html(502, BAD_GATEWAY_HTML))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    with pytest.raises(ServerError) as caught:
        await api.list_users()
    error = caught.value
    assert error.status_code == 502
    assert error.rc is None
    assert "502 Bad Gateway" in error.message
    assert "<" not in error.message
    assert len(error.message) < 300


async def test_non_json_200_is_a_clear_error(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reply(200, b"<html>Welcome to nginx!</html>", {"Content-Type": "text/html"}))
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(InvalidResponseError) as caught:
        await api.get_user(3)
    assert caught.value.status_code == 200
    assert "not JSON" in str(caught.value)
    assert "Welcome to nginx!" in caught.value.message
    assert fault_server.count() == 1


async def test_200_of_the_wrong_shape_is_a_clear_error(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(200, {"users": []}))
    api = make_api(api_key=KEY, base_url=fault_server.url)
    with pytest.raises(InvalidResponseError, match="not a valid ListUsersDetailsResponse"):
        await api.list_users()


async def test_connection_refused_is_retried_for_every_method(make_api: MakeApi) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = make_api(api_key=KEY, base_url=f"http://127.0.0.1:{port}/api", max_retries=1)
    with pytest.raises(HordeConnectionError) as caught:
        await api.delete_user(5)
    error = caught.value
    assert not error.request_sent
    assert not error.outcome_unknown  # nothing reached the server
    assert len(api.sleeps) == 1


async def test_headers_sent(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(KUDOS_200, USER_200)
    api = make_api(api_key=KEY, base_url=fault_server.url + "/", client_agent="bot:1.0:me@example.org")
    await api.modify_user("3", kudos=50)
    await api.get_user(3)
    put, get = fault_server.requests
    assert (put.method, put.path, get.path) == ("PUT", "/api/v2/users/3", "/api/v2/users/3")
    assert put.headers["apikey"] == KEY
    assert put.headers["client-agent"] == "bot:1.0:me@example.org"
    assert put.headers["content-type"] == "application/json"
    assert json.loads(put.body) == {"kudos": 50}


def full_page(first_id: int) -> Reply:
    return Reply.json(200, [{"username": f"u#{i}", "id": i} for i in range(first_id, first_id + 25)])


async def test_iter_users_fetches_pages_lazily(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(full_page(0), full_page(25), full_page(50))
    api = make_api(base_url=fault_server.url)
    users = await api.all_users(limit=30)
    assert [u.id_ for u in users] == list(range(30))
    assert [seen.path for seen in fault_server.requests] == [
        "/api/v2/users?page=1&sort=kudos",
        "/api/v2/users?page=2&sort=kudos",
    ]


async def test_iter_users_never_asks_beyond_page_10000(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(full_page(0), full_page(25), full_page(50))
    api = make_api(base_url=fault_server.url)
    users = await api.all_users(sort="age", start_page=9999)
    assert len(users) == 50
    assert [seen.path for seen in fault_server.requests] == [
        "/api/v2/users?page=9999&sort=age",
        "/api/v2/users?page=10000&sort=age",
    ]


# --- success bodies must hold what their response needs ---------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "body"),
    [
        ("find_user", (), {"not": "a list"}),
        ("get_user", (3,), {}),
        ("get_user", (3,), {"username": "no_id#3"}),
        ("get_user", (3,), {"id": 3, "username": None}),
        ("list_users", (), [{"id": 1, "username": "a#1"}, {"kudos": 5}]),
        ("delete_user", (5,), {"new_kudos": "lots", "id": "x"}),
        ("delete_user", (5,), {}),
        ("modify_user", (3,), {}),
        ("modify_user", (3,), {"not": "a reply"}),
    ],
)
async def test_a_success_body_of_the_wrong_shape_is_refused(
    make_api: MakeApi, fault_server: FaultServer, method: str, args: tuple[Any, ...], body: Any
) -> None:
    fault_server.script(Reply.json(200, body))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    kwargs = {"trusted": True} if method == "modify_user" else {}
    with pytest.raises(InvalidResponseError) as caught:
        await getattr(api, method)(*args, **kwargs)
    assert caught.value.status_code == 200
    assert "not a valid" in caught.value.message
    assert caught.value.__context__ is None  # pydantic's error (which shows the body) is not chained
    assert caught.value.outcome_unknown == (method in ("delete_user", "modify_user"))


@pytest.mark.parametrize(
    ("method", "args", "case"),
    [
        ("find_user", (), "040_find_user_owner"),
        ("get_user", (0,), "030_get_user_anonymous_user0"),
        ("list_users", (), "010_list_users_page1"),
        ("list_users", (), "017_list_users_page_huge"),
        ("delete_user", (5,), "108_delete_owner"),
        ("modify_user", (3,), "069_put_mod_reset_suspicion"),
        ("modify_user", (3,), "075_put_owner_username"),
    ],
)
async def test_real_success_bodies_still_parse(
    make_api: MakeApi, fault_server: FaultServer, method: str, args: tuple[Any, ...], case: str
) -> None:
    fault_server.script(replay(case))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    kwargs = {"trusted": True} if method == "modify_user" else {}
    result = await getattr(api, method)(*args, **kwargs)
    expected = example(case)["response"]["json"]
    dumped = result.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(expected, list):
        assert len(dumped) == len(expected)
    else:
        assert dumped.keys() == expected.keys()


# --- whole-answer deadline and size cap -------------------------------------------------------

TRICKLED_USER = Reply.json(200, {"id": 3, "username": "peer_alice#3", "kudos": 100})


@pytest.mark.parametrize(
    "fault",
    [Trickle(TRICKLED_USER, interval=0.25), SlowHead(TRICKLED_USER, interval=0.03)],
    ids=["body trickling", "head trickling, body with it"],
)
async def test_an_answer_trickling_in_is_abandoned_at_the_timeout(
    make_api: MakeApi, fault_server: FaultServer, fault: Trickle | SlowHead
) -> None:
    """A byte at a time never trips httpx's per-read timeout; the whole-answer deadline does, even when
    the body comes whole with the head's last byte."""
    fault_server.script(fault)
    api = make_api(api_key=KEY, base_url=fault_server.url, timeout=1, max_retries=0)
    with pytest.raises(HordeTimeoutError) as caught:
        await api.get_user(3)
    assert "did not arrive within 1 s" in caught.value.message
    assert not caught.value.outcome_unknown  # a read changes nothing
    if isinstance(fault, Trickle):
        fault_server.wait_for_bodies(1)
        assert fault_server.sent_bytes[0] < len(TRICKLED_USER.body)  # the client left before the end


async def test_a_trickled_read_is_retried_like_any_timeout(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    fault_server.script(Trickle(TRICKLED_USER, interval=0.25), USER_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, timeout=1, max_retries=1)
    user = await api.get_user(3)
    assert user.username == "peer_alice#3"
    assert fault_server.count() == 2


async def test_a_trickled_delete_is_not_retried(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Trickle(DELETE_200, interval=0.25), DELETE_200)
    api = make_api(api_key=KEY, base_url=fault_server.url, timeout=1)
    with pytest.raises(HordeTimeoutError) as caught:
        await api.delete_user(5)
    assert caught.value.outcome_unknown
    assert fault_server.count() == 1


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "streamed"])
async def test_a_body_far_larger_than_the_api_sends_is_refused(
    make_api: MakeApi, fault_server: FaultServer, declare: bool
) -> None:
    size = 100 * 1024 * 1024
    fault_server.script(Flood(size, declare=declare))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    with pytest.raises(InvalidResponseError) as caught:
        await api.list_users()
    assert str(MAX_RESPONSE_BYTES) in caught.value.message
    fault_server.wait_for_bodies(1)
    assert fault_server.sent_bytes[0] < size  # never read whole
    assert fault_server.count() == 1


# --- how the body is framed: every transport reads the same answer the same way ----------------


def _raw_answer(head: str, body: bytes) -> Raw:
    return Raw(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)


def _chunked(body: bytes, size: int) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


async def test_a_chunked_body_is_read_whole(make_api: MakeApi, fault_server: FaultServer) -> None:
    head = "HTTP/1.1 200 OK\nContent-Type: application/json\nTransfer-Encoding: chunked\nConnection: close\n"
    fault_server.script(_raw_answer(head, _chunked(USER_200.body, 100)))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    user = await api.get_user(3)
    assert user == UserDetailsResponse.model_validate_json(USER_200.body)


async def test_a_body_without_content_length_is_read_to_the_close(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    head = "HTTP/1.1 200 OK\nContent-Type: application/json\nConnection: close\n"
    fault_server.script(_raw_answer(head, USER_200.body))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    assert (await api.get_user(3)).username == "peer_alice#3"


async def test_a_body_shorter_than_its_content_length_is_a_dropped_connection(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    """The server closes before the declared length: retried like a drop (a read), then raised."""
    head = f"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: {len(USER_200.body) + 50}\n"
    fault_server.script(*[_raw_answer(head, USER_200.body)] * 2)
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=1)
    with pytest.raises(HordeConnectionError) as caught:
        await api.get_user(3)
    assert not isinstance(caught.value, HordeTimeoutError)
    assert caught.value.request_sent
    assert fault_server.count() == 2


async def test_a_chunked_body_over_the_cap_is_refused(make_api: MakeApi, fault_server: FaultServer) -> None:
    head = "HTTP/1.1 200 OK\nContent-Type: application/json\nTransfer-Encoding: chunked\nConnection: close\n"
    fault_server.script(_raw_answer(head, _chunked(b" " * (MAX_RESPONSE_BYTES + 1), 65536)))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    with pytest.raises(InvalidResponseError) as caught:
        await api.get_user(3)
    assert f"more than {MAX_RESPONSE_BYTES} bytes" in caught.value.message


async def test_a_content_length_over_the_cap_is_refused_before_the_body(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    head = f"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: {MAX_RESPONSE_BYTES + 1}\n"
    fault_server.script(_raw_answer(head, USER_200.body))  # the body never comes: only the header counts
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=0)
    with pytest.raises(InvalidResponseError) as caught:
        await api.get_user(3)
    assert f"the answer is {MAX_RESPONSE_BYTES + 1} bytes" in caught.value.message


async def test_an_error_answer_reads_its_headers_and_charset_alike(
    make_api: MakeApi, fault_server: FaultServer
) -> None:
    """What the error shows comes from the answer's head: its reason phrase, node, Retry-After, charset."""
    text = "Überlastet: versuchen Sie es später".encode("latin-1")
    head = (
        f"HTTP/1.1 503 Busy Right Now\nContent-Type: text/plain; charset=latin-1\nHorde-Node: node-7\n"
        f"Retry-After: 120\nContent-Length: {len(text)}\nConnection: close\n"
    )
    fault_server.script(_raw_answer(head, text))
    api = make_api(api_key=KEY, base_url=fault_server.url, max_retries=2)
    with pytest.raises(ServerError) as caught:
        await api.get_user(3)
    error = caught.value
    assert (error.status_code, error.horde_node, error.retry_after) == (503, "node-7", 120)
    assert error.message == "Busy Right Now (not JSON): Überlastet: versuchen Sie es später"
    assert fault_server.count() == 1  # Retry-After over 60 s: raised at once


async def test_every_transport_goes_through_the_proxy_the_environment_names(
    make_api: MakeApi, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fault_server.url.removesuffix("/api"))
    monkeypatch.setenv("NO_PROXY", "localhost")
    fault_server.script(USER_200, USER_200)
    api = make_api(api_key=KEY, base_url="http://users.example/api", max_retries=0)
    assert (await api.get_user(3)).username == "peer_alice#3"
    assert (await api.get_user(4)).username == "peer_alice#3"  # the proxy found once, used again
    assert [seen.path for seen in fault_server.requests] == [
        "http://users.example/api/v2/users/3",
        "http://users.example/api/v2/users/4",
    ]
    bypassed = make_api(api_key=KEY, base_url="http://localhost:9/api", max_retries=0)
    with pytest.raises(HordeConnectionError):  # not through the proxy: straight to a closed port
        await bypassed.get_user(3)
    assert fault_server.count() == 2
