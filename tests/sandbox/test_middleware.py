"""The sandbox's edge middleware against a tiny Starlette app with the users API's routes (no storage).

Windows, ``X-RateLimit-Reset`` and ``Retry-After`` run on an injected clock; the body cap and
``Horde-Node`` are checked over real HTTP too.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from horde_users import __version__
from horde_users.sandbox import Sandbox
from horde_users.sandbox.middleware import MAX_BODY_BYTES, EdgeMiddleware, install_edge_middleware

T0 = 1795742260.3  # Fri, 27 Nov 2026 01:17:40.3 UTC
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after")
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET, OPTIONS, PUT, DELETE, PATCH",
    "access-control-allow-headers": "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, "
    "apikey, Client-Agent, X-Fields, X-Forwarded-For, Proxied-For, Proxy-Authorization",
}
SERVICE_PASSKEY = "service-passkey-0123456789"


class Clock:
    """A settable time source."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def route_users(request: Request) -> Response:
    return JSONResponse([])


async def route_user(request: Request) -> Response:
    user_id = request.path_params["user_id"]
    if user_id == "boom":
        raise RuntimeError("a bug in a route")
    if not user_id.isdigit():
        return JSONResponse({"message": "not found", "rc": "UserNotFound"}, status_code=404)
    body = await request.body()
    return JSONResponse({"id": int(user_id), "method": request.method, "body_bytes": len(body)})


async def route_find_user(request: Request) -> Response:
    return JSONResponse({"message": "No user", "rc": "InvalidAPIKey"}, status_code=401)


async def route_test_user(request: Request) -> Response:
    return JSONResponse({"created": True}, status_code=201)


async def route_heartbeat(request: Request) -> Response:
    return JSONResponse({"message": "OK", "version": __version__})


async def route_stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk{i};".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def route_own_cors(request: Request) -> Response:
    return Response("x", headers={"Access-Control-Allow-Origin": "https://example.org"})


