"""Connections that hold the sandbox without finishing a request are shed, over real sockets.

The bounds are short here (1 s); waits for the server to act are bounded generously.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from horde_users.sandbox import Sandbox
from horde_users.sandbox.connections import ConnectionLimits, default_max_connections

GENEROUS = 30.0
"""Seconds a test waits at most for the server to close a connection."""


@pytest.fixture
def short_bounds() -> Iterator[Sandbox]:
    with Sandbox(request_timeout=1.0, keep_alive_timeout=1) as running:
        yield running


def connect(sandbox: Sandbox) -> socket.socket:
    return socket.create_connection((sandbox.host, sandbox.port), timeout=GENEROUS)


def closed_by_server(conn: socket.socket, trickle: bytes = b"") -> bool:
    """Wait (sending ``trickle`` a byte every 0.2 s, like slowloris) until the server closes ``conn``."""
    deadline = time.monotonic() + GENEROUS
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(trickle):
                conn.sendall(trickle[sent : sent + 1])
                sent += 1
            readable, _, _ = select.select([conn], [], [], 0.2)
            if readable and conn.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_an_idle_connection_is_closed_while_others_are_served(short_bounds: Sandbox) -> None:
    with connect(short_bounds) as idle:
        assert httpx.get(f"{short_bounds.url}/v2/status/heartbeat").json()["message"] == "OK"
        assert closed_by_server(idle)
        assert httpx.get(f"{short_bounds.url}/v2/status/heartbeat").json()["message"] == "OK"


def test_a_slowloris_connection_is_closed_however_steadily_it_sends(
    short_bounds: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="horde_users.sandbox.connections")
    endless = b"GET /api/v2/status/heartbeat HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 10_000
    with connect(short_bounds) as slow:
        assert closed_by_server(slow, trickle=endless)
    assert "closed connections: 1 that sent no complete request within 1 s" in caplog.text
    assert httpx.get(f"{short_bounds.url}/v2/status/heartbeat").status_code == 200


def test_a_slow_body_is_cut_off_too(short_bounds: Sandbox) -> None:
    head = b"PUT /api/v2/users/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with connect(short_bounds) as slow:
        slow.sendall(head + b"Content-Length: 60000\r\n\r\n")
        assert closed_by_server(slow, trickle=b"{" * 60_000)


def test_keep_alive_requests_are_served_then_the_idle_connection_closes(short_bounds: Sandbox) -> None:
    request = b"GET /api/v2/status/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(short_bounds) as conn:
        for _ in range(3):  # each request starts a fresh deadline
            conn.sendall(request)
            answer = b""
            while not answer.endswith(b"}\n"):
                answer += conn.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(conn)


def test_past_the_connection_cap_the_oldest_idle_connection_makes_room(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="horde_users.sandbox.connections")
    with Sandbox(request_timeout=600, max_connections=8) as sandbox:
        idle = [connect(sandbox) for _ in range(12)]
        try:
            with httpx.Client(base_url=sandbox.url) as http:
                for _ in range(3):
                    assert http.get("/v2/status/heartbeat").json()["message"] == "OK"
            assert all(closed_by_server(conn) for conn in idle[:5])  # 12 + 1 open, 8 allowed
            for conn in idle[5:]:
                readable, _, _ = select.select([conn], [], [], 0)
                assert not readable  # the newer ones are still open
        finally:
            for conn in idle:
                conn.close()
    assert "over the limit of 8 open connections" in caplog.text


def test_default_connection_cap_stays_under_the_descriptor_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = default_max_connections()
    assert cap >= 16
    assert soft == resource.RLIM_INFINITY or cap < soft


@pytest.mark.parametrize(
    "kwargs", [{"request_timeout": 0}, {"keep_alive_timeout": 0}, {"max_connections": 0}]
)
def test_nonsense_bounds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ConnectionLimits(**kwargs)  # type: ignore[arg-type]
