"""A tiny scripted HTTP server on loopback that misbehaves on purpose, for the clients' retry tests.

Each incoming request is recorded, then answered by the next scripted action: a canned reply, a hang
(no answer until the server stops: the client times out), a connection reset, a reply whose body
trickles in byte by byte, a flood of bytes, or raw bytes as given. One request per connection
(``Connection: close``), so every count is exact.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    """Answer with this status, body and headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(data).encode(), merged)

    @classmethod
    def html(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


@dataclass(frozen=True)
class Hang:
    """Read the request and never answer (until the server stops)."""


@dataclass(frozen=True)
class Reset:
    """Read the request, then reset the connection (TCP RST) without answering."""


@dataclass(frozen=True)
class Trickle:
    """Answer with ``reply``, headers at once, then its body one byte every ``interval`` seconds."""

    reply: Reply
    interval: float = 0.5


@dataclass(frozen=True)
class SlowHead:
    """Answer with ``reply``, its head one byte every ``interval`` seconds and the body with the last one."""

    reply: Reply
    interval: float = 0.05


@dataclass(frozen=True)
class Flood:
    """Answer 200 with ``size`` bytes, declared in Content-Length or (``declare=False``) up to the close."""

    size: int
    declare: bool = True


@dataclass(frozen=True)
class Raw:
    """Answer with these bytes exactly (status line, headers and body as given), then close."""

    data: bytes


Action = Reply | Hang | Reset | Trickle | SlowHead | Flood | Raw


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultServer:
    """``with FaultServer() as server: server.script(Reply(...), Hang()); server.url``."""

    def __init__(self) -> None:
        self._actions: deque[Action] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[Seen] = []
        self.sent_bytes: list[int] = []
        """For each trickled or flooded answer, how many body bytes went out before it ended."""
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """A base URL as the clients expect it (ends in ``/api``)."""
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/api"

    def script(self, *actions: Action) -> None:
        """Queue the answers to the next requests, in order."""
        with self._lock:
            self._actions.extend(actions)

    def count(self, method: str | None = None) -> int:
        """How many requests arrived (of one method, when given)."""
        with self._lock:
            return sum(1 for seen in self.requests if method is None or seen.method == method)

    def wait_for_bodies(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` trickled or flooded answers have ended (the client may leave first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.sent_bytes) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"only {len(self.sent_bytes)} of {count} answers ended within {timeout} s")

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handle(self, sock: socket.socket) -> None:
        seen = _read_request(sock)
        if seen is None:
            return
        with self._lock:
            self.requests.append(seen)
            action: Action = (
                self._actions.popleft()
                if self._actions
                else Reply.json(500, {"message": "fault server: no scripted reply left"})
            )
        if isinstance(action, Hang):
            self._stopping.wait(30)
        elif isinstance(action, Reset):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        elif isinstance(action, Trickle):
            reply = action.reply
            _send_head(sock, reply.status, {"Content-Length": str(len(reply.body)), **reply.headers})
            self._send_body(sock, (reply.body[i : i + 1] for i in range(len(reply.body))), action.interval)
        elif isinstance(action, SlowHead):
            reply = action.reply
            head = _head(reply.status, {"Content-Length": str(len(reply.body)), **reply.headers})
            pieces = [head[i : i + 1] for i in range(len(head) - 1)] + [head[-1:] + reply.body]
            self._send_body(sock, iter(pieces), action.interval)
        elif isinstance(action, Raw):
            sock.sendall(action.data)
        elif isinstance(action, Flood):
            length = {"Content-Length": str(action.size)} if action.declare else {}
            _send_head(sock, 200, {"Content-Type": "application/json", **length})
            chunk = b" " * 65536
            chunks = (chunk[: min(len(chunk), action.size - i)] for i in range(0, action.size, len(chunk)))
            self._send_body(sock, chunks, 0.0)
        else:
            _send_head(sock, action.status, {"Content-Length": str(len(action.body)), **action.headers})
            sock.sendall(action.body)

    def _send_body(self, sock: socket.socket, chunks: Iterator[bytes], interval: float) -> None:
        sent = 0
        try:
            for chunk in chunks:
                if self._stopping.wait(interval) if interval else self._stopping.is_set():
                    break
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the client gave up and closed the connection
            pass
        with self._lock:
            self.sent_bytes.append(sent)


def _head(status: int, headers: dict[str, str]) -> bytes:
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    head += [f"{name}: {value}" for name, value in {"Connection": "close", **headers}.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


def _send_head(sock: socket.socket, status: int, headers: dict[str, str]) -> None:
    sock.sendall(_head(status, headers))


def _read_request(sock: socket.socket) -> Seen | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Seen(method, path, headers, body)
