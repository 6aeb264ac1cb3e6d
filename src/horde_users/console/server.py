"""Running the console: in the foreground (``horde-users console``) or in a thread (tests, scripts)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from types import TracebackType

import uvicorn

from horde_users.console.app import secure_app
from horde_users.console.context import Console, ConsoleConfig
from horde_users.console.security import Gatekeeper


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``), reachable from this computer only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(config: uvicorn.Config) -> socket.socket:
    """The socket, listening at once (a browser opened early waits in the backlog instead of being
    refused), with TCP_NODELAY so small pages are not held back by Nagle's algorithm."""
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(config.backlog)
    return sock


class ConsoleServer:
    """The console on ``host:port`` (port 0: any free one); the API key stays in this process."""

    def __init__(self, config: ConsoleConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.console = Console(config, Gatekeeper(host=host))
        self._config = uvicorn.Config(
            secure_app(self.console),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # addresses carry the login token; nothing of a request is logged
            lifespan="off",
            loop="auto",
            http="h11",
            ws="none",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=3,
        )
        self._sock = _bind(self._config)
        self.port = int(self._sock.getsockname()[1])
        self.console.gatekeeper.port = self.port
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"ConsoleServer({self.url})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the bound host when it is not a wildcard)."""
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @property
    def login_url(self) -> str:
        """The address to open once: it carries the one-time login token."""
        token = self.console.gatekeeper.login_token
        return f"{self.url}/?token={token}" if token else f"{self.url}/"

    def warm_up(self) -> None:
        """Count the index once before the first page asks (at a million users it takes a while)."""
        from horde_users.console.toolkit import refresh_state

        refresh_state(self.console, wait=True)

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C."""
        self.warm_up()
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self.close()

    def start(self) -> ConsoleServer:
        """Serve in a background thread; returns once the port accepts connections."""
        self.warm_up()
        thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="horde-console", daemon=True
        )
        thread.start()
        while not self._server.started:
            if not thread.is_alive():
                self.close()
                raise RuntimeError("the console failed to start")
            thread.join(0.01)
        self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving (a background console) and release everything."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.close()

    def close(self) -> None:
        self._sock.close()
        self.console.close()

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
