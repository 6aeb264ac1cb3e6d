"""Console tests: a real sandbox, a console on a real port, and clients that log in like a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from horde_users.console.context import ConsoleConfig
from horde_users.console.server import ConsoleServer
from horde_users.sandbox import Sandbox
from horde_users.sandbox.store import SeededUser

HOSTILE_NAME = "<img src=x onerror=alert(1)>"


@dataclass
class World:
    """The sandbox and the accounts the console tests use (keys stay in this object)."""

    sandbox: Sandbox
    moderator: SeededUser
    plain: SeededUser
    hostile: SeededUser
    target: SeededUser

    def api(self, key: str | None = None) -> httpx.Client:
        """A raw HTTP client on the sandbox, to check accounts behind the console's back."""
        headers = {"apikey": key} if key else {}
        return httpx.Client(base_url=self.sandbox.url, headers=headers, timeout=10)

    def account(self, user_id: int) -> dict[str, object]:
        """The moderator's view of an account, read over the API."""
        with self.api(self.moderator.api_key) as api:
            response = api.get(f"/v2/users/{user_id}")
            response.raise_for_status()
            data: dict[str, object] = response.json()
            return data


@pytest.fixture
def world() -> Iterator[World]:
    with Sandbox() as sandbox:
        yield World(
            sandbox=sandbox,
            moderator=sandbox.create_user("modo", moderator=True),
            plain=sandbox.create_user("plain"),
            hostile=sandbox.create_user(HOSTILE_NAME),
            target=sandbox.create_user("target"),
        )


def start_console(world: World, tmp_path: Path, key: str | None, **config: object) -> ConsoleServer:
    settings = ConsoleConfig(url=world.sandbox.url, api_key=key, database=str(tmp_path / "moderation.db"))
    for name, value in config.items():
        setattr(settings, name, value)
    return ConsoleServer(settings).start()


@pytest.fixture
def console(world: World, tmp_path: Path) -> Iterator[ConsoleServer]:
    """A console holding the moderator's key."""
    server = start_console(world, tmp_path, world.moderator.api_key)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def login(server: ConsoleServer) -> Iterator[httpx.Client]:
    """An HTTP client that redeemed the console's login token (so it holds the session cookie)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get(server.login_url)
        assert response.status_code == 303, response.text
        yield client


@pytest.fixture
def browser_client(console: ConsoleServer) -> Iterator[httpx.Client]:
    with login(console) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)
