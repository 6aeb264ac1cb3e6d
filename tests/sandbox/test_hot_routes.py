"""The hot routes answer exactly as FastAPI's routes: the same requests, sent to the app with and without
:class:`~horde_users.sandbox.hot_routes.HotRoutes` over one database, get the same messages back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from fastapi import FastAPI

from horde_users.sandbox import SandboxStore, create_app, state
from horde_users.sandbox.clock import MovableClock
from horde_users.sandbox.hot_routes import HotRoutes
from tests.sandbox.frozen_clock import FrozenClock

Headers = list[tuple[bytes, bytes]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Apps:
    def __init__(self) -> None:
        clock = MovableClock(FrozenClock(datetime(2026, 11, 1, tzinfo=timezone.utc)))
        self.store = SandboxStore(None, clock=clock)
        self.keys = {
            "admin": self.store.create_user("root", admin=True, moderator=True, kudos=50).api_key,
            "mod": self.store.create_user("mod", moderator=True).api_key,
            "alice": self.store.create_user("alice", kudos=12).api_key,
        }
        for n in range(30):
            self.store.create_user(f"user{n}", kudos=n * 3)
        self.keys["shared"] = self.store.create_shared_key(3, name="bot")
        self.hot = create_app(store=self.store, rate_limits=False, admins=["root#1"])
        self.slow = create_app(store=self.store, rate_limits=False, admins=["root#1"])
        kept = [m for m in self.slow.user_middleware if getattr(m, "cls", None) is not HotRoutes]
        self.slow.user_middleware = kept
        assert len(self.slow.user_middleware) == len(self.hot.user_middleware) - 1


@pytest.fixture(scope="module")
def apps() -> Iterator[Apps]:
    running = Apps()
    yield running
    running.store.close()


async def call(app: FastAPI, method: str, target: str, headers: Headers, body: bytes) -> list[Any]:
    path, _, query = target.partition("?")
    chunks = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"x"), *headers],
        "server": ("127.0.0.1", 7001),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }
    await app(scope, receive, send)
    return sent


def requests(keys: dict[str, str]) -> list[tuple[str, str, Headers, bytes]]:
    def key(name: str) -> Headers:
        return [(b"apikey", keys[name].encode())]

    json_type: Headers = [(b"content-type", b"application/json")]
    out: list[tuple[str, str, Headers, bytes]] = []
    for target in ["1", "3", "0", "999", "abc", "3a", "-1", "+3", "%FF", "%20", "03", "99999999999", "3%0A"]:
        for headers in (
            [],
            key("alice"),
            key("mod"),
            key("admin"),
            [(b"apikey", b"")],
            [(b"apikey", b"bad")],
        ):
            out.append(("GET", f"/api/v2/users/{target}", headers, b""))
    out.append(("GET", "/api/v2/users/3", [(b"apikey", b"bad"), *key("alice")], b""))
    out.append(("GET", "/api/v2/users/3", [*key("alice"), (b"apikey", b"bad")], b""))
    for query in [
        "",
        "page=1",
        "page=2",
        "page=0",
        "page=-1",
        "page=x",
        "page=",
        "page=1&page=2",
        "page=2&page=x",
    ]:
        for sort in ["", "&sort=age", "&sort=kudos", "&sort=x", "&sort=age&sort=kudos", "&sort="]:
            out.append(("GET", f"/api/v2/users?{query}{sort}", [], b""))
    for headers in ([], key("alice"), key("admin"), [(b"apikey", b"")], [(b"apikey", b"nope")]):
        out.append(("GET", "/api/v2/find_user", headers, b""))
    out.append(("GET", "/api/v2/find_user", [(b"apikey", keys["shared"].encode())], b""))
    out.append(("GET", "/api/v2/status/heartbeat", [], b""))
    out.append(("HEAD", "/api/v2/users/3", [], b""))
    out.append(("HEAD", "/api/v2/users?page=1", [], b""))
    bodies = [
        b'{"kudos": 5}',
        b'{"kudos": 1.5}',
        b'{"trusted": true, "contact": "alice@example.org"}',
        b'{"moderator": true}',
        b'{"username": "newname"}',
        b'{"concurrency": "x"}',
        b'{"reset_suspicion": true, "monthly_kudos": 3}',
        b"{}",
        b"[]",
        b"{{",
        b"",
    ]
    for who in ("admin", "mod", "alice"):
        for body in bodies:
            for target in ("3", "1", "999", "x"):
                out.append(("PUT", f"/api/v2/users/{target}", [*key(who), *json_type], body))
    out.append(("PUT", "/api/v2/users/3", key("admin"), b'{"kudos": 1}'))
    out.append(("PUT", "/api/v2/users/3", [*key("admin"), (b"content-type", b"text/plain")], b'{"kudos": 1}'))
    out.append(("PUT", "/api/v2/users/3", json_type, b'{"kudos": 1}'))
    return out


@pytest.mark.anyio
async def test_hot_routes_answer_like_fastapi(apps: Apps) -> None:
    cases = requests(apps.keys)
    for method, target, headers, body in cases:
        before = state.take_snapshot(apps.store)
        hot = await call(apps.hot, method, target, headers, body)
        after_hot = state.take_snapshot(apps.store)
        state.restore(apps.store, before)
        slow = await call(apps.slow, method, target, headers, body)
        assert hot == slow, f"{method} {target} {headers} {body!r}"
        assert state.take_snapshot(apps.store) == after_hot, f"{method} {target}: stored state"
    assert len(cases) > 250


@pytest.mark.anyio
async def test_the_hot_routes_take_only_their_routes_and_methods(apps: Apps) -> None:
    for method, target in [
        ("DELETE", "/api/v2/users/3"),
        ("POST", "/api/v2/users/3"),
        ("GET", "/api/v2/nothing"),
    ]:
        hot = await call(apps.hot, method, target, [], b"")
        slow = await call(apps.slow, method, target, [], b"")
        assert hot == slow
