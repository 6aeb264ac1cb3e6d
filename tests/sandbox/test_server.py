"""Running the sandbox: create_app as a plain ASGI app, serve() in the foreground, Sandbox options."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from horde_users.sandbox import Sandbox, SandboxStore, create_app


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
