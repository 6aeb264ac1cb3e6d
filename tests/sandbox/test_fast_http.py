"""The httptools protocol answers byte for byte as the h11 one: the same raw requests, sent to one app
served by each protocol, get the same bytes back (the ``Date`` value and the port aside)."""

from __future__ import annotations

import asyncio
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import h11
import pytest

from horde_users.sandbox import SandboxStore, create_app
from horde_users.sandbox.clock import MovableClock
from horde_users.sandbox.connections import ConnectionGuard, ConnectionLimits, guarded_h11_protocol
from horde_users.sandbox.fast_http import H11_BAD_REQUEST, guarded_httptools_protocol
from horde_users.sandbox.server import _bind, _server
from tests.sandbox.frozen_clock import FrozenClock

ProtocolFactory = Callable[[ConnectionGuard], type[asyncio.Protocol]]
KEY = "k" * 22


class Served:
    """One app served on two ports, by the h11 and the httptools protocol."""

    def __init__(self) -> None:
        clock = MovableClock(FrozenClock(datetime(2026, 11, 1, tzinfo=timezone.utc)))
        self.store = SandboxStore(None, clock=clock)
        alice = self.store.create_user("alice", kudos=12)
        self.store.create_user("bob", moderator=True)
        self.keys = {"alice": alice.api_key}
        self.app = create_app(store=self.store, rate_limits=False, test_user_endpoint=True)
        self.ports: dict[str, int] = {}
        self._running: list[tuple[object, threading.Thread, socket.socket]] = []
        for name, factory in (("h11", guarded_h11_protocol), ("httptools", guarded_httptools_protocol)):
            self.ports[name] = self._start(factory)

    def _start(self, factory: ProtocolFactory) -> int:
        server = _server(self.app, "127.0.0.1", 0, ConnectionLimits(request_timeout=5.0), protocol=factory)
        sock = _bind(server.config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.01)
        self._running.append((server, thread, sock))
        return int(sock.getsockname()[1])

    def stop(self) -> None:
        for server, thread, sock in self._running:
            server.should_exit = True  # type: ignore[attr-defined]
            thread.join(10)
            sock.close()
        self.store.close()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    running = Served()
    yield running
    running.stop()


