"""Shedding connections that hold the server without sending requests: idle sockets, slowloris, floods.

uvicorn's ``timeout_keep_alive`` only covers the pause between two requests on one connection. Here an
h11 protocol subclass adds the rest:

- **Request deadline:** from the moment a connection opens (or the first byte of its next request after
  a keep-alive pause), the whole request, headers and body, must arrive within ``request_timeout``
  seconds, however slowly it trickles in; otherwise the connection is closed.
- **Connection cap:** past ``max_connections`` open connections, the oldest one that has no response in
  progress is closed to make room, so a flood of idle sockets cannot lock other clients out (by default
  the cap stays below the process's file-descriptor limit).

Shed connections are logged as one warning line per burst (at most one line every ``log_interval``
seconds, with the count), never one line per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from horde_users.sandbox.faults import DROP_EXTENSION

__all__ = [
    "DEFAULT_KEEP_ALIVE_TIMEOUT",
    "DEFAULT_REQUEST_TIMEOUT",
    "ConnectionGuard",
    "ConnectionLimits",
    "default_max_connections",
    "guarded_h11_protocol",
]

logger = logging.getLogger(__name__)


DEFAULT_REQUEST_TIMEOUT = 10.0
"""Seconds a client has to send one whole request (headers and a body of at most 64 KiB)."""
DEFAULT_KEEP_ALIVE_TIMEOUT = 5
"""Whole seconds an idle keep-alive connection stays open between requests (uvicorn's own timer)."""
_RESERVED_DESCRIPTORS = 64
"""File descriptors left for the listening socket, the database, logs and the interpreter itself."""
_FALLBACK_MAX_CONNECTIONS = 1000


def default_max_connections() -> int:
    """The file-descriptor limit minus a reserve (1000 where it cannot be read), at least 16."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return _FALLBACK_MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _FALLBACK_MAX_CONNECTIONS * 10
    return max(16, soft - _RESERVED_DESCRIPTORS)


@dataclass(frozen=True)
class ConnectionLimits:
    """The server's bounds on connections (seconds and a count); see the module docstring."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT
    max_connections: int | None = None
    """None: :func:`default_max_connections`."""

    def __post_init__(self) -> None:
        if self.request_timeout <= 0 or self.keep_alive_timeout <= 0:
            raise ValueError("request_timeout and keep_alive_timeout must be positive")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


class ConnectionGuard:
    """One server's open connections (oldest first) and its count of shed ones, for the protocol."""

    def __init__(
        self,
        limits: ConnectionLimits,
        *,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.max_connections = (
            limits.max_connections if limits.max_connections is not None else default_max_connections()
        )
        self._log_interval = log_interval
        self._clock = clock
        self._open: dict[Guarded, None] = {}
        self._pending = {"timeout": 0, "overflow": 0}
        self._last_log: float | None = None
        self.shed_total = 0
        """Connections closed by the guard since the server started."""

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, connection: Guarded) -> None:
        """Track a new connection; past the cap, close the oldest one that is not answering a request."""
        self._open[connection] = None
        if len(self._open) <= self.max_connections:
            return
        victim = next((c for c in self._open if c is not connection and c.sheddable), connection)
        self.forget(victim)
        victim.close_now()
        self.shed("overflow")

    def forget(self, connection: Guarded) -> None:
        self._open.pop(connection, None)

    def shed(self, reason: str) -> None:
        """Count a connection closed for ``reason`` (``timeout`` or ``overflow``) and maybe log it."""
        self.shed_total += 1
        self._pending[reason] += 1
        last = self._last_log
        if last is None or self._clock() - last >= self._log_interval:
            self.flush_log()

    def flush_log(self) -> None:
        """Log the connections shed since the last line, if any (a server calls this now and then)."""
        timeouts, overflows = self._pending["timeout"], self._pending["overflow"]
        if not timeouts and not overflows:
            return
        self._pending = {"timeout": 0, "overflow": 0}
        self._last_log = self._clock()
        parts = []
        if timeouts:
            parts.append(f"{timeouts} that sent no complete request within {self.limits.request_timeout:g} s")
        if overflows:
            parts.append(f"{overflows} over the limit of {self.max_connections} open connections")
        logger.warning("closed connections: %s", "; ".join(parts))


class Guarded:
    """What both protocols add to uvicorn's: the guard's bookkeeping, the request deadline, the drop hook."""

    guard: ClassVar[ConnectionGuard]
    _deadline: asyncio.TimerHandle | None
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    app: Any

    def _guard_app(self) -> None:
        self._deadline = None
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            # How the sandbox's faults drop a connection without an answer (devtools.py).
            scope.setdefault("extensions", {})[DROP_EXTENSION] = self.close_now
            await inner(scope, receive, send)

        self.app = app

    @property
    def sheddable(self) -> bool:
        """No response is being produced: closing loses nothing the client was promised."""
        return self.cycle is None or bool(self.cycle.response_complete)

    def close_now(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.guard.limits.request_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
            self.guard.shed("timeout")


class GuardedH11Protocol(Guarded, H11Protocol):
    """uvicorn's h11 protocol with a request deadline and the guard's connection cap."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard_app()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self.guard.admit(self)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request arrived in full (or the connection is ending)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.forget(self)
        super().connection_lost(exc)


def guarded_h11_protocol(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` whose connections answer to ``guard``."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})
