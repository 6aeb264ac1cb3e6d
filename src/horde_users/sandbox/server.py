"""Running the sandbox: in a background thread (:class:`Sandbox`) or in the foreground (:func:`serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import uvicorn

from horde_users.sandbox.app import DEFAULT_LOCK_TIMEOUT, create_app
from horde_users.sandbox.clock import MovableClock
from horde_users.sandbox.connections import (
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    ConnectionGuard,
    ConnectionLimits,
    guarded_h11_protocol,
)
from horde_users.sandbox.devtools import DevTools
from horde_users.sandbox.faults import FaultSet
from horde_users.sandbox.ratelimit import FixedWindowRateLimiter
from horde_users.sandbox.requestlog import RequestLog
from horde_users.sandbox.seeding import export_seed, load_seed
from horde_users.sandbox.state import Snapshot
from horde_users.sandbox.store import SandboxStore

P = ParamSpec("P")
R = TypeVar("R")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGBREAK,) if hasattr(signal, "SIGBREAK") else ())
_TICKS_PER_PURGE = 100
"""uvicorn ticks every 0.1 s: expired rate-limit windows are swept every 10 s even without traffic."""


class _SandboxServer(uvicorn.Server):
    """uvicorn's server, plus housekeeping on its tick and a plain stop on SIGINT and SIGTERM alike."""

    def __init__(self, config: uvicorn.Config, guard: ConnectionGuard, app: Any) -> None:
        super().__init__(config)
        self.guard = guard
        limiter = getattr(getattr(app, "state", None), "rate_limiter", None)
        self.limiter = limiter if isinstance(limiter, FixedWindowRateLimiter) else None

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0:
            self.guard.flush_log()
        if counter % _TICKS_PER_PURGE == 0 and self.limiter is not None:
            self.limiter.purge()
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Stop on SIGINT/SIGTERM (a second SIGINT forces it), then return normally.

        uvicorn re-raises the signal once it has stopped, which for SIGTERM kills the process before
        the caller can close the database; here the caller's cleanup runs and the exit code is 0.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def _protocol(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """httptools (with h11 for what it does not read alike) when installed, else h11 alone."""
    try:
        from horde_users.sandbox.fast_http import guarded_httptools_protocol
    except ImportError:  # pragma: no cover - httptools is part of the sandbox extra on CPython
        return guarded_h11_protocol(guard)
    return guarded_httptools_protocol(guard)


def _server(
    app: Any,
    host: str,
    port: int,
    limits: ConnectionLimits,
    protocol: Callable[[ConnectionGuard], type[asyncio.Protocol]] | None = None,
) -> _SandboxServer:
    """uvicorn serving ``app``; ``protocol`` (tests) makes the HTTP protocol class instead of the default."""
    guard = ConnectionGuard(limits)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # uvloop and httptools when installed. httptools parses ordinary requests and hands any other
        # to h11, so every answer is the one h11 gives (fast_http.py); both protocols are uvicorn's,
        # with a request deadline and a connection cap (connections.py).
        loop="auto",
        http=(protocol or _protocol)(guard),
        ws="none",
        proxy_headers=False,
        timeout_keep_alive=limits.keep_alive_timeout,
        timeout_graceful_shutdown=5,
    )
    return _SandboxServer(config, guard, app)


def _bind(config: uvicorn.Config) -> socket.socket:
    """Bind the listening socket with TCP_NODELAY, which accepted sockets inherit, and listen.

    uvicorn creates it with protocol 0, so asyncio never sets TCP_NODELAY and every response waits
    on Nagle's algorithm and a delayed ACK (about 50 ms instead of 2 ms per request).
    """
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Listening from here on, so that a client told the URL is queued until the server accepts instead
    # of refused (uvicorn only listens once its loop has started).
    sock.listen(config.backlog)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/api"


