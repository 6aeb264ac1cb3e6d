"""The sandbox as a test double: faults, the request log, the movable clock and state control, in
Python (:class:`DevTools`, reached through ``Sandbox``) and over HTTP under ``/api/v2/dev/`` when the
sandbox was started with its development endpoints (never by default).

:class:`TestDoubleMiddleware` is the app's outermost layer: it logs every request it answers, answers
the next matching fault before the edge (rate limits) and the app run, and serves the development
endpoints. Those endpoints take loopback callers only, like ``POST /api/v2/dev/test-user``, and are not
logged themselves (so following the log does not fill it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio

from horde_users.sandbox import state
from horde_users.sandbox.clock import MovableClock
from horde_users.sandbox.faults import DROP_EXTENSION, FaultSet
from horde_users.sandbox.middleware import CORS_HEADERS, without_fragment
from horde_users.sandbox.ratelimit import FixedWindowRateLimiter
from horde_users.sandbox.requestlog import RequestLog, RequestRecord, select_records

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from horde_users.sandbox.store import SandboxStore

__all__ = ["DEV_PREFIX", "DROP_EXTENSION", "DevTools", "TestDoubleMiddleware"]

DEV_PREFIX = "/api/v2/dev/"
_TEST_USER_PATH = "/api/v2/dev/test-user"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_MAX_SNAPSHOTS = 64


@dataclass
class DevTools:
    """One sandbox's faults, request log and clock, and control of its state."""

    store: SandboxStore
    clock: Callable[[], float]
    faults: FaultSet = field(default_factory=FaultSet)
    requests: RequestLog = field(default_factory=RequestLog)
    limiter: FixedWindowRateLimiter | None = None
    _snapshots: dict[str, state.Snapshot] = field(default_factory=dict)
    _snapshot_ids: int = 0

    def reset(self) -> None:
        """Empty the database (as new, same settings); also clear faults, the log and rate-limit windows."""
        state.clear(self.store)
        self.faults.clear()
        self.requests.clear()
        if self.limiter is not None:
            self.limiter.reset()

    def snapshot(self) -> state.Snapshot:
        """A copy of every table's rows, for :meth:`restore`."""
        return state.take_snapshot(self.store)

    def restore(self, snapshot: state.Snapshot) -> None:
        """Bring the database back to ``snapshot`` exactly (faults, the log and the clock stay)."""
        state.restore(self.store, snapshot)

    def keep_snapshot(self) -> str:
        """Take a snapshot kept here under a new id (the HTTP form); the oldest go past 64."""
        self._snapshot_ids += 1
        name = str(self._snapshot_ids)
        self._snapshots[name] = self.snapshot()
        while len(self._snapshots) > _MAX_SNAPSHOTS:
            del self._snapshots[next(iter(self._snapshots))]
        return name

    def kept_snapshot(self, name: str) -> state.Snapshot | None:
        return self._snapshots.get(name)


class _BadInput(Exception):
    """A development endpoint's 400: its message is the answer's ``message``."""


