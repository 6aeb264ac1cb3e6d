"""Fixtures that run each client test with ``HordeUsers`` and ``AsyncHordeUsers`` (over httpx and aiohttp).

Tests are ``async`` and talk to an ``Api``: with the async client it awaits the method; with the sync
client it runs the same method in a worker thread. Either way the real client does the real I/O.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

from horde_users.client import AsyncHordeUsers, HordeUsers
from horde_users.models import UserDetailsResponse
from tests.client.faultserver import FaultServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Api:
    """Call a client's methods the same way whichever client it is."""

    def __init__(self, client: HordeUsers | AsyncHordeUsers, sleeps: list[float]) -> None:
        self.client = client
        self.sleeps = sleeps
        """Every delay the client waited between attempts, in order."""

    @property
    def is_async(self) -> bool:
        return isinstance(self.client, AsyncHordeUsers)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if isinstance(self.client, AsyncHordeUsers):
                return await method(*args, **kwargs)
            return await anyio.to_thread.run_sync(functools.partial(method, *args, **kwargs))

        return call

    async def all_users(self, **kwargs: Any) -> list[UserDetailsResponse]:
        """Everything ``iter_users(**kwargs)`` yields."""
        if isinstance(self.client, AsyncHordeUsers):
            return [user async for user in self.client.iter_users(**kwargs)]
        client = self.client
        return await anyio.to_thread.run_sync(lambda: list(client.iter_users(**kwargs)))

    async def close(self) -> None:
        if isinstance(self.client, AsyncHordeUsers):
            await self.client.close()
        else:
            self.client.close()


MakeApi = Callable[..., Api]


@pytest.fixture(params=["sync", "async-httpx", "async-aiohttp"])
async def make_api(request: pytest.FixtureRequest) -> AsyncIterator[MakeApi]:
    """``make_api(api_key=..., base_url=..., **client_options) -> Api``; every client is closed afterwards.

    The async client runs twice, over each of its HTTP libraries (``http_backend``), which must behave
    the same; an ``http_client`` option (an httpx one) takes the httpx run only.

    ``Api.sleeps`` records how long the client asked to wait between attempts. The wait itself is cut to
    a tenth, unless ``real_sleep=True``.
    """
    kind: str = request.param
    made: list[Api] = []

    def make(*, real_sleep: bool = False, **options: Any) -> Api:
        sleeps: list[float] = []
        scale = 1.0 if real_sleep else 0.1
        client: HordeUsers | AsyncHordeUsers
        if kind == "sync":
            import time

            def sleep(delay: float) -> None:
                sleeps.append(delay)
                time.sleep(delay * scale)

            client = HordeUsers(sleep=sleep, **options)
        else:

            async def async_sleep(delay: float) -> None:
                sleeps.append(delay)
                await anyio.sleep(delay * scale)

            backend = kind.removeprefix("async-")
            if "http_client" in options:
                if backend != "httpx":
                    pytest.skip("an httpx http_client is the httpx backend's (run as async-httpx)")
            else:
                options.setdefault("http_backend", backend)
            client = AsyncHordeUsers(sleep=async_sleep, **options)
        api = Api(client, sleeps)
        made.append(api)
        return api

    yield make
    for api in made:
        await api.close()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A scripted misbehaving HTTP server on a loopback port."""
    with FaultServer() as server:
        yield server
