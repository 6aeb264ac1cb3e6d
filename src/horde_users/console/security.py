"""What keeps a moderator's console to that moderator: login token, session cookie, CSRF, Host, headers.

The console holds a moderator's API key, so a page must only ever be served to the person who started
it. The printed address carries a one-time login token; redeeming it sets an HttpOnly, SameSite=Strict
session cookie with a fresh random id, and the token stops working. Every state-changing request must
carry the session's CSRF token in a form field. Requests naming another ``Host`` are refused, so a page
on some other site cannot reach the console through DNS rebinding. Every response carries a strict
Content-Security-Policy (our own scripts only, no inline code) and refuses framing.

Secrets are compared with :func:`hmac.compare_digest`; sessions are looked up by a SHA-256 of their id,
so the lookup itself reveals nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf_token"
"""The name of the hidden form field that carries the CSRF token."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Session:
    """One logged-in browser: its CSRF token (the session id itself is only kept hashed)."""

    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def csrf_matches(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is this session's CSRF token (constant-time)."""
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), self.csrf_token.encode())


class Gatekeeper:
    """The console's login token and sessions; thread-safe (routes run in a thread pool)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", login_token: str | None = None) -> None:
        self._lock = threading.Lock()
        self._login_token: str | None = login_token or secrets.token_urlsafe(32)
        self._sessions: dict[str, Session] = {}
        self.host = host
        self.port = port

    def __repr__(self) -> str:
        return f"Gatekeeper(host={self.host!r}, port={self.port}, sessions={len(self._sessions)})"

    @property
    def login_token(self) -> str | None:
        """The token to print in the console's address, or None once it has been used."""
        return self._login_token

    @property
    def cookie_name(self) -> str:
        """Cookies ignore ports, so the name carries the port: two consoles never share a session."""
        return f"horde_console_{self.port}"

    def allowed_hosts(self) -> frozenset[str]:
        """The ``Host`` values this console answers to (its own address, by IP or by ``localhost``)."""
        names = {"127.0.0.1", "localhost", "[::1]", self.host if ":" not in self.host else f"[{self.host}]"}
        return frozenset(f"{name}:{self.port}".lower() for name in names)

    def host_allowed(self, host_header: str | None) -> bool:
        return host_header is not None and host_header.strip().lower() in self.allowed_hosts()

    def redeem(self, token: str | None) -> str | None:
        """Exchange the one-time login token for a new session id; None when wrong or already used."""
        if not token:
            return None
        with self._lock:
            expected = self._login_token
            if expected is None or not hmac.compare_digest(
                token.encode("utf-8", "surrogatepass"), expected.encode()
            ):
                return None
            self._login_token = None
            session_id = secrets.token_urlsafe(32)
            self._sessions[_digest(session_id)] = Session()
            return session_id

    def session(self, session_id: str | None) -> Session | None:
        """The session with this id, if any."""
        if not session_id:
            return None
        with self._lock:
            return self._sessions.get(_digest(session_id))

    def end(self, session_id: str | None) -> None:
        """Log a session out."""
        if session_id:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)


class HostAndHeadersMiddleware:
    """Refuse foreign ``Host`` headers (DNS rebinding) and add the security headers to every response."""

    def __init__(self, app: ASGIApp, gatekeeper: Gatekeeper) -> None:
        self.app = app
        self.gatekeeper = gatekeeper

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope["headers"], b"host")
        if not self.gatekeeper.host_allowed(host):
            await _plain(send, 421, "This console answers only to its own address (127.0.0.1 or localhost).")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = frozenset(name for name, _ in SECURITY_HEADERS)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