class TestDoubleMiddleware:
    """Pure ASGI middleware; see the module docstring."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: ASGIApp, *, tools: DevTools, dev_endpoints: bool) -> None:
        self.app = app
        self.tools = tools
        self.dev_endpoints = dev_endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = without_fragment(scope)
        path: str = seen["path"]
        if self.dev_endpoints and path.startswith(DEV_PREFIX) and path != _TEST_USER_PATH:
            await self._dev_endpoint(seen, receive, send)
            return
        tools = self.tools
        arrived = tools.clock()
        started = time.perf_counter()
        method: str = scope["method"]
        status: int | None = None
        body_size = 0
        declared = 0
        api_key: str | None = None
        for name, value in scope["headers"]:
            if name == b"apikey":
                api_key = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                declared = int(value)

        async def counting_receive() -> Message:
            nonlocal body_size
            message = await receive()
            if message["type"] == "http.request":
                body_size += len(message.get("body", b""))
            return message

        fault = tools.faults.take(method, path, api_key)
        logged = False

        def log() -> None:
            # Logged before the answer's last byte leaves (or the connection drops), so a client that
            # has its answer always finds the request in the log.
            nonlocal logged
            if logged:
                return
            logged = True
            tools.requests.append(
                RequestRecord(
                    time=arrived,
                    method=method,
                    path=path,
                    query=seen.get("query_string", b"").decode("latin-1"),
                    status=status,
                    duration=time.perf_counter() - started,
                    raw_headers=tuple(scope["headers"]),
                    body_size=max(body_size, declared),
                    fault=fault.id if fault is not None else None,
                )
            )

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log()
            await send(message)

        try:
            if fault is None:
                await self.app(scope, counting_receive, recording_send)
                return
            if fault.delay:
                await anyio.sleep(fault.delay)
            if fault.drop:
                log()
                await _drop(scope, receive)
                return
            answer = fault.response()
            if answer is None:
                await self.app(scope, counting_receive, recording_send)
                return
            code, body, headers = answer
            await _respond(recording_send, code, b"" if method == "HEAD" else body, headers)
        finally:
            log()

    # --------------------------------------------------------------------- development endpoints

    async def _dev_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if client is None or client[0] not in _LOOPBACK:
            await _respond_json(send, 403, {"message": "Forbidden"})
            return
        name = scope["path"][len(DEV_PREFIX) :]
        method: str = scope["method"]
        handler = _HANDLERS.get(name)
        if handler is None:
            await _respond_json(send, 404, {"message": "Not Found"})
            return
        methods = handler.methods
        if method == "OPTIONS":
            allow = ", ".join([*methods, "OPTIONS"]).encode()
            await _respond(send, 200, b"", [(b"allow", allow)])
            return
        if method not in methods:
            allow = ", ".join([*methods, "OPTIONS"]).encode()
            await _respond_json(
                send,
                405,
                {"message": "The method is not allowed for the requested URL."},
                [(b"allow", allow)],
            )
            return
        raw = await _read_body(receive)
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        try:
            body = _parse_body(raw)
            status, payload = await anyio.to_thread.run_sync(handler.run, self.tools, method, query, body)
        except _BadInput as exc:
            await _respond_json(send, 400, {"message": str(exc)})
            return
        await _respond_json(send, status, payload)


@dataclass(frozen=True)
class _Handler:
    methods: tuple[str, ...]
    run: Callable[[DevTools, str, dict[str, str], Any], tuple[int, Any]]


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise _BadInput("the body is not valid JSON") from None


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _BadInput("the body must be a JSON object")
    return body


def _faults(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    if method == "GET":
        return 200, [fault.describe() for fault in tools.faults.list()]
    if method == "DELETE":
        tools.faults.clear()
        return 200, {"message": "OK"}
    specs = body if isinstance(body, list) else [_object(body)]
    try:
        added = tools.faults.add_many(specs)
    except (TypeError, ValueError) as exc:
        raise _BadInput(str(exc)) from None
    return 201, [fault.describe() for fault in added] if isinstance(body, list) else added[0].describe()


def _requests(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    if method == "DELETE":
        tools.requests.clear()
        return 200, {"message": "OK"}
    unknown = set(query) - {"method", "path", "status", "after"}
    if unknown:
        raise _BadInput(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    try:
        status = int(query["status"]) if "status" in query else None
        after = int(query["after"]) if "after" in query else 0
        if after < 0:
            raise ValueError
    except ValueError:
        raise _BadInput("status and after must be whole numbers (after: 0 or more)") from None
    entries, total = tools.requests.since(after)
    try:
        chosen = select_records(entries, method=query.get("method"), path=query.get("path"), status=status)
    except ValueError as exc:
        raise _BadInput(str(exc)) from None
    return 200, {"total": total, "requests": [r.as_dict() for r in chosen]}


def _clock(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    clock = tools.clock
    if method == "POST":
        values = _object(body)
        unknown = set(values) - {"advance"}
        if unknown or "advance" not in values:
            raise _BadInput('the body is {"advance": seconds}')
        if not isinstance(clock, MovableClock):
            raise _BadInput("this sandbox's clock cannot be moved (it was given a fixed clock)")
        seconds = values["advance"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise _BadInput("advance must be a number of seconds")
        try:
            clock.advance(seconds)
        except ValueError as exc:
            raise _BadInput(str(exc)) from None
    offset = clock.offset if isinstance(clock, MovableClock) else 0.0
    return 200, {"now": clock(), "offset": offset}


def _reset(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    tools.reset()
    return 200, {"message": "OK"}


def _snapshot(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    return 201, {"snapshot": tools.keep_snapshot()}


def _restore(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    name = _object(body).get("snapshot")
    if not isinstance(name, str):
        raise _BadInput('the body is {"snapshot": "<id from POST /api/v2/dev/snapshot>"}')
    snapshot = tools.kept_snapshot(name)
    if snapshot is None:
        raise _BadInput(f"no snapshot {name!r}")
    tools.restore(snapshot)
    return 200, {"message": "OK"}


def _users(tools: DevTools, method: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    show = query.get("show_secrets", "").lower() in ("1", "true", "yes")
    return 200, state.list_users(tools.store, show_secrets=show)


_HANDLERS: dict[str, _Handler] = {
    "faults": _Handler(("GET", "POST", "DELETE"), _faults),
    "requests": _Handler(("GET", "DELETE"), _requests),
    "clock": _Handler(("GET", "POST"), _clock),
    "reset": _Handler(("POST",), _reset),
    "snapshot": _Handler(("POST",), _snapshot),
    "restore": _Handler(("POST",), _restore),
    "users": _Handler(("GET",), _users),
}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without an answer, then wait (bounded) until the server saw it go."""
    drop = scope.get("extensions", {}).get(DROP_EXTENSION)
    if drop is None:
        raise ConnectionResetError("fault: connection dropped (this server cannot close it cleanly)")
    drop()
    with anyio.move_on_after(5):
        while (await receive())["type"] != "http.disconnect":
            pass


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    all_headers = [*headers, (b"content-length", str(len(body)).encode()), *CORS_HEADERS]
    if not any(name == b"content-type" for name, _ in headers):
        all_headers.append((b"content-type", b"application/json; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _respond_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _respond(send, status, json.dumps(payload).encode() + b"\n", headers or [])
