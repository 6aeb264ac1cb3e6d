"""One attempt of a request over httpx, for each client: send, decide on the status, read the body.

A transport does the I/O of one attempt and nothing else; what to do with the answer (retry or not,
how long the body may take, how large it may be) is the core's (``horde_users._core``). The clients
call ``exchange`` in their retry loop, so the loops of the sync and the async client stay identical.
The async client may use ``horde_users._aiohttp.AiohttpTransport`` instead (same contract, faster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import httpx

from horde_users import _core

__all__ = ["AsyncHttpxTransport", "AsyncTransport", "Decide", "Exchange", "HttpxTransport"]

Decide = Callable[[_core.Head], _core.Decision]
"""Given the status line and headers of an answer, whether to retry (then the body is not read)."""
Exchange = tuple[_core.Head, _core.Decision, bytes]
"""The answer's status and headers, the decision on it, and its body (empty when retrying)."""


class AsyncTransport(Protocol):
    """What ``AsyncHordeUsers`` needs from an HTTP library: one attempt at a time, and closing."""

    async def exchange(self, call: _core.Call, started: float, decide: Decide) -> Exchange:
        """Send ``call`` once; raise ``httpx.RequestError`` when no answer came (or came too slowly)."""
        ...

    async def close(self) -> None:
        """Close the connections this transport opened."""
        ...


class HttpxTransport:
    """One attempt over an ``httpx.Client`` (ours, or the caller's: then it is not closed here)."""

    def __init__(self, http_client: httpx.Client | None, timeout: float | httpx.Timeout | None) -> None:
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)

    def exchange(self, call: _core.Call, started: float, decide: Decide) -> Exchange:
        response = self._http.send(call.request, stream=True)
        try:
            decision = decide(response)
            if decision.retry:
                return response, decision, b""
            reader = _core.BodyReader(call, response, started=started)
            for chunk in response.iter_bytes():
                reader.add(chunk)
            return response, decision, reader.body
        finally:
            response.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()


class AsyncHttpxTransport:
    """One attempt over an ``httpx.AsyncClient`` (asyncio or trio); the twin of ``HttpxTransport``."""

    def __init__(self, http_client: httpx.AsyncClient | None, timeout: float | httpx.Timeout | None) -> None:
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)

    async def exchange(self, call: _core.Call, started: float, decide: Decide) -> Exchange:
        response = await self._http.send(call.request, stream=True)
        try:
            decision = decide(response)
            if decision.retry:
                return response, decision, b""
            reader = _core.BodyReader(call, response, started=started)
            async for chunk in response.aiter_bytes():
                reader.add(chunk)
            return response, decision, reader.body
        finally:
            await response.aclose()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()