class _StoreMethod(Generic[P, R]):
    """A seeding method of :class:`Sandbox`: the store's method of that name, called on the running
    sandbox's store, with the store method's own signature and docstring (written once, there)."""

    def __init__(self, method: Callable[Concatenate[SandboxStore, P], R]) -> None:
        self.method = method
        self.__name__ = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, sandbox: None, owner: type[Sandbox]) -> _StoreMethod[P, R]: ...
    @overload
    def __get__(self, sandbox: Sandbox, owner: type[Sandbox]) -> Callable[P, R]: ...
    def __get__(self, sandbox: Sandbox | None, owner: type[Sandbox]) -> _StoreMethod[P, R] | Callable[P, R]:
        if sandbox is None:
            return self
        method = self.method

        def bound(*args: P.args, **kwargs: P.kwargs) -> R:
            return method(sandbox.store, *args, **kwargs)  # the store of the moment: raises when stopped

        bound.__name__, bound.__doc__ = method.__name__, method.__doc__
        return bound


class Sandbox:
    """A sandbox on a free loopback port in a background thread; use it as a context manager.

    ``database``: a SQLAlchemy URL or SQLite file path; None means a fresh temporary SQLite file that is
    deleted on :meth:`stop`. ``url`` is the base URL for a client (ends in ``/api``); ``store`` is the
    database, and the seeding methods (``create_user`` ...) delegate to it. Rate limits are off by
    default here (for tests), unlike ``horde-users sandbox serve``. ``request_timeout`` (seconds for a
    whole request), ``keep_alive_timeout`` (whole seconds between requests) and ``max_connections``
    bound what a connection may hold (see :mod:`horde_users.sandbox.connections`). ``clock`` gives the
    sandbox's time in Unix seconds (default real time); tests pass a frozen one. ``lock_timeout``:
    seconds a request waits for a SQLite lock another program holds before it answers 503.
    ``dev_endpoints``: serve ``/api/v2/dev/`` (faults, request log, clock, state; off by default).
    ``seed``: a seed file (JSON, :mod:`horde_users.sandbox.seeding`) loaded at start. The test double:
    ``faults``, ``requests``, ``clock``, :meth:`reset`, :meth:`snapshot`, :meth:`restore`, :meth:`export`.
    """

    def __init__(
        self,
        database: str | None = None,
        *,
        admins: Sequence[str] = (),
        rate_limits: bool = False,
        test_user_endpoint: bool = False,
        profanity_words: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT,
        max_connections: int | None = None,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        dev_endpoints: bool = False,
        seed: str | Path | None = None,
    ) -> None:
        self._dev_endpoints = dev_endpoints
        self._seed = seed
        self.clock = clock if isinstance(clock, MovableClock) else MovableClock(clock)
        """The sandbox's time; ``clock.advance(seconds)`` moves it (account ages, rate-limit windows,
        the 30-day wipe rule follow)."""
        self.faults = FaultSet()
        """Faults on demand: ``faults.add(method, path, ...)``, ``faults.clear()``, ``faults.list()``."""
        self.requests = RequestLog()
        """Every request the sandbox answered, oldest first: ``requests.filter(method=, path=, status=)``."""
        self._tools: DevTools | None = None
        self._limits = ConnectionLimits(request_timeout, keep_alive_timeout, max_connections)
        self._database = database
        self._lock_timeout = lock_timeout
        self._admins = tuple(admins)
        self._rate_limits = rate_limits
        self._test_user_endpoint = test_user_endpoint
        self._profanity_words = None if profanity_words is None else tuple(profanity_words)
        self.host = host
        self._requested_port = port
        self.port = 0
        self._tmpdir: str | None = None
        self._store: SandboxStore | None = None
        self._server: _SandboxServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/api``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return _url(self.host, self.port)

    @property
    def store(self) -> SandboxStore:
        if self._store is None:
            raise RuntimeError("the sandbox is not running")
        return self._store

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Sandbox:
        """Start serving; returns once the port accepts connections."""
        if self._server is not None:
            return self
        database = self._database
        if database is None:
            self._tmpdir = tempfile.mkdtemp(prefix="horde-sandbox-")
            database = str(Path(self._tmpdir) / "sandbox.db")
        self._store = SandboxStore(database, clock=self.clock)
        if self._seed is not None:
            try:
                load_seed(self._store, self._seed)
            except BaseException:
                self._cleanup()
                raise
        self._tools = DevTools(
            store=self._store, clock=self.clock, faults=self.faults, requests=self.requests
        )
        app = create_app(
            dev_endpoints=self._dev_endpoints,
            devtools=self._tools,
            admins=self._admins,
            rate_limits=self._rate_limits,
            test_user_endpoint=self._test_user_endpoint,
            profanity_words=self._profanity_words,
            store=self._store,
            lock_timeout=self._lock_timeout,
        )
        server = _server(app, self.host, self._requested_port, self._limits)
        sock = _bind(server.config)
        self.port = int(sock.getsockname()[1])
        failure: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # pragma: no cover - reported by start()
                failure.append(exc)

        thread = threading.Thread(target=run, name=f"horde-sandbox-{self.port}", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                sock.close()
                self._cleanup()
                raise RuntimeError(f"the sandbox failed to start: {failure[0] if failure else 'unknown'}")
            thread.join(0.01)
        self._server, self._thread = server, thread
        self._sock = sock
        return self

    def stop(self) -> None:
        """Stop serving, close the database and delete a temporary one."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(10)
        if server is not None:
            self._sock.close()
        self._cleanup()

    def _cleanup(self) -> None:
        self._tools = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = _url(self.host, self.port) if self.running else "stopped"
        return f"Sandbox({where})"

    # ------------------------------------------------------------------------------- state

    @property
    def _devtools(self) -> DevTools:
        if self._tools is None:
            raise RuntimeError("the sandbox is not running")
        return self._tools

    def reset(self) -> None:
        """Empty the database (as new; same settings), clear faults, the request log and rate-limit
        windows. The clock stays where it is."""
        self._devtools.reset()

    def snapshot(self) -> Snapshot:
        """A copy of every table's rows (in memory), for :meth:`restore`."""
        return self._devtools.snapshot()

    def restore(self, snapshot: Snapshot) -> None:
        """Bring the database back to ``snapshot`` exactly (faults, the log and the clock stay)."""
        self._devtools.restore(snapshot)

    def export(self, path: str | Path) -> None:
        """Write the users to ``path`` as a seed file (see :mod:`horde_users.sandbox.seeding`: hashed keys
        with the salt, plain keys only for users created in this process or from a seed)."""
        export_seed(self.store, path)

    # ------------------------------------------------------------------------------- seeding

    create_user = _StoreMethod(SandboxStore.create_user)
    create_shared_key = _StoreMethod(SandboxStore.create_shared_key)
    add_worker = _StoreMethod(SandboxStore.add_worker)
    add_style = _StoreMethod(SandboxStore.add_style)
    set_records = _StoreMethod(SandboxStore.set_records)
    set_kudos_details = _StoreMethod(SandboxStore.set_kudos_details)
    add_suspicion = _StoreMethod(SandboxStore.add_suspicion)
    set_last_active = _StoreMethod(SandboxStore.set_last_active)


def serve(
    host: str = "127.0.0.1",
    port: int = 7001,
    database: str | None = None,
    admins: Sequence[str] = (),
    rate_limits: bool = True,
    test_user_endpoint: bool = False,
    profanity_words: Iterable[str] | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT,
    max_connections: int | None = None,
    dev_endpoints: bool = False,
    seed: str | Path | None = None,
) -> None:
    """Serve the sandbox in the foreground until Ctrl-C or SIGTERM (``horde-users sandbox serve``).

    Either signal stops it the same way: open requests finish, the database is closed, and the
    function returns. ``database`` None means an in-memory SQLite database (gone when the process
    ends). The connection bounds are those of :class:`Sandbox`. ``dev_endpoints``: serve the
    development endpoints under ``/api/v2/dev/`` (faults, request log, clock, state; loopback only).
    ``seed``: a seed file loaded before serving.
    """
    limits = ConnectionLimits(request_timeout, keep_alive_timeout, max_connections)
    store = SandboxStore(database, clock=MovableClock())
    if seed is not None:
        try:
            load_seed(store, seed)
        except BaseException:
            store.close()
            raise
    app = create_app(
        dev_endpoints=dev_endpoints,
        admins=admins,
        rate_limits=rate_limits,
        test_user_endpoint=test_user_endpoint,
        profanity_words=profanity_words,
        store=store,
    )
    server = _server(app, host, port, limits)
    try:
        sock = _bind(server.config)
    except BaseException:
        store.close()
        raise
    bound_port = int(sock.getsockname()[1])
    print(f"horde-users sandbox listening on {_url(host, bound_port)}  (Ctrl-C to stop)", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - a Ctrl-C before the server took the signal over
        pass
    finally:
        sock.close()
        store.close()
