"""The async client's fast transport: one attempt over aiohttp, behaving exactly like the httpx one.

httpx's ``AsyncClient`` costs several times more per call than the request itself on a fast network
(its pool and anyio layers); aiohttp does the same work in a fraction of it. Everything the client
decides stays in the core: this module only sends ``call.request`` as built, turns aiohttp's answer
into the ``httpx.Response`` head the core reads, and turns aiohttp's failures into the ``httpx``
exceptions the core sorts (sent or not, timeout or dropped), so retries, errors and redaction are the
same whichever transport carries the call. aiohttp runs on asyncio only; ``AutoTransport`` falls back
to httpx elsewhere (trio) and when aiohttp is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

import httpx

from horde_users import _core
from horde_users._extras import install_command
from horde_users._transport import AsyncHttpxTransport, AsyncTransport, Decide, Exchange
from horde_users.errors import InvalidRequestError

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "AiohttpHead",
    "AiohttpTransport",
    "AutoTransport",
    "HttpBackend",
    "aiohttp_installed",
    "async_transport",
]

HttpBackend = Literal["auto", "aiohttp", "httpx"]

# Headers aiohttp would add that httpx does not send for a prepared request: the server sees the same.
_SKIP_AUTO_HEADERS = frozenset({"User-Agent", "Accept-Encoding"})
# Set by aiohttp from the URL and the body.
_OWN_HEADERS = frozenset({"host", "content-length"})

_Route = tuple[tuple[tuple[str, str], ...], "aiohttp.ClientTimeout", str | None]
"""The headers, timeout and proxy aiohttp is given for a call."""


def aiohttp_installed() -> bool:
    """Whether aiohttp can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("aiohttp") is not None
    except ImportError:  # an import hook that refuses it
        return False


def async_transport(
    http_client: httpx.AsyncClient | None, timeout: float | httpx.Timeout | None, backend: str
) -> AsyncTransport:
    """The transport for ``AsyncHordeUsers(http_client=..., http_backend=backend)``."""
    if backend not in ("auto", "aiohttp", "httpx"):
        raise InvalidRequestError("http_backend must be 'auto', 'aiohttp' or 'httpx'")
    if http_client is not None:
        if backend == "aiohttp":
            raise InvalidRequestError("http_client is an httpx.AsyncClient: leave http_backend at 'auto'")
        return AsyncHttpxTransport(http_client, timeout)
    if backend == "httpx":
        return AsyncHttpxTransport(None, timeout)
    if backend == "aiohttp":
        if not aiohttp_installed():
            raise InvalidRequestError(f"http_backend='aiohttp' needs aiohttp: {install_command('fast')}")
        return AiohttpTransport()
    return AutoTransport(timeout)