def make_app(
    *,
    rate_limits: bool = True,
    clock: Callable[[], float] | None = None,
    is_service: Callable[[str], bool] | None = None,
) -> Starlette:
    app = Starlette(
        routes=[
            Route("/api/v2/users", route_users, methods=["GET"]),
            Route("/api/v2/users/{user_id}", route_user, methods=["GET", "PUT", "DELETE"]),
            Route("/api/v2/find_user", route_find_user, methods=["GET"]),
            Route("/api/v2/dev/test-user", route_test_user, methods=["POST"]),
            Route("/api/v2/status/heartbeat", route_heartbeat, methods=["GET"]),
            Route("/api/v2/stream", route_stream),
            Route("/api/v2/own-cors", route_own_cors),
        ]
    )
    install_edge_middleware(
        app,
        rate_limits=rate_limits,
        proxy_passkey_owner_is_service=is_service,
        clock=clock or Clock(),
    )
    return app


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yields the base URL."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on such sockets (else ~40 ms per response).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def edge_of(app: Starlette) -> EdgeMiddleware:
    """The app's edge middleware (the stack exists once the app has served a request)."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, EdgeMiddleware):
        layer = layer.app
    return layer


@pytest.fixture(scope="module")
def live_server() -> Iterator[tuple[str, Starlette, Clock]]:
    """One server for the module; each test gets it with a fresh clock and no counts."""
    clock = Clock()
    app = make_app(clock=clock, is_service=lambda passkey: passkey == SERVICE_PASSKEY)
    with serve(app) as url:
        httpx.get(f"{url}/api/v2/status/heartbeat")  # builds the middleware stack
        yield url, app, clock


@pytest.fixture
def clock(live_server: tuple[str, Starlette, Clock]) -> Clock:
    _, app, clock = live_server
    clock.now = T0
    limiter = edge_of(app).limiter
    assert limiter is not None
    limiter.reset()
    return clock


@pytest.fixture
def live_url(live_server: tuple[str, Starlette, Clock], clock: Clock) -> str:
    return live_server[0]


@pytest.fixture
def client(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url) as http:
        yield http


def rate_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in RATE_HEADERS if name in response.headers}


# --- CORS, Horde-Node -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v2/users", 200),
        ("GET", "/api/v2/users/3", 200),
        ("GET", "/api/v2/users/abc", 404),
        ("GET", "/api/v2/find_user", 401),
        ("GET", "/api/v2/status/heartbeat", 200),
        ("GET", "/api/v2/nowhere", 404),
        ("POST", "/api/v2/users", 405),
        ("GET", "/api/v2/users/boom", 500),
    ],
)
def test_every_response_carries_cors_and_horde_node(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    for name, value in CORS.items():
        assert response.headers.get_list(name) == [value]
    port = str(client.base_url.port)
    assert response.headers["horde-node"] == f"127.0.0.1:{port}:horde-users-{__version__}"


def test_an_apps_own_cors_header_is_replaced_not_duplicated(client: httpx.Client) -> None:
    response = client.get("/api/v2/own-cors")
    assert response.headers.get_list("access-control-allow-origin") == ["*"]


def test_a_crash_answers_shape_d_with_every_header(client: httpx.Client) -> None:
    response = client.get("/api/v2/users/boom")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert rate_headers(response)["x-ratelimit-limit"] == "60"


# --- CORS preflight ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v2/users", {"GET", "HEAD", "OPTIONS"}),
        ("/api/v2/find_user", {"GET", "HEAD", "OPTIONS"}),
        ("/api/v2/users/3", {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}),
        ("/api/v2/users/abc", {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}),
        ("/api/v2/dev/test-user", {"POST", "OPTIONS"}),
        ("/api/v2/status/heartbeat", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_preflight_answers_200_with_allow_and_no_rate_limit_headers(
    client: httpx.Client, path: str, allow: set[str]
) -> None:
    response = client.options(
        path,
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "apikey",
        },
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert set(response.headers["allow"].split(", ")) == allow
    for name, value in CORS.items():
        assert response.headers[name] == value
    assert "access-control-max-age" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert rate_headers(response) == {}


def test_preflights_are_never_counted(client: httpx.Client) -> None:
    for _ in range(100):
        assert client.options("/api/v2/find_user").status_code == 200
    assert client.get("/api/v2/find_user").headers["x-ratelimit-remaining"] == "89"


def test_options_on_an_unknown_route_is_left_to_the_app(client: httpx.Client) -> None:
    response = client.options("/api/v2/nowhere")
    assert response.status_code == 404
    assert "allow" not in response.headers


# --- body cap ----------------------------------------------------------------------------------------


def test_a_declared_body_over_64_kib_is_refused_with_413(client: httpx.Client) -> None:
    response = client.put("/api/v2/users/3", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json() == {"message": "Payload Too Large"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "rc" not in response.json()
    assert rate_headers(response)["x-ratelimit-remaining"] == "59"  # counted, with headers


def test_a_body_of_exactly_64_kib_reaches_the_app(client: httpx.Client) -> None:
    response = client.put("/api/v2/users/3", content=b"x" * MAX_BODY_BYTES)
    assert response.status_code == 200
    assert response.json()["body_bytes"] == MAX_BODY_BYTES


def test_a_streamed_body_over_64_kib_is_refused_with_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 8000

    response = client.put("/api/v2/users/3", content=chunks())
    assert response.status_code == 413
    assert response.json() == {"message": "Payload Too Large"}


def test_the_body_cap_covers_unknown_routes_too(client: httpx.Client) -> None:
    response = client.post("/api/v2/nowhere", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert rate_headers(response) == {}


def test_a_streamed_body_under_the_cap_is_replayed_whole(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"z" * 8000

    response = client.put("/api/v2/users/3", content=chunks())
    assert response.status_code == 200
    assert response.json()["body_bytes"] == 64000


# --- rate limits -------------------------------------------------------------------------------------


def test_first_list_request_gets_the_contracts_headers(client: httpx.Client) -> None:
    response = client.get("/api/v2/users")
    assert rate_headers(response) == {
        "x-ratelimit-limit": "90",
        "x-ratelimit-remaining": "89",
        "x-ratelimit-reset": "1795742321",
        "retry-after": "60",
    }


def test_retry_after_is_computed_when_the_response_is_sent(client: httpx.Client, clock: Clock) -> None:
    client.get("/api/v2/users")
    clock.now = 1795742294.5  # 01:18:14
    assert rate_headers(client.get("/api/v2/users?page=2")) == {
        "x-ratelimit-limit": "90",
        "x-ratelimit-remaining": "88",
        "x-ratelimit-reset": "1795742321",
        "retry-after": "26",
    }


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("GET", "/api/v2/users", 90),
        ("GET", "/api/v2/find_user", 90),
        ("POST", "/api/v2/dev/test-user", 90),
        ("GET", "/api/v2/users/15", 60),
        ("PUT", "/api/v2/users/15", 60),
        ("DELETE", "/api/v2/users/15", 60),
    ],
)
def test_over_the_limit_answers_429_with_the_limit_text(
    client: httpx.Client, clock: Clock, method: str, path: str, limit: int
) -> None:
    for i in range(limit):
        response = client.request(method, path)
        assert response.status_code != 429
        assert response.headers["x-ratelimit-remaining"] == str(limit - 1 - i)
    clock.now = T0 + 0.5
    refused = client.request(method, path)
    assert refused.status_code == 429
    assert refused.json() == {"message": f"{limit} per 1 minute"}
    assert refused.headers["content-type"] == "application/json; charset=utf-8"
    assert rate_headers(refused) == {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "1795742321",
        "retry-after": "60",
    }
    for name, value in CORS.items():
        assert refused.headers[name] == value


def test_every_status_counts(client: httpx.Client) -> None:
    assert client.get("/api/v2/find_user").status_code == 401
    assert client.get("/api/v2/users/abc").status_code == 404
    assert client.get("/api/v2/find_user").headers["x-ratelimit-remaining"] == "88"
    assert client.get("/api/v2/users/abc").headers["x-ratelimit-remaining"] == "58"


def test_endpoints_keep_separate_buckets(client: httpx.Client) -> None:
    for _ in range(90):
        client.get("/api/v2/users")
    assert client.get("/api/v2/users").status_code == 429
    assert client.get("/api/v2/find_user").headers["x-ratelimit-remaining"] == "89"
    assert client.post("/api/v2/dev/test-user").headers["x-ratelimit-remaining"] == "89"
    assert client.get("/api/v2/users/3").headers["x-ratelimit-remaining"] == "59"


def test_single_user_buckets_are_per_method_and_path_text(client: httpx.Client) -> None:
    for _ in range(60):
        client.get("/api/v2/users/3")
    assert client.get("/api/v2/users/3").status_code == 429
    assert client.get("/api/v2/users/003").headers["x-ratelimit-remaining"] == "59"
    assert client.put("/api/v2/users/3").headers["x-ratelimit-remaining"] == "59"
    assert client.delete("/api/v2/users/3").headers["x-ratelimit-remaining"] == "59"
    assert client.get("/api/v2/users/4").headers["x-ratelimit-remaining"] == "59"


def test_all_query_strings_share_the_list_count(client: httpx.Client) -> None:
    client.get("/api/v2/users?page=1")
    client.get("/api/v2/users?sort=age")
    assert client.get("/api/v2/users?page=abc").headers["x-ratelimit-remaining"] == "87"


def test_a_429_wins_over_the_body_cap(client: httpx.Client) -> None:
    for _ in range(60):
        client.put("/api/v2/users/3")
    response = client.put("/api/v2/users/3", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 429


def test_the_window_closes_at_t0_plus_60_and_429s_do_not_extend_it(
    client: httpx.Client, clock: Clock
) -> None:
    for _ in range(90):
        client.get("/api/v2/find_user")
    clock.now = T0 + 59.99
    late = client.get("/api/v2/find_user")
    assert late.status_code == 429
    assert late.headers["retry-after"] == "0"  # floor(1795742321 - 1795742320.29)
    clock.now = T0 + 60
    fresh = client.get("/api/v2/find_user")
    assert fresh.status_code == 401
    assert rate_headers(fresh) == {
        "x-ratelimit-limit": "90",
        "x-ratelimit-remaining": "89",
        "x-ratelimit-reset": "1795742381",
        "retry-after": "60",
    }


def test_the_address_is_the_last_x_forwarded_for_entry(client: httpx.Client) -> None:
    client.get("/api/v2/users", headers={"X-Forwarded-For": "10.0.0.1, 10.0.0.7"})
    shared = client.get("/api/v2/users", headers={"X-Forwarded-For": "10.9.9.9,10.0.0.7"})
    assert shared.headers["x-ratelimit-remaining"] == "88"
    other = client.get("/api/v2/users", headers={"X-Forwarded-For": "10.0.0.7, 10.0.0.8"})
    assert other.headers["x-ratelimit-remaining"] == "89"
    peer = client.get("/api/v2/users")
    assert peer.headers["x-ratelimit-remaining"] == "89"


def test_a_service_proxy_counts_single_user_requests_under_proxied_for(client: httpx.Client) -> None:
    proxied = {"Proxy-Authorization": SERVICE_PASSKEY, "Proxied-For": "203.0.113.5"}
    assert client.get("/api/v2/users/3", headers=proxied).headers["x-ratelimit-remaining"] == "59"
    assert client.get("/api/v2/users/3").headers["x-ratelimit-remaining"] == "59"  # the proxy itself
    as_client = {"X-Forwarded-For": "203.0.113.5"}
    assert client.get("/api/v2/users/3", headers=as_client).headers["x-ratelimit-remaining"] == "58"


def test_a_non_service_passkey_does_not_move_the_count(client: httpx.Client) -> None:
    forged = {"Proxy-Authorization": "someone-elses-passkey", "Proxied-For": "203.0.113.5"}
    client.get("/api/v2/users/3", headers=forged)
    assert client.get("/api/v2/users/3").headers["x-ratelimit-remaining"] == "58"


def test_proxied_for_applies_to_single_user_routes_only(client: httpx.Client) -> None:
    proxied = {"Proxy-Authorization": SERVICE_PASSKEY, "Proxied-For": "203.0.113.5"}
    client.get("/api/v2/users", headers=proxied)
    assert client.get("/api/v2/users").headers["x-ratelimit-remaining"] == "88"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/status/heartbeat"),
        ("GET", "/api/v2/nowhere"),
        ("POST", "/api/v2/users"),  # 405: the route does not serve the method
        ("GET", "/api/v2/users/"),
        ("GET", "/api/v2/users/3/extra"),
    ],
)
def test_other_responses_carry_no_rate_limit_headers(client: httpx.Client, method: str, path: str) -> None:
    assert rate_headers(client.request(method, path)) == {}


def test_switched_off_there_is_no_counting_and_no_headers() -> None:
    with serve(make_app(rate_limits=False)) as url, httpx.Client(base_url=url) as client:
        for _ in range(100):
            response = client.get("/api/v2/users/3")
            assert response.status_code == 200
            assert rate_headers(response) == {}
        assert client.options("/api/v2/users/3").status_code == 200


# --- ASGI behaviour ----------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call_asgi(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> list[MutableMapping[str, Any]]:
    """Drive one request through ``app`` as an ASGI server would; returns the messages it sent."""
    sent: list[MutableMapping[str, Any]] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await anyio.sleep_forever()  # like a server: nothing more until the client goes away
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example"), *(headers or [])],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 7001),
    }
    await app(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_streamed_responses_pass_through_message_by_message() -> None:
    app = Starlette(routes=[Route("/api/v2/stream", route_stream)])
    sent = await call_asgi(EdgeMiddleware(app, rate_limits=False), "GET", "/api/v2/stream")
    bodies = [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]
    assert [b for b in bodies if b] == [b"chunk0;", b"chunk1;", b"chunk2;"]
    start = sent[0]
    assert (b"horde-node", f"127.0.0.1:7001:horde-users-{__version__}".encode()) in start["headers"]


@pytest.mark.anyio
async def test_head_reaches_a_get_only_app_as_get_and_loses_the_body() -> None:
    seen: list[str] = []

    async def get_only(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["method"])
        status = 200 if scope["method"] == "GET" else 405
        body = b'{"message": "OK"}'
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    edge = EdgeMiddleware(get_only, rate_limits=True)
    sent = await call_asgi(edge, "HEAD", "/api/v2/users/3")
    assert seen == ["GET"]
    assert sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"content-length"] == b"17"
    assert headers[b"x-ratelimit-limit"] == b"60"
    assert [m.get("body", b"") for m in sent[1:]] == [b""]
    await call_asgi(edge, "HEAD", "/api/v2/dev/test-user")  # that route serves no GET: left as it is
    assert seen == ["GET", "HEAD"]


@pytest.mark.anyio
async def test_a_failing_passkey_check_counts_by_address_and_logs_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(passkey: str) -> bool:
        raise RuntimeError(f"database down while looking up {passkey}")

    edge = EdgeMiddleware(
        Starlette(routes=[Route("/api/v2/users/{user_id}", route_user)]),
        rate_limits=True,
        proxy_passkey_owner_is_service=broken,
    )
    proxied = [(b"proxy-authorization", SERVICE_PASSKEY.encode()), (b"proxied-for", b"203.0.113.5")]
    first = await call_asgi(edge, "GET", "/api/v2/users/3", proxied)
    assert first[0]["status"] == 200
    second = await call_asgi(edge, "GET", "/api/v2/users/3")
    assert dict(second[0]["headers"])[b"x-ratelimit-remaining"] == b"58"  # same bucket: the peer's
    assert "RuntimeError" in caplog.text
    assert SERVICE_PASSKEY not in caplog.text


@pytest.mark.anyio
async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    await EdgeMiddleware(app, rate_limits=True)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]


# --- real HTTP specifics ---------------------------------------------------------------------------


def test_over_http_horde_node_names_the_listening_address(live_url: str) -> None:
    response = httpx.get(f"{live_url}/api/v2/status/heartbeat")
    port = live_url.rsplit(":", 1)[1]
    assert response.headers["horde-node"] == f"127.0.0.1:{port}:horde-users-{__version__}"
    assert response.headers["access-control-allow-origin"] == "*"


def test_over_http_a_chunked_body_over_the_cap_is_refused(live_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"c" * 4096

    response = httpx.put(f"{live_url}/api/v2/users/3", content=chunks())
    assert response.status_code == 413
    assert response.json() == {"message": "Payload Too Large"}


def test_over_http_a_chunked_body_under_the_cap_arrives_whole(live_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(15):
            yield b"c" * 4096

    response = httpx.put(f"{live_url}/api/v2/users/3", content=chunks())
    assert response.status_code == 200
    assert response.json()["body_bytes"] == 15 * 4096


def test_over_http_a_huge_content_length_is_refused_before_the_body_is_sent(live_url: str) -> None:
    host, port = live_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"PUT /api/v2/users/3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        received = b""
        while b"\r\n\r\n" not in received or not received.endswith(b"}\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == {"message": "Payload Too Large"}


# --- end to end: the sandbox app ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited_sandbox() -> Iterator[Sandbox]:
    """One rate-limited sandbox for the module; tests keep apart by their own X-Forwarded-For address."""
    with Sandbox(rate_limits=True) as running:
        yield running


def as_client(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


def test_sandbox_single_user_limit_is_60_then_429(limited_sandbox: Sandbox) -> None:
    with httpx.Client(base_url=limited_sandbox.url, headers=as_client("198.51.100.1")) as http:
        for i in range(60):
            response = http.get("/v2/users/999")
            assert response.status_code == 404
            assert response.headers["x-ratelimit-remaining"] == str(59 - i)
        refused = http.get("/v2/users/999")
        assert refused.status_code == 429
        assert refused.json() == {"message": "60 per 1 minute"}
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert 0 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["access-control-allow-origin"] == "*"
        assert http.get("/v2/users/0999").status_code == 404  # another path text, another bucket


def test_sandbox_counts_the_test_user_endpoint_before_it_says_it_is_disabled(
    limited_sandbox: Sandbox,
) -> None:
    with httpx.Client(base_url=limited_sandbox.url, headers=as_client("198.51.100.2")) as http:
        for _ in range(90):
            response = http.post("/v2/dev/test-user", json={})
            assert response.status_code == 404
            assert response.headers["x-ratelimit-limit"] == "90"
        refused = http.post("/v2/dev/test-user", json={})
        assert refused.status_code == 429
        assert refused.json() == {"message": "90 per 1 minute"}


def test_sandbox_refuses_a_huge_body_with_413_and_counts_it(limited_sandbox: Sandbox) -> None:
    alice = limited_sandbox.create_user("edge_alice")
    with httpx.Client(
        base_url=limited_sandbox.url, headers=as_client("198.51.100.3", apikey=alice.api_key)
    ) as http:
        huge = json.dumps({"contact": "x" * (MAX_BODY_BYTES + 1)})
        path = f"/v2/users/{alice.id}"
        response = http.put(path, content=huge, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json() == {"message": "Payload Too Large"}
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.headers["x-ratelimit-remaining"] == "59"
        assert http.put(path, json={"public_workers": True}).json() == {"public_workers": True}


def test_sandbox_preflight_heartbeat_and_unknown_routes(limited_sandbox: Sandbox) -> None:
    port = str(limited_sandbox.port)
    with httpx.Client(base_url=limited_sandbox.url, headers=as_client("198.51.100.4")) as http:
        preflight = http.options("/v2/users/1", headers={"Origin": "https://example.org"})
        assert preflight.status_code == 200
        assert preflight.content == b""
        assert set(preflight.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"}
        assert rate_headers(preflight) == {}
        heartbeat = http.get("/v2/status/heartbeat")
        assert heartbeat.status_code == 200
        assert heartbeat.headers["horde-node"] == f"127.0.0.1:{port}:horde-users-{__version__}"
        assert rate_headers(heartbeat) == {}
        unknown = http.get("/v2/nowhere")
        assert unknown.status_code == 404
        assert unknown.headers["access-control-allow-origin"] == "*"
        assert rate_headers(unknown) == {}
        assert http.get("/v2/users/1").headers["x-ratelimit-remaining"] == "59"


def test_sandbox_counts_a_service_proxys_requests_under_proxied_for(limited_sandbox: Sandbox) -> None:
    proxy = limited_sandbox.create_user("edge_proxy", service=True)
    with httpx.Client(base_url=limited_sandbox.url, headers=as_client("198.51.100.5")) as http:
        issued = http.put(
            f"/v2/users/{proxy.id}", json={"generate_proxy_passkey": True}, headers={"apikey": proxy.api_key}
        )
        passkey = issued.json()["proxy_passkey"]
        path = f"/v2/users/{proxy.id}"
        proxied = {"Proxy-Authorization": passkey, "Proxied-For": "203.0.113.50"}
        assert http.get(path, headers=proxied).headers["x-ratelimit-remaining"] == "59"
        assert http.get(path).headers["x-ratelimit-remaining"] == "59"  # the proxy's own count
        end_user = as_client("203.0.113.50")
        assert http.get(path, headers=end_user).headers["x-ratelimit-remaining"] == "58"
        forged = {"Proxy-Authorization": "not-a-passkey", "Proxied-For": "203.0.113.50"}
        assert http.get(path, headers=forged).headers["x-ratelimit-remaining"] == "58"  # the proxy's again


def test_sandbox_answers_head_like_get_without_a_body(limited_sandbox: Sandbox) -> None:
    with httpx.Client(base_url=limited_sandbox.url, headers=as_client("198.51.100.6")) as http:
        got = http.get("/v2/users/0")
        head = http.head("/v2/users/0")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers["x-ratelimit-remaining"] == "59"  # HEAD counts on its own, as on the real server


EDGE_HEADER_PREFIXES = ("access-control-", "horde-node", "x-ratelimit-", "retry-after")


def edge_headers(headers: Iterable[str]) -> set[str]:
    return {name.lower() for name in headers if name.lower().startswith(EDGE_HEADER_PREFIXES)}


def test_sandbox_sends_the_edge_headers_of_every_real_exchange(
    limited_sandbox: Sandbox, example: dict[str, Any]
) -> None:
    request, real = example["request"], example["response"]
    response = httpx.request(
        request["method"],
        limited_sandbox.url.removesuffix("/api") + request["path"],
        json=request.get("json"),
        headers=as_client("198.51.100.200"),
    )
    assert edge_headers(response.headers) == edge_headers(real["headers"])
    for name, value in real["headers"].items():
        if name.lower().startswith("access-control-") or name.lower() == "x-ratelimit-limit":
            assert response.headers[name] == value
    assert response.headers["content-type"] == real["headers"]["Content-Type"]


# --- bounded rate-limit memory ---------------------------------------------------------------------

LONG = "a" * 60_000  # about the longest path text a client might try


@pytest.mark.anyio
async def test_unique_long_paths_and_forwarded_addresses_leave_few_small_buckets() -> None:
    clock = Clock()
    app = make_app(clock=clock)
    for i in range(8000):
        sent = await call_asgi(app, "GET", f"/api/v2/users/{i}{LONG}")
        assert sent[0]["status"] == 404
        assert dict(sent[0]["headers"])[b"x-ratelimit-remaining"] == b"59"  # each its own bucket
    for i in range(8000):
        forwarded = f"10.0.0.1, {i}-{LONG}".encode()
        sent = await call_asgi(app, "GET", "/api/v2/users", [(b"x-forwarded-for", forwarded)])
        assert dict(sent[0]["headers"])[b"x-ratelimit-remaining"] == b"89"
    limiter = app.state.rate_limiter
    keys = limiter.keys()
    assert len(keys) <= limiter.max_buckets < 16_000  # the oldest windows were forgotten
    assert max(map(len, keys)) <= 200
    assert sum(map(len, keys)) <= 200 * limiter.max_buckets

    clock.now = T0 + 60  # every window has closed: the next request of any kind sweeps them
    sent = await call_asgi(app, "GET", "/api/v2/status/heartbeat")
    assert sent[0]["status"] == 200
    assert len(limiter) == 0


@pytest.mark.anyio
async def test_distinct_long_texts_still_count_apart_and_alike_texts_together() -> None:
    app = make_app(clock=Clock())
    first, second = f"/api/v2/users/x{LONG}", f"/api/v2/users/y{LONG}"
    assert dict((await call_asgi(app, "GET", first))[0]["headers"])[b"x-ratelimit-remaining"] == b"59"
    assert dict((await call_asgi(app, "GET", first))[0]["headers"])[b"x-ratelimit-remaining"] == b"58"
    assert dict((await call_asgi(app, "GET", second))[0]["headers"])[b"x-ratelimit-remaining"] == b"59"
    long_address = [(b"x-forwarded-for", f"{LONG}-1".encode())]
    other_address = [(b"x-forwarded-for", f"{LONG}-2".encode())]
    remaining = [
        dict((await call_asgi(app, "GET", "/api/v2/users", headers))[0]["headers"])[b"x-ratelimit-remaining"]
        for headers in (long_address, long_address, other_address)
    ]
    assert remaining == [b"89", b"88", b"89"]


def test_the_sandbox_app_exposes_its_limiter_only_when_limits_are_on() -> None:
    assert make_app(rate_limits=True).state.rate_limiter is not None
    assert make_app(rate_limits=False).state.rate_limiter is None


# --- a raw "#" starts a fragment -------------------------------------------------------------------


def raw_exchange(url: str, target: str) -> tuple[int, Any]:
    """Send ``GET <target>`` byte for byte (httpx would drop a fragment); returns status and JSON."""
    host, port = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.fixture(scope="module")
def sandbox_with_alice() -> Iterator[Sandbox]:
    with Sandbox() as running:
        running.create_user("alice")
        yield running


@pytest.mark.parametrize(
    "target",
    ["/api/v2/users/1#x", "/api/v2/users/1#", "/api/v2/users/1#x?page=abc", "/api/v2/users/1?#/x"],
)
def test_a_raw_hash_ends_the_path_as_on_the_real_server(sandbox_with_alice: Sandbox, target: str) -> None:
    status, body = raw_exchange(sandbox_with_alice.url, target)
    assert status == 200
    assert body["username"] == "alice#1"


def test_a_raw_hash_ends_the_query_too(sandbox_with_alice: Sandbox) -> None:
    status, body = raw_exchange(sandbox_with_alice.url, "/api/v2/users?page=1#abc")
    assert status == 200
    assert [user["username"] for user in body][-1] == "alice#1"
    assert raw_exchange(sandbox_with_alice.url, "/api/v2/users?page=abc#1")[0] == 400


def test_an_encoded_hash_stays_part_of_the_path(sandbox_with_alice: Sandbox) -> None:
    status, body = raw_exchange(sandbox_with_alice.url, "/api/v2/users/1%23x")
    assert status == 404
    assert body["rc"] == "UserNotFound"
