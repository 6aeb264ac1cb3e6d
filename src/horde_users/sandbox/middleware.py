"""The sandbox's edge: CORS and ``Horde-Node`` headers, CORS preflights, the body cap and rate limits.

One pure ASGI middleware (no ``BaseHTTPMiddleware``): it adds headers to ``http.response.start`` and
passes every other message through untouched, so streamed responses stay streamed. Per request, in order
(docs/users-api.md §1.5, §3.1 shape g, §4.6, §10):

0. Fragment: a raw ``#`` in the request target starts a fragment, which a real server never sees (clients
   strip it); everything from it on is dropped, path and query alike, so ``/users/1#x`` is user 1.
1. Rate limit (limited routes and methods only; never a preflight): count the request; over the limit
   answers 429 at once, so a 429 wins over every other outcome.
2. Body cap: a declared ``Content-Length`` over 65536 bytes answers 413 at once; otherwise a body that is
   sent is read up front (at most 65537 bytes) and a longer stream answers 413 too. The app gets the body
   replayed, so it is refused before anything parses it.
3. CORS preflight: ``OPTIONS`` on a route of §1.1 answers 200 with an empty body and ``Allow``.
4. The app. ``HEAD`` on a §1.1 route that serves GET reaches the app as GET and loses the body, as on the
   real server (its ``Allow`` lists HEAD).

Every response gets the CORS and ``Horde-Node`` headers, and a rate-limited route's responses (4xx, 413,
429 and 500 included) the ``X-RateLimit-*`` and ``Retry-After`` headers.

Bucket keys stay small whatever the request says: an address or path text longer than a real one is
replaced by a fixed-size digest (still one bucket per distinct text), so unique long paths or
``X-Forwarded-For`` values cannot fill memory; the limiter caps how many buckets it keeps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

import anyio.to_thread

from horde_users._version import __version__
from horde_users.sandbox import routes
from horde_users.sandbox.ratelimit import FixedWindowRateLimiter, RateLimitDecision
from horde_users.sandbox.routes import RouteSpec

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CORS_HEADERS",
    "MAX_BODY_BYTES",
    "MAX_KEY_PART_CHARS",
    "EdgeMiddleware",
    "bounded",
    "client_address",
    "install_edge_middleware",
    "without_fragment",
]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 65536
"""Request bodies over this many bytes answer 413 (sandbox only, docs/users-api.md §3.1 shape g)."""

MAX_KEY_PART_CHARS = 64
"""An address or path longer than this counts in a bucket named by its digest (IPv6 text is 45 at most)."""

CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, GET, OPTIONS, PUT, DELETE, PATCH"),
    (
        b"access-control-allow-headers",
        b"Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, apikey, Client-Agent, "
        b"X-Fields, X-Forwarded-For, Proxied-For, Proxy-Authorization",
    ),
)
"""The fixed ``Access-Control-*`` headers of every response (docs/users-api.md §1.5)."""

_JSON = b"application/json; charset=utf-8"
_HTML = b"text/html; charset=utf-8"
_OWN_HEADER_NAMES = frozenset(
    [name for name, _ in CORS_HEADERS]
    + [b"horde-node", b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset", b"retry-after"]
)
_KEPT_ON_503 = frozenset([b"retry-after"])


def _json_body(message: str) -> bytes:
    # The real server's form: ", " / ": " separators and a trailing newline.
    return json.dumps({"message": message}).encode() + b"\n"


def bounded(text: str) -> str:
    """``text`` itself when short, else ``#`` and a 32-character digest of it (distinct texts stay apart)."""
    if len(text) <= MAX_KEY_PART_CHARS:
        return text
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"#{digest}"


def without_fragment(scope: Scope) -> Scope:
    """``scope`` with everything from a raw ``#`` in the request target on dropped (path and query).

    The raw target is what tells: a ``%23`` is part of the path and stays. The decoded path is rebuilt
    from the shortened raw path the way the server decoded the whole one.
    """
    raw_path = scope.get("raw_path")
    query: bytes = scope.get("query_string", b"")
    if raw_path is not None and b"#" in raw_path:
        raw_path = raw_path.split(b"#", 1)[0]
        path = unquote(raw_path.decode("latin-1"))  # the raw path already starts with any root path
        return {**scope, "raw_path": raw_path, "path": path, "query_string": b""}
    if b"#" in query:
        return {**scope, "query_string": query.split(b"#", 1)[0]}
    return scope


def client_address(scope: Scope) -> str:
    """The client address of docs/users-api.md §4.6: the last ``X-Forwarded-For`` entry, else the peer."""
    forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
    for entry in reversed(forwarded.split(b",")):
        address = entry.strip()
        if address:
            return address.decode("latin-1")
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class _Request:
    """What the edge reads from a request's headers, collected in one pass."""

    __slots__ = ("content_length", "has_body", "proxied_for", "proxy_passkey")

    def __init__(self, scope: Scope) -> None:
        self.content_length: int | None = None
        self.has_body = False
        self.proxy_passkey = ""
        self.proxied_for = ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.has_body = True  # unknown length: count the stream instead
                else:
                    self.has_body = self.has_body or self.content_length > 0
            elif name == b"transfer-encoding":
                self.has_body = True
            elif name == b"proxy-authorization":
                self.proxy_passkey = value.decode("latin-1").strip()
            elif name == b"proxied-for":
                self.proxied_for = value.decode("latin-1").strip()


