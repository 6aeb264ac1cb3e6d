"""Fixtures that run each client test with ``HordeUsers`` and ``AsyncHordeUsers`` (over httpx and aiohttp).

Tests are ``async`` and talk to an ``Api``: with the async client it awaits the method; with the sync
client it runs the same method in a worker thread. Either way the real client does the real I/O.

``sandbox_users`` is the seeded sandbox app without a server: ``make_api`` gives a client for its
``url`` an httpx client whose transport calls the app in process, which skips starting and stopping a
server per test. Faults, the server's edge and the end-to-end tests keep real loopback sockets
(``horde_sandbox_users``, ``fault_server``).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest

from horde_users.client import AsyncHordeUsers, HordeUsers
from horde_users.models import UserDetailsResponse
from horde_users.sandbox.pytest_plugin import sandbox_options
from tests.client.faultserver import FaultServer

if TYPE_CHECKING:
    from horde_users.sandbox import SandboxStore, SeededUser


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


class PortalASGITransport(httpx.BaseTransport):
    """httpx's ASGI transport for a sync client: each request runs the app on a blocking portal's loop."""

    def __init__(self, app: Any, portal: anyio.from_thread.BlockingPortal) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def exchange() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(exchange)


@dataclass(frozen=True)
class InProcessSandbox:
    """A sandbox app and its database with no server: ``make_api`` clients for ``url`` reach the app
    through an in-process transport."""

    store: SandboxStore
    app: Any
    url: str
    portal: anyio.from_thread.BlockingPortal

    def http_client(self, kind: str) -> httpx.Client | httpx.AsyncClient:
        """An httpx client (``sync`` or ``async``) whose requests go to the app."""
        if kind == "sync":
            return httpx.Client(transport=PortalASGITransport(self.app, self.portal))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))


@dataclass(frozen=True)
class InProcessUsers:
    """The in-process sandbox seeded like the plugin's ``horde_sandbox_users`` (ids 1 to 4)."""

    sandbox: SandboxStore
    admin: SeededUser
    moderator: SeededUser
    alice: SeededUser
    bob: SeededUser
    url: str


_IN_PROCESS = pytest.StashKey[InProcessSandbox]()


@pytest.fixture
def in_process_sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcessSandbox]:
    """A fresh sandbox app on a SQLite file, rate limits off; the ``horde_sandbox`` marker's options apply."""
    from horde_users.sandbox import SandboxStore, create_app

    node = request.node
    assert isinstance(node, pytest.Item)
    store = SandboxStore(tmp_path / "sandbox.db")
    try:
        app = create_app(store=store, **sandbox_options(node))
        with anyio.from_thread.start_blocking_portal() as portal:
            sandbox = InProcessSandbox(store, app, f"http://sandbox-{uuid.uuid4().hex[:8]}.test/api", portal)
            node.stash[_IN_PROCESS] = sandbox
            yield sandbox
    finally:
        store.close()


@pytest.fixture
def sandbox_users(in_process_sandbox: InProcessSandbox) -> InProcessUsers:
    """The in-process sandbox seeded with ``admin``, ``moderator``, ``alice`` and ``bob``."""
    store = in_process_sandbox.store
    return InProcessUsers(
        sandbox=store,
        admin=store.create_user("admin", admin=True, moderator=True, trusted=True),
        moderator=store.create_user("moderator", moderator=True, trusted=True),
        alice=store.create_user("alice"),
        bob=store.create_user("bob"),
        url=in_process_sandbox.url,
    )


@pytest.fixture(params=["sync", "async-httpx", "async-aiohttp"])
async def make_api(request: pytest.FixtureRequest) -> AsyncIterator[MakeApi]:
    """``make_api(api_key=..., base_url=..., **client_options) -> Api``; every client is closed afterwards.

    The async client runs twice, over each of its HTTP libraries (``http_backend``), which must behave
    the same; an ``http_client`` option (an httpx one) takes the httpx run only.

    ``Api.sleeps`` records how long the client asked to wait between attempts. The wait itself is cut to
    a tenth, unless ``real_sleep=True``. A client for the test's ``in_process_sandbox`` URL gets an
    httpx client that reaches that app in process.
    """
    kind: str = request.param
    made: list[Api] = []
    transports: list[httpx.Client | httpx.AsyncClient] = []

    def make(*, real_sleep: bool = False, **options: Any) -> Api:
        sleeps: list[float] = []
        scale = 1.0 if real_sleep else 0.1
        in_process = request.node.stash.get(_IN_PROCESS, None)
        if in_process is not None and options.get("base_url") == in_process.url:
            transports.append(in_process.http_client(kind))
            options.setdefault("http_client", transports[-1])
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
    for http in transports:
        if isinstance(http, httpx.AsyncClient):
            await http.aclose()
        else:
            http.close()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A scripted misbehaving HTTP server on a loopback port."""
    with FaultServer() as server:
        yield server
