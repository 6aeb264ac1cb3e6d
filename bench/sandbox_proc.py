"""Seeding a sandbox database and running sandbox server processes for the throughput and bulk sections.

The shipped command is ``horde-users sandbox serve --no-rate-limits``; ``serve_workers`` runs
``create_app`` under uvicorn, with the command's uvicorn settings, in one or more forked worker
processes sharing a listening socket and the database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


@dataclass
class Seeded:
    """What the load needs to know about a seeded database."""

    url: str
    users: int
    admin_key: str
    user_keys: list[str] = field(default_factory=list)


def seed(url: str, users: int, keys_kept: int = 100) -> Seeded:
    """A fresh sandbox database at ``url`` with an admin (id 1) and ``users - 1`` ordinary users.

    SQLite seeding runs with ``synchronous=OFF`` on the seeding connections only (the server opens its
    own), so 10,000 users take seconds instead of a minute of fsyncs.
    """
    from sqlalchemy import event

    from horde_users.sandbox import SandboxStore

    store = SandboxStore(url)
    store.drop_schema()
    store.close()
    store = SandboxStore(url)
    if store.dialect == "sqlite":

        @event.listens_for(store.engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=OFF")

        store.engine.dispose()
    admin = store.create_user("bench_admin", admin=True, moderator=True, kudos=1_000_000)
    keys: list[str] = []
    for n in range(1, users):
        user = store.create_user(f"bench_user{n:05d}", kudos=(n * 7919) % 100_000)
        if len(keys) < keys_kept:
            keys.append(user.api_key)
    store.close()
    return Seeded(url=url, users=users, admin_key=admin.api_key, user_keys=keys)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A sandbox server in its own process group (so that uvicorn's workers stop with it)."""

    def __init__(self, database: str, workers: int | None = None) -> None:
        """``workers`` None: the command ``horde-users sandbox serve``; N: ``serve_workers`` with N."""
        self.port = free_port()
        self.workers = workers
        if workers is None:
            argv = [str(BIN / "horde-users"), "sandbox", "serve", "--no-rate-limits"]
            argv += ["--port", str(self.port), "--database", database]
        else:
            argv = [str(BIN / "python"), str(Path(__file__)), database, str(self.port), str(workers)]
        self.log = tempfile.NamedTemporaryFile("w+", prefix="horde-bench-server-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=HERE, stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True
        )
        self._wait_ready()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _wait_ready(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                tail = self.log.read()[-2000:]
                raise RuntimeError(f"the sandbox server exited with status {self.proc.returncode}: {tail}")
            try:
                if httpx.get(f"{self.base}/v2/status/heartbeat", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the sandbox server did not answer within 60 s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its worker processes so far."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self._pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def _pids(self) -> list[int]:
        pids = [self.proc.pid]
        try:
            out = subprocess.run(
                ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True, check=False
            ).stdout
            pids = sorted({self.proc.pid, *(int(p) for p in out.split())})
        except FileNotFoundError:
            pass
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_workers(database: str, port: int, workers: int) -> None:
    """``create_app`` under uvicorn in ``workers`` forked processes sharing one listening socket.

    The socket is made with ``proto=IPPROTO_TCP`` so that asyncio sets TCP_NODELAY on every accepted
    connection (uvicorn's ``Config.bind_socket()`` leaves proto 0, and asyncio then skips TCP_NODELAY).
    """
    import uvicorn

    from horde_users.sandbox import create_app
    from horde_users.sandbox.connections import ConnectionGuard, ConnectionLimits
    from horde_users.sandbox.server import _protocol

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(True)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            config = uvicorn.Config(
                create_app(database=database, rate_limits=False),
                log_level="warning",
                access_log=False,
                lifespan="off",
                loop="auto",
                http=_protocol(ConnectionGuard(ConnectionLimits())),
                ws="none",
            )
            uvicorn.Server(config).run(sockets=[sock])
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    serve_workers(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