class EdgeMiddleware:
    """Pure ASGI middleware; see the module docstring. Use :func:`install_edge_middleware` to add it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_limits: bool,
        proxy_passkey_owner_is_service: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
        limiter: FixedWindowRateLimiter | None = None,
    ) -> None:
        self.app = app
        if rate_limits and limiter is None:
            limiter = FixedWindowRateLimiter(clock=clock)
        self.limiter = limiter if rate_limits else None
        self.proxy_passkey_owner_is_service = proxy_passkey_owner_is_service
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        self._node_headers: dict[tuple[object, ...] | None, tuple[tuple[bytes, bytes], ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = without_fragment(scope)
        route = routes.match(scope["path"])
        method: str = scope["method"]
        info = _Request(scope)
        decision: RateLimitDecision | None = None
        if (
            route is not None
            and route.limit is not None
            and method in route.limited_methods
            and self.limiter is not None
        ):
            key = await self._bucket_key(scope, route, method, info)
            decision = self.limiter.hit(key, route.limit)
        elif self.limiter is not None:
            self.limiter.purge()  # any request sweeps expired windows (a hit does it as it counts)

        fixed = self._fixed_headers(scope)
        clock = self.clock
        started = False
        head = method == "HEAD"

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # A 503 (the database stayed locked) keeps the app's Retry-After: when to try again.
                kept = _KEPT_ON_503 if message["status"] == 503 else frozenset()
                headers = [
                    (k, v)
                    for k, v in message.get("headers", ())
                    if k.lower() not in _OWN_HEADER_NAMES or k.lower() in kept
                ]
                headers.extend(fixed)
                if decision is not None:
                    headers.extend(h for h in decision.headers(clock()) if h[0] not in kept)
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}  # a HEAD answer has the GET headers and no body
            await send(message)

        if decision is not None and not decision.allowed:
            await _respond(send_with_headers, 429, _json_body(decision.message))
            return
        if info.content_length is not None and info.content_length > self.max_body_bytes:
            await _respond(send_with_headers, 413, _json_body("Payload Too Large"))
            return
        if info.has_body:
            body = await self._read_body(receive)
            if body is None:  # the client went away
                return
            if len(body) > self.max_body_bytes:
                await _respond(send_with_headers, 413, _json_body("Payload Too Large"))
                return
            receive = _replay(body, receive)
        if method == "OPTIONS" and route is not None:
            await _respond(send_with_headers, 200, b"", content_type=_HTML, extra=((b"allow", route.allow),))
            return
        if head and route is not None and route.serves_get:
            scope = {**scope, "method": "GET"}  # HEAD is GET without the body, as on the real server
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Keep the contract's shape (d) and our headers on a crash; re-raise so the server logs it
            # (Starlette's ServerErrorMiddleware sees the response started and does not send another).
            if not started:
                await _respond(send_with_headers, 500, _json_body("Internal Server Error"))
            raise

    async def _bucket_key(self, scope: Scope, route: RouteSpec, method: str, info: _Request) -> str:
        address = bounded(client_address(scope))
        if not route.per_path:
            return f"{route.name}|{address}"
        is_service = self.proxy_passkey_owner_is_service
        if info.proxy_passkey and info.proxied_for and is_service is not None:
            try:
                # The callback may query the database: keep it off the event loop.
                if await anyio.to_thread.run_sync(is_service, info.proxy_passkey):
                    address = bounded(info.proxied_for)
            except Exception as exc:
                # Count under the connecting address; a broken store shows up in the route's own answer.
                # Only the type is logged: database errors can quote their parameters (the passkey).
                logger.warning("proxy passkey check failed (%s); counting by address", type(exc).__name__)
        return f"{route.name}|{address}@{method}@{bounded(scope['path'])}"

    async def _read_body(self, receive: Receive) -> bytes | None:
        """Read the whole body, or stop once it exceeds the cap; None when the client disconnected."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk: bytes = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes or not message.get("more_body", False):
                return b"".join(chunks)

    def _fixed_headers(self, scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
        server = scope.get("server")
        key = tuple(server) if server else None
        cached = self._node_headers.get(key)
        if cached is None:
            host, port = key if key else ("localhost", None)
            where = f"{host}:{port}" if port is not None else str(host)
            node = f"{where}:horde-users-{__version__}".encode("latin-1", "replace")
            cached = (*CORS_HEADERS, (b"horde-node", node))
            if len(self._node_headers) < 64:
                self._node_headers[key] = cached
        return cached


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read body once, then defers to the real one."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = _JSON,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_edge_middleware(
    app: Starlette,
    *,
    rate_limits: bool,
    proxy_passkey_owner_is_service: Callable[[str], bool] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Add the edge middleware to ``app`` as its outermost user middleware (call it after any other).

    ``rate_limits=False`` turns counting and the rate-limit headers off. ``proxy_passkey_owner_is_service``
    answers whether a proxy passkey belongs to a service account (then ``/users/{id}`` requests count
    under their ``Proxied-For`` address); it runs in a worker thread. ``clock`` gives Unix seconds.
    The limiter (None when off) is ``app.state.rate_limiter``, so a server can purge expired windows.
    """
    limiter = FixedWindowRateLimiter(clock=clock) if rate_limits else None
    app.state.rate_limiter = limiter
    app.add_middleware(
        EdgeMiddleware,
        rate_limits=rate_limits,
        proxy_passkey_owner_is_service=proxy_passkey_owner_is_service,
        clock=clock,
        limiter=limiter,
    )
