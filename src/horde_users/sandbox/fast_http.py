"""The sandbox's HTTP/1.1 protocol: uvicorn's httptools one (a C parser), answering exactly as h11 would.

The sandbox first spoke h11 (pure Python, about half of a request's time). httptools parses the same
requests several times faster, but it is not the same parser: it refuses methods it does not know
(``FOO``, which the contract answers with 405), reads absolute-form targets and header values
differently, and lets through some requests h11 refuses. So this protocol only parses what both read
alike: an ordinary HTTP/1.1 request (origin-form target of printable ASCII, one ``Host``, no
``Transfer-Encoding``, ``Expect`` or ``Upgrade``, plain header values, a head under h11's 16 KiB).
Anything else, and any request httptools cannot parse, goes to uvicorn's h11 protocol (with the same
guard, :mod:`~horde_users.sandbox.connections`), which is handed the connection and the request's
bytes from its first one and serves the connection from then on: the answer is h11's own.

Pipelined requests (sent before the answer to the one before) are the exception: one that starts
inside the same read as the end of an earlier one has no known first byte, so it cannot be handed
over. When httptools cannot parse it, the answer is the 400 h11 sends for an unreadable request (then
the connection closes); its request line is not compared with h11's reading either.

Responses are written as h11 writes them (h11 spells the header it adds ``Connection: close``); a
response's head and body leave in one write.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from horde_users.sandbox.connections import ConnectionGuard, Guarded, GuardedH11Protocol

__all__ = ["H11_BAD_REQUEST", "GuardedHttpToolsProtocol", "guarded_httptools_protocol"]

H11_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"Invalid HTTP request received."
)
"""What uvicorn's h11 protocol sends for a request it cannot parse (then it closes the connection)."""

MAX_HEAD_BYTES = 16 * 1024
"""h11's limit on a request's head (its ``max_incomplete_event_size``); longer ones go to h11."""
_MAX_PENDING_BYTES = 256 * 1024
"""The bytes of one request kept for a hand-over (a head and a 64 KiB body fit); past it, the 400."""
_TARGET = re.compile(rb"/[\x21-\x7e]*")
"""An origin-form target as h11 reads it (h11 takes any printable ASCII)."""
_UNUSUAL_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$")
_HANDED_OVER_HEADERS = frozenset({b"transfer-encoding", b"expect", b"upgrade"})
_LOWER_CLOSE = b"\r\nconnection: close\r\n\r\n"
_H11_CLOSE = b"\r\nConnection: close\r\n\r\n"


class _HandOver(Exception):
    """Raised in a parser callback: this request is h11's to parse."""


class _Writer:
    """The transport as one response sees it: the head waits for the body's first write (one write for
    both), and the ``connection: close`` uvicorn appends is spelled as h11 spells it."""

    __slots__ = ("_head", "_transport", "holding")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self.holding = False

    def write(self, data: bytes) -> None:
        if self.holding:
            self.holding = False
            if data.endswith(_LOWER_CLOSE):
                data = data[: -len(_LOWER_CLOSE)] + _H11_CLOSE
            self._head = data
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Cycle(RequestResponseCycle):
    """uvicorn's request/response cycle, writing through a :class:`_Writer`."""

    async def send(self, message: Any) -> None:
        writer = self.transport
        assert isinstance(writer, _Writer)
        if message["type"] == "http.response.start" and not self.response_started:
            writer.holding = True
            try:
                await super().send(message)
            finally:
                writer.holding = False
            return
        try:
            await super().send(message)
        finally:
            writer.flush()


class GuardedHttpToolsProtocol(Guarded, HttpToolsProtocol):
    """uvicorn's httptools protocol with the guard, handing unusual requests to h11 (module docstring)."""

    fallback: ClassVar[type[GuardedH11Protocol]]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard_app()
        self._in_message = False
        self._started = False
        """Whether the current request's cycle was created (its head was parsed)."""
        self._pending: bytes | None = None
        """The current request's bytes from its first one; None when that is not known."""
        self._completed_here = False
        self._rejected = False
        self._unusual = False
        self._hosts = 0
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self.guard.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_message:
            if self._deadline is None:
                self._arm()  # the first byte of the next request on a kept-alive connection
            self._pending = data
        elif self._pending is not None:
            self._pending = (
                self._pending + data if len(self._pending) + len(data) <= _MAX_PENDING_BYTES else None
            )
        self._completed_here = False
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            idle = self.cycle is None or self.cycle.response_complete
            if self._pending is not None and not self._started and idle and not self.pipeline:
                self._hand_over(self._pending)
            elif idle and not self.pipeline:
                self._reject()
            else:  # the answers to the requests before it go first, as with h11
                self._rejected = True
                self.flow.pause_reading()
        except httptools.HttpParserUpgrade:  # pragma: no cover - Upgrade requests are handed over first
            self._reject()

    def _hand_over(self, data: bytes) -> None:
        """Let uvicorn's h11 protocol (same guard) serve this connection, from this request on."""
        self._disarm()
        self._unset_keepalive_if_required()
        self.guard.forget(self)
        self.connections.discard(self)
        successor = self.fallback(self.config, self.server_state, self.app_state, self.loop)
        self.transport.set_protocol(successor)
        successor.connection_made(self.transport)
        successor.data_received(data)

    def _reject(self) -> None:
        self.logger.warning("Invalid HTTP request received.")
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(H11_BAD_REQUEST)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._rejected and not self.pipeline:
            self._reject()

    # ------------------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        if self._completed_here:
            self._pending = None  # it starts inside this read, after another request: where is unknown
        if self._deadline is None:
            self._arm()
        self._in_message = True
        self._started = False
        self._unusual = False
        self._hosts = 0
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HandOver
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HandOver
        if name == b"host":
            self._hosts += 1
        elif name in _HANDED_OVER_HEADERS:
            self._unusual = True
        if _UNUSUAL_VALUE.search(value) is not None:
            self._unusual = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        target = self.url
        method = parser.get_method()
        pending = self._pending
        if (
            self._unusual
            or self._hosts != 1
            or parser.get_http_version() != "1.1"
            or parser.should_upgrade()
            or _TARGET.fullmatch(target) is None
            # the request line exactly as h11 reads it (httptools also takes extra spaces, bare LFs...)
            or (pending is not None and not pending.startswith(b"%s %s HTTP/1.1\r\n" % (method, target)))
        ):
            raise _HandOver
        # The scope as uvicorn's h11 protocol makes it: the target split at the first "?" (a raw "#"
        # stays in the path; the edge middleware drops it), the path percent-decoded.
        raw_path, _, query_string = target.partition(b"?")
        scope = self.scope
        scope["method"] = method.decode("ascii")
        scope["path"] = self.root_path + unquote(raw_path.decode("ascii"))
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = query_string
        existing = self.cycle
        self.cycle = _Cycle(
            scope=scope,
            transport=_Writer(self.transport),  # type: ignore[arg-type]
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        self._started = True
        if existing is None or existing.response_complete:
            self._start_asgi_task(self.cycle, self.app)
        else:  # a pipelined request waits for the one before it
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, self.app))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_message = False
        self._completed_here = True
        self._disarm()  # the request arrived in full


def guarded_httptools_protocol(guard: ConnectionGuard) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` whose connections answer to ``guard``."""
    fallback = type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})
    attributes = {"guard": guard, "fallback": fallback}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attributes)