def exchange(port: int, raw: bytes, *, answers: int = 1, chunks: tuple[bytes, ...] = ()) -> bytes:
    """Send ``raw`` (then each of ``chunks`` a moment apart); all bytes received until ``answers``
    responses are complete or the server closes (or stays silent for a second)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        for chunk in chunks:
            time.sleep(0.05)
            conn.sendall(chunk)
        while count_responses(received) < answers:
            readable, _, _ = select.select([conn], [], [], 1.0)
            if not readable:
                break
            try:
                data = conn.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    return received


def count_responses(data: bytes) -> int:
    """Complete responses in ``data`` (by Content-Length; a head without one counts when it is whole)."""
    count = 0
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        found = re.search(rb"(?im)^content-length: *(\d+)", head)
        length = int(found.group(1)) if found else 0
        if b" 100 Continue" in head.split(b"\r\n", 1)[0]:
            data = rest
            continue
        if len(rest) < length:
            break
        count += 1
        data = rest[length:]
    return count


def normalised(data: bytes, port: int) -> bytes:
    data = re.sub(rb"(?im)^date: [^\r]*", b"date: <date>", data)
    return data.replace(f":{port}:".encode(), b":<port>:")


def both(served: Served, raw: bytes, **kwargs: object) -> tuple[bytes, bytes]:
    answers = {
        name: normalised(exchange(port, raw, **kwargs), port)  # type: ignore[arg-type]
        for name, port in served.ports.items()
    }
    return answers["h11"], answers["httptools"]


HOST = b"Host: x\r\n"
CASES: dict[str, bytes] = {
    "get user": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "get user as its owner": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"apikey: <alice>\r\n\r\n",
    "find_user": b"GET /api/v2/find_user HTTP/1.1\r\n" + HOST + b"apikey: <alice>\r\n\r\n",
    "list page": b"GET /api/v2/users?page=1&sort=age HTTP/1.1\r\n" + HOST + b"\r\n",
    "bad page": b"GET /api/v2/users?page=x HTTP/1.1\r\n" + HOST + b"\r\n",
    "heartbeat": b"GET /api/v2/status/heartbeat HTTP/1.1\r\n" + HOST + b"\r\n",
    "unknown route": b"GET /api/v2/nothing HTTP/1.1\r\n" + HOST + b"\r\n",
    "method h11 knows, httptools not": b"FOO /api/v2/find_user HTTP/1.1\r\n" + HOST + b"\r\n",
    "unknown method, unknown route": b"FOO /api/v2/nothing HTTP/1.1\r\n" + HOST + b"\r\n",
    "lowercase method": b"get /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "PROPFIND": b"PROPFIND /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "wrong method": b"POST /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"Content-Length: 0\r\n\r\n",
    "HEAD": b"HEAD /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "OPTIONS": b"OPTIONS /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "Connection: close": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n",
    "HTTP/1.0": b"GET /api/v2/users/1 HTTP/1.0\r\n\r\n",
    "HTTP/1.0 keep-alive": b"GET /api/v2/users/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "HTTP/1.2": b"GET /api/v2/users/1 HTTP/1.2\r\n" + HOST + b"\r\n",
    "HTTP/2.0": b"GET /api/v2/users/1 HTTP/2.0\r\n" + HOST + b"\r\n",
    "no Host": b"GET /api/v2/users/1 HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + HOST + b"\r\n",
    "absolute-form target": b"GET http://x/api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "asterisk target": b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n",
    "raw hash": b"GET /api/v2/users/1#x?page=2 HTTP/1.1\r\n" + HOST + b"\r\n",
    "encoded hash": b"GET /api/v2/users/1%23x HTTP/1.1\r\n" + HOST + b"\r\n",
    "bad percent escape": b"GET /api/v2/users/%FF HTTP/1.1\r\n" + HOST + b"\r\n",
    "non-ASCII target": b"GET /api/v2/users/\xc3\xa9 HTTP/1.1\r\n" + HOST + b"\r\n",
    "space in target": b"GET /api/v2/users/1 x HTTP/1.1\r\n" + HOST + b"\r\n",
    "double space": b"GET  /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "bare LF": b"GET /api/v2/users/1 HTTP/1.1\nHost: x\n\n",
    "leading blank line": b"\r\nGET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"\r\n",
    "space before colon": b"GET /api/v2/users/1 HTTP/1.1\r\nHost : x\r\n\r\n",
    "trailing space in a value": b"GET /api/v2/find_user HTTP/1.1\r\n" + HOST + b"apikey: <alice>  \r\n\r\n",
    "DEL in a value": b"GET /api/v2/find_user HTTP/1.1\r\n" + HOST + b"apikey: a\x7fb\r\n\r\n",
    "obs-text in a value": b"GET /api/v2/find_user HTTP/1.1\r\n" + HOST + b"apikey: caf\xe9\r\n\r\n",
    "folded header": b"GET /api/v2/find_user HTTP/1.1\r\n" + HOST + b"apikey: a\r\n b\r\n\r\n",
    "empty header name": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b": x\r\n\r\n",
    "huge head": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n",
    "PUT": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"apikey: <alice>\r\nContent-Type: application/json\r\nContent-Length: 33\r\n\r\n"
    + b'{"contact": "alice@example.org"}\n',
    "PUT, unreadable body": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"apikey: <alice>\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{{{",
    "PUT, chunked body": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"apikey: <alice>\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"21\r\n"
    + b'{"contact": "alice@example.org"}\n'
    + b"\r\n0\r\n\r\n",
    "gzip transfer coding": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "Content-Length and Transfer-Encoding": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two equal Content-Lengths": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"apikey: <alice>\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "two different Content-Lengths": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "Content-Length not a number": b"PUT /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"Content-Length: x\r\n\r\n",
    "body on a GET": b"GET /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"Content-Length: 4\r\n\r\nabcd",
    "body over 64 KiB": b"PUT /api/v2/users/1 HTTP/1.1\r\n" + HOST + b"Content-Length: 70000\r\n\r\n",
    "Expect: 100-continue": b"PUT /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"apikey: <alice>\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    + b"Expect: 100-continue\r\n\r\n{}",
    "Upgrade": b"GET /api/v2/users/1 HTTP/1.1\r\n"
    + HOST
    + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "test user, bad body": b"POST /api/v2/dev/test-user HTTP/1.1\r\n"
    + HOST
    + b'Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{"username": ""}',
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20,
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_request_gets_h11s_answer(served: Served, case: str) -> None:
    raw = CASES[case].replace(b"<alice>", served.keys["alice"].encode())
    h11_answer, fast_answer = both(served, raw)
    assert fast_answer == h11_answer


def test_a_request_split_over_many_reads_gets_h11s_answer(served: Served) -> None:
    raw = CASES["PUT"].replace(b"<alice>", served.keys["alice"].encode())
    pieces = tuple(raw[i : i + 7] for i in range(0, len(raw), 7))
    h11_answer, fast_answer = both(served, pieces[0], chunks=pieces[1:])
    assert fast_answer == h11_answer
    assert fast_answer.startswith(b"HTTP/1.1 200 OK")
    odd = CASES["method h11 knows, httptools not"]
    h11_answer, fast_answer = both(served, odd[:2], chunks=(odd[2:9], odd[9:]))
    assert fast_answer == h11_answer
    assert fast_answer.startswith(b"HTTP/1.1 405 ")


def test_keep_alive_requests_after_one_handed_to_h11_are_answered_alike(served: Served) -> None:
    raw = CASES["method h11 knows, httptools not"]
    follow = CASES["get user"]
    h11_answer, fast_answer = both(served, raw, chunks=(follow, follow), answers=3)
    assert fast_answer == h11_answer
    assert fast_answer.count(b"HTTP/1.1 200 OK") == 2


def test_pipelined_requests_are_answered_in_order_like_h11(served: Served) -> None:
    get, odd = CASES["get user"], CASES["method h11 knows, httptools not"]
    h11_answer, fast_answer = both(served, get + get + CASES["list page"], answers=3)
    assert fast_answer == h11_answer
    # A request that starts inside the same read as the end of an earlier one is h11's too when
    # httptools reads it; when httptools cannot, its first byte is unknown: the 400 h11 sends for an
    # unreadable request, after the earlier answers.
    fast = exchange(served.ports["httptools"], get + odd, answers=2)
    assert fast.startswith(b"HTTP/1.1 200 OK")
    assert fast.endswith(H11_BAD_REQUEST)


def test_the_bad_request_bytes_are_h11s() -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"\x00\x00\r\n\r\n")
    with pytest.raises(h11.RemoteProtocolError):
        conn.next_event()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    sent = conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
    sent = (sent or b"") + (conn.send(h11.Data(data=b"Invalid HTTP request received.")) or b"")
    sent += conn.send(h11.EndOfMessage()) or b""
    assert sent == H11_BAD_REQUEST
