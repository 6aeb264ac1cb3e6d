"""Running the sandbox: create_app as a plain ASGI app, serve() in the foreground, Sandbox options."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from horde_users.sandbox import Sandbox, SandboxStore, create_app
from horde_users.sandbox.connections import ConnectionLimits
from horde_users.sandbox.middleware import install_edge_middleware
from horde_users.sandbox.server import _server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_create_app_serves_over_asgi_with_an_in_memory_database() -> None:
    store = SandboxStore()
    user = store.create_user("alice")
    app = create_app(store=store, rate_limits=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api") as http:
        reply = await http.get("/v2/find_user", headers={"apikey": user.api_key})
        assert reply.json()["username"] == "alice#1"
        assert (await http.get("/v2/status/heartbeat")).json()["message"] == "OK"
    store.close()


@pytest.mark.anyio
async def test_create_app_with_rate_limits_sends_the_headers() -> None:
    app = create_app(database="sqlite://")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api") as http:
        reply = await http.get("/v2/users")
        assert reply.headers["x-ratelimit-limit"] == "90"
        assert "x-ratelimit-limit" not in (await http.get("/v2/status/heartbeat")).headers


def test_sandbox_options_reach_the_app() -> None:
    with Sandbox(rate_limits=True, admins=["x#1"]) as sb, httpx.Client(base_url=sb.url) as http:
        assert http.get("/v2/users/0").headers["x-ratelimit-limit"] == "60"
        assert "horde-node" in http.get("/v2/users/0").headers
        assert repr(sb).startswith("Sandbox(http://127.0.0.1:")
    assert repr(sb) == "Sandbox(stopped)"


def test_serve_prints_its_url_and_stops_cleanly_on_ctrl_c() -> None:
    code = "from horde_users.sandbox import serve; serve(port=0, rate_limits=False)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/api")
        for _ in range(200):  # the port is bound before the URL is printed; wait for the app loop
            try:
                reply = httpx.get(f"{url}/v2/status/heartbeat")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert reply.json()["message"] == "OK"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_stops_on_sigterm_as_on_ctrl_c_and_closes_the_database(tmp_path: Path) -> None:
    database = tmp_path / "served.db"
    code = f"from horde_users.sandbox import serve; serve(port=0, database={str(database)!r})"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].split()[0]
        for _ in range(200):
            try:
                assert httpx.get(f"{url}/v2/users/0").status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert Path(f"{database}-wal").exists()  # the store holds the database open
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert not Path(f"{database}-wal").exists()  # closed: SQLite folded the log back in
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- nothing leaves the machine --------------------------------------------------------------------

EXTERNAL = re.compile(rb"(?:https?:)?//(?!127\.0\.0\.1|localhost|\[::1\])[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.mark.anyio
async def test_no_page_the_sandbox_serves_refers_to_another_host() -> None:
    app = create_app(database="sqlite://", rate_limits=False)
    pages = {"/", "/api", "/api/", "/docs", "/redoc", "/api/docs", "/api/redoc", "/api/docs/oauth2-redirect"}
    pages |= {route.path for route in app.routes if isinstance(route, Route) and "{" not in route.path}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        served = {}
        for page in sorted(pages):
            reply = await http.get(page)
            assert reply.status_code < 500
            served[page] = reply
    assert served["/api/openapi.json"].json()["info"]["title"] == "horde-users sandbox"
    assert served["/api/docs"].status_code == 404
    for page, reply in served.items():
        # API answers may quote the real server's texts (a link in a message loads nothing); pages,
        # HTML anywhere and the OpenAPI document must not point a browser elsewhere.
        if page.startswith("/api/v2/") and not reply.headers["content-type"].startswith("text/html"):
            continue
        assert not EXTERNAL.search(reply.content), (page, EXTERNAL.search(reply.content))


# --- housekeeping on the server's tick ---------------------------------------------------------------


def test_the_server_sweeps_expired_rate_limit_windows_without_traffic() -> None:
    now = [1795742260.3]
    app = Starlette()
    install_edge_middleware(app, rate_limits=True, clock=lambda: now[0])
    limiter = app.state.rate_limiter
    for i in range(100):
        limiter.hit(f"users|10.0.0.{i}", 90)
    server = _server(app, "127.0.0.1", 0, ConnectionLimits())
    assert asyncio.run(server.on_tick(0)) is False
    assert len(limiter) == 100
    now[0] += 60
    asyncio.run(server.on_tick(100))
    assert len(limiter) == 0