class AutoTransport:
    """aiohttp when it is installed and the loop is asyncio's, else httpx; chosen at the first call."""

    def __init__(self, timeout: float | httpx.Timeout | None) -> None:
        self._timeout = timeout
        self._chosen: AsyncTransport | None = None

    @property
    def chosen(self) -> AsyncTransport | None:
        """The transport in use (None before the first call)."""
        return self._chosen

    def exchange(self, call: _core.Call, started: float, decide: Decide) -> Coroutine[Any, Any, Exchange]:
        # Not a coroutine of its own: the chosen transport's is awaited directly (one frame less a call).
        if self._chosen is None:
            self._chosen = AiohttpTransport() if _on_asyncio() and aiohttp_installed() else None
            if self._chosen is None:
                self._chosen = AsyncHttpxTransport(None, self._timeout)
        return self._chosen.exchange(call, started, decide)

    async def close(self) -> None:
        if self._chosen is not None:
            await self._chosen.close()


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class AiohttpTransport:
    """One attempt over an aiohttp session opened at the first call (in the running loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        # The same certificates and connection reuse as httpx's defaults, and no cookies: httpx sends
        # none with a prepared request. No trust_env: it reads ~/.netrc in a thread on every request
        # (httpx never reads it); the proxy from the environment is found once per URL instead.
        connector = aiohttp.TCPConnector(ssl=httpx.create_ssl_context(), limit=100)
        session = aiohttp.ClientSession(
            connector=connector, skip_auto_headers=_SKIP_AUTO_HEADERS, cookie_jar=aiohttp.DummyCookieJar()
        )
        # aiohttp silently sends a GET, PUT or DELETE again when the connection drops: a kudos PUT or a
        # DELETE must never be repeated, and when to retry is the core's decision. Off, as aiohttp's own
        # test client does (the switch has no public name).
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        return session

    def _timeout_of(self, call: _core.Call) -> aiohttp.ClientTimeout:
        """httpx's timeouts as aiohttp's: connect and pool bound connecting, read bounds each read."""
        values = call.timeouts or {}
        key = (values.get("connect"), values.get("read"), values.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            import aiohttp

            connect, read, pool = key
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=None if connect is None or pool is None else connect + pool,
                sock_connect=connect,
                sock_read=read,
            )
            self._timeouts[key] = timeout
        return timeout

    def _proxy_for(self, call: _core.Call) -> str | None:
        """The proxy the environment names for the call's URL (``HTTP(S)_PROXY``, ``NO_PROXY``), like httpx.

        Found once per origin (the text before the path: scheme and host decide it).
        """
        target = call.target
        path = target.find("/", target.find("//") + 2)
        origin = target if path < 0 else target[:path]
        try:
            return self._proxies[origin]
        except KeyError:
            import urllib.request

            url = call.full_url
            proxy = urllib.request.getproxies().get(url.scheme)
            found = None if not proxy or urllib.request.proxy_bypass(url.host) else proxy
            self._proxies[origin] = found
            return found

    def _route_of(self, call: _core.Call) -> _Route:
        """The headers, timeout and proxy aiohttp is given for ``call``."""
        if call.json_body is None:  # the headers as built are the headers httpx would send
            headers = tuple((name, value) for name, value in call.headers if name.lower() not in _OWN_HEADERS)
        else:  # a body: httpx encodes it and sets its Content-Type
            # The raw (bytes) headers: reading them as text through httpx re-checks their encoding each time.
            headers = tuple(
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in call.request.headers.raw
                if k.decode("latin-1").lower() not in _OWN_HEADERS
            )
        return headers, self._timeout_of(call), self._proxy_for(call)

    async def exchange(self, call: _core.Call, started: float, decide: Decide) -> Exchange:
        session = self._session or self._open()
        # Shared by the calls of one shape (see Call.memo), unless they carry a body.
        route = call.memo.get("aiohttp")
        if route is None:
            route = self._route_of(call)
            if call.json_body is None:
                call.memo["aiohttp"] = route
        headers, timeout, proxy = route
        data = None if call.json_body is None else call.request.content or None
        try:
            answer = await session.request(
                call.method,
                call.target,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
                proxy=proxy,
            )
            read = False
            try:
                head = AiohttpHead(call, answer.status, answer.reason, answer.raw_headers)
                decision = decide(head)
                if decision.retry:
                    return head, decision, b""
                content = answer.content
                if content.is_eof():  # the whole body came with the head (a small answer): take it
                    body = _core.whole_body(call, head, content.read_nowait(), started=started)
                else:
                    declared = _declared_length(answer.raw_headers)
                    reader = _core.BodyReader(call, head, started=started, declared=declared)
                    while chunk := await content.readany():  # what has arrived, b"" at the end
                        reader.add(chunk)
                    body = reader.body
                read = True
                return head, decision, body
            finally:
                # Unread, the connection is dropped at once: aiohttp's context manager would instead
                # wait for the rest of the body, however slowly it comes (past the deadline).
                if read:
                    answer.release()
                else:
                    answer.close()
                    await asyncio.sleep(0)  # asyncio closes the socket at its next turn: let it, now
        except _client_error() as exc:  # looked up only when something was raised
            raise _as_httpx_error(exc, call.request) from exc
        except asyncio.TimeoutError as exc:  # waiting for a free connection (the pool's limit)
            raise httpx.PoolTimeout("timed out waiting for a connection", request=call.request) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _client_error() -> type[aiohttp.ClientError]:
    import aiohttp

    return aiohttp.ClientError


def _as_httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.RequestError:
    """The httpx exception for aiohttp's: the core tells a failure before sending from one after."""
    import aiohttp

    message = str(exc) or type(exc).__name__
    error: httpx.RequestError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout(message, request=request)
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        error = httpx.ReadTimeout(message, request=request)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError(message, request=request)
    elif isinstance(exc, aiohttp.InvalidURL):
        error = httpx.UnsupportedProtocol(message, request=request)
    elif isinstance(exc, aiohttp.ClientOSError):
        error = httpx.ReadError(message, request=request)
    else:  # disconnected, a broken body or status line
        error = httpx.RemoteProtocolError(message, request=request)
    return error


RawHeaders = tuple[tuple[bytes, bytes], ...]


class AiohttpHead:
    """An aiohttp answer's status and headers, as the core reads them (``_core.Head``).

    The ``httpx.Response`` that gives the headers, reason phrase and charset is built only when one of
    them is read (an error, a retry): a success needs none of them, only its status.
    """

    __slots__ = ("_call", "_raw", "_reason", "_response", "status_code")

    def __init__(self, call: _core.Call, status: int, reason: str | None, raw_headers: RawHeaders) -> None:
        self.status_code = status
        self._call = call
        self._reason = reason
        self._raw = raw_headers
        self._response: httpx.Response | None = None

    @property
    def response(self) -> httpx.Response:
        """The same answer as an ``httpx.Response`` (no body), built at the first use."""
        if self._response is None:
            # The reason phrase as the server sent it (httpx keeps its bytes; aiohttp decoded them).
            reason = (self._reason or "").encode("utf-8", "surrogateescape")
            self._response = httpx.Response(
                self.status_code,
                headers=self._raw,
                request=self._call.request,
                extensions={"reason_phrase": reason},
            )
        return self._response

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def reason_phrase(self) -> str:
        return self.response.reason_phrase

    @property
    def charset_encoding(self) -> str | None:
        return self.response.charset_encoding


def _declared_length(raw_headers: RawHeaders) -> str:
    """``Content-Length`` as httpx's headers give it ("" when absent), without building them for one."""
    found = [value for name, value in raw_headers if name.lower() == b"content-length"]
    if not found:
        return ""
    if len(found) == 1 and found[0].isdigit():  # ASCII digits: the same text in any encoding httpx picks
        return found[0].decode("ascii")
    declared: str = httpx.Headers(raw_headers).get("Content-Length", "")
    return declared
