"""CLI test setup: one real sandbox per module, seeded users, and a runner for the real typer app."""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from horde_users.cli.app import app
from horde_users.sandbox import Sandbox, SeededUser


@dataclass(frozen=True)
class Seeded:
    """The sandbox and its users: an admin, a moderator, two ordinary users and a service account."""

    sandbox: Sandbox
    admin: SeededUser
    moderator: SeededUser
    alice: SeededUser
    bob: SeededUser
    service: SeededUser

    @property
    def url(self) -> str:
        return self.sandbox.url

    def all_keys(self) -> list[str]:
        return [u.api_key for u in (self.admin, self.moderator, self.alice, self.bob, self.service)]


@pytest.fixture(autouse=True)
def journal_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes made by CLI tests are journaled in a temporary file, never in the user's data directory."""
    monkeypatch.setenv("HORDE_USERS_DATABASE", str(tmp_path / "journal.db"))


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    """A sandbox on a free loopback port (rate limits off), shared by the tests of one module."""
    with Sandbox(rate_limits=False) as sandbox:
        yield Seeded(
            sandbox=sandbox,
            admin=sandbox.create_user("root", admin=True, kudos=1000),
            moderator=sandbox.create_user("mia", moderator=True, kudos=500),
            alice=sandbox.create_user("alice", kudos=300),
            bob=sandbox.create_user("bob", kudos=200),
            service=sandbox.create_user("proxy", service=True, kudos=100),
        )


@pytest.fixture
def fresh(seeded: Seeded) -> Callable[..., SeededUser]:
    """Create a new user for one test, so tests that change users do not disturb each other."""
    counter = iter(range(1, 10_000))

    def make(prefix: str = "user", **options: Any) -> SeededUser:
        return seeded.sandbox.create_user(f"{prefix}{next(counter)}", **options)

    return make


class Cli:
    """Runs the real typer app in-process against a URL, with an API key in the environment."""

    def __init__(self, url: str, database: str | None = None) -> None:
        self.url = url
        self.database = database
        self.runner = CliRunner()
        self.outputs: list[str] = []

    def __call__(self, *args: str, key: str | None = None, input: str | None = None, **env: str) -> Result:
        environment: dict[str, str | None] = {
            "AI_HORDE_URL": self.url,
            "AI_HORDE_API_KEY": key,
            "HORDE_USERS_DATABASE": self.database,
            **env,
        }
        result = self.runner.invoke(app, list(args), env=environment, input=input)
        self.outputs.append(result.stdout + result.stderr)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result


@pytest.fixture
def cli(seeded: Seeded, tmp_path: Path) -> Iterator[Cli]:
    """The CLI against the module's sandbox, journaling to a fresh file; no output may show a seeded key."""
    runner = Cli(seeded.url, database=str(tmp_path / "journal.db"))
    yield runner
    for output in runner.outputs:
        for key in seeded.all_keys():
            assert key not in output


def one_error_line(result: Result) -> str:
    """The ``error:`` line of a failed command (there is exactly one, and no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# --- a canned HTTP server for failures the sandbox does not produce on demand ------------------------


class CannedServer:
    """Answers every request with one fixed status, headers and body (for 429, 5xx, HTML pages).

    With ``reads``, a GET is answered 200 with that JSON instead (a user record, so that a journaled
    change gets as far as sending), and only changes meet the canned answer, after ``delay`` seconds.
    """

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str], reads: Any = None, delay: float = 0.0
    ) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if reads is not None and self.command == "GET":
                    self._send(200, json.dumps(reads).encode(), {"Content-Type": "application/json"})
                    return
                outer.requests += 1
                if delay:
                    time.sleep(delay)
                self._send(status, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_DELETE = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that timed out has closed the connection before a delayed answer: expected,
                # and a traceback printed by this thread would land in a later test's captured stderr.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.requests = 0
        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[Callable[..., CannedServer]]:
    servers: list[CannedServer] = []

    def start(
        status: int, body: Any, headers: dict[str, str] | None = None, reads: Any = None, delay: float = 0.0
    ) -> CannedServer:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        content_type = "text/html" if isinstance(body, bytes) else "application/json"
        server = CannedServer(status, raw, {"Content-Type": content_type, **(headers or {})}, reads, delay)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (requests time out)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    finally:
        sock.close()


@pytest.fixture
def closed_url() -> str:
    """A loopback port nobody listens on (connections are refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/api"
