"""Section 4: sandbox throughput with rate limits off; req/s, p50 and p99 per endpoint and concurrency.

The database holds 10,000 users (an admin plus ordinary users). Endpoints: ``GET /v2/users/{id}``
(anonymous, ids cycling over every user), ``GET /v2/users?page=N`` (pages 1-40 cycling),
``GET /v2/find_user`` (100 users' keys cycling) and ``PUT /v2/users/{id}`` (the admin adds 1 kudos,
ids cycling). 1, 8 and 32 keep-alive connections; the load comes from another process (wrk, else
bench/loadgen.py). Servers: the shipped command (``horde-users sandbox serve``, one process), and
``create_app`` under uvicorn with two worker processes sharing the database (see
bench/sandbox_proc.py). SQLite always; PostgreSQL too when
HORDE_USERS_TEST_POSTGRES_URL is set.

Side by side with a live real server (else the report compares with recorded figures): set
``HORDE_USERS_BENCH_REAL_SERVER`` to its base URL (ending in ``/api``, rate limits off), and for the
endpoints that need them ``HORDE_USERS_BENCH_REAL_USER_IDS`` (ids of its users, ``1-1000`` or
``1,5,9``), ``HORDE_USERS_BENCH_REAL_KEYS`` (comma-separated API keys of its users, for find_user) and
``HORDE_USERS_BENCH_REAL_ADMIN_KEY`` (an admin's key: PUT adds 1 kudos). Each endpoint is then loaded
at 8 connections in alternating rounds, the sandbox's shipped command and the real server taking
turns, and the report takes the ratio of the medians. An endpoint without its ids or keys keeps the
recorded figure. Keys never reach the output.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import section_args, write_result
from loadgen import Request, have_wrk, run_load
from sandbox_proc import Seeded, Server, seed

USERS = 10_000
PG_SCHEMA = "horde_bench"
SERVERS: dict[str, int | None] = {
    "horde-users sandbox serve": None,
    "create_app, 2 workers, TCP_NODELAY": 2,
}
CONCURRENCY = (1, 8, 32)
SHIPPED = "horde-users sandbox serve"
REAL_SERVER_ENV = "HORDE_USERS_BENCH_REAL_SERVER"
REAL_IDS_ENV = "HORDE_USERS_BENCH_REAL_USER_IDS"
REAL_KEYS_ENV = "HORDE_USERS_BENCH_REAL_KEYS"
REAL_ADMIN_ENV = "HORDE_USERS_BENCH_REAL_ADMIN_KEY"
SIDE_BY_SIDE_CONNECTIONS = 8
AGENT = "horde-users-bench:1:local"
BASE_HEADERS = {"Accept": "application/json", "Client-Agent": AGENT}


def endpoint_requests(seeded: Seeded) -> dict[str, list[Request]]:
    ids = range(2, seeded.users + 1, 97)  # spread over the whole table
    return requests_for("/api", list(ids), seeded.user_keys, seeded.admin_key)


def requests_for(
    prefix: str, ids: list[int], keys: list[str], admin_key: str | None
) -> dict[str, list[Request]]:
    """Each endpoint's requests under ``prefix`` (``/api``); one without its ids or keys is left out."""
    out: dict[str, list[Request]] = {}
    if ids:
        out["GET /v2/users/{id}"] = [("GET", f"{prefix}/v2/users/{i}", BASE_HEADERS, None) for i in ids]
    out["GET /v2/users?page=N"] = [
        ("GET", f"{prefix}/v2/users?page={p}", BASE_HEADERS, None) for p in range(1, 41)
    ]
    if keys:
        out["GET /v2/find_user"] = [
            ("GET", f"{prefix}/v2/find_user", {**BASE_HEADERS, "apikey": key}, None) for key in keys
        ]
    if ids and admin_key:
        out["PUT /v2/users/{id}"] = [
            (
                "PUT",
                f"{prefix}/v2/users/{i}",
                {**BASE_HEADERS, "apikey": admin_key, "Content-Type": "application/json"},
                json.dumps({"kudos": 1}),
            )
            for i in ids
        ]
    return out


class RealServer:
    """A live real server from the environment (see the module docstring), or None when not set."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"{REAL_SERVER_ENV} must be an http(s) URL ending in /api")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.shown = f"{parts.scheme}://{self.host}:{self.port}{parts.path.rstrip('/')}"  # no credentials
        self.requests = requests_for(
            parts.path.rstrip("/"), _ids(os.environ.get(REAL_IDS_ENV, "")), _keys(REAL_KEYS_ENV), _admin()
        )

    @classmethod
    def from_env(cls) -> RealServer | None:
        url = os.environ.get(REAL_SERVER_ENV, "").strip()
        return cls(url) if url else None

    def load(self, requests: list[Request], connections: int, duration: float) -> dict[str, Any]:
        return run_load(self.host, self.port, requests, connections, duration, scheme=self.scheme)


def _ids(text: str) -> list[int]:
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        out += list(range(int(first), int(last or first) + 1))
    return out


def _keys(name: str) -> list[str]:
    return [key.strip() for key in os.environ.get(name, "").split(",") if key.strip()]


def _admin() -> str | None:
    return os.environ.get(REAL_ADMIN_ENV, "").strip() or None


def side_by_side(
    server: Server, requests: dict[str, list[Request]], real: RealServer, duration: float, rounds: int
) -> dict[str, Any]:
    """Each endpoint the real server can take, loaded in alternating rounds with the sandbox."""
    out: dict[str, Any] = {}
    for name, real_batch in real.requests.items():
        sandbox_rps: list[float] = []
        real_rps: list[float] = []
        errors = 0
        for turn in range(rounds):
            for side in ("sandbox", "real") if turn % 2 == 0 else ("real", "sandbox"):
                if side == "sandbox":
                    result = run_load(
                        "127.0.0.1", server.port, requests[name], SIDE_BY_SIDE_CONNECTIONS, duration
                    )
                    sandbox_rps.append(result["rps"])
                else:
                    result = real.load(real_batch, SIDE_BY_SIDE_CONNECTIONS, duration)
                    real_rps.append(result["rps"])
                errors += result["non2xx"] + result["socket_errors"]
        sandbox, real_median = statistics.median(sandbox_rps), statistics.median(real_rps)
        out[name] = {
            "sandbox_rps": sandbox_rps,
            "real_rps": real_rps,
            "ratio": sandbox / real_median if real_median else 0.0,
            "errors": errors,
        }
        print(
            f"sandbox: side by side {name}: sandbox {sandbox:.0f}/s, real {real_median:.0f}/s",
            file=sys.stderr,
            flush=True,
        )
    return out


def check(server: Server, requests: dict[str, list[Request]]) -> None:
    """Every request kind answers 2xx once before it is measured."""
    import httpx

    for name, batch in requests.items():
        method, path, headers, body = batch[0]
        response = httpx.request(
            method, f"http://127.0.0.1:{server.port}{path}", headers=headers, content=body
        )
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")


def measure(server: Server, requests: dict[str, list[Request]], duration: float) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for batch in requests.values():  # warm every path (and the workers) first
        run_load("127.0.0.1", server.port, batch, 8, 1.0)
    heartbeat: list[Request] = [("GET", "/api/v2/status/heartbeat", BASE_HEADERS, None)]
    ceiling = run_load("127.0.0.1", server.port, heartbeat, 8, duration)
    print(f"sandbox: heartbeat c=8: {ceiling['rps']:.0f} req/s", file=sys.stderr, flush=True)
    for name, batch in requests.items():
        for connections in CONCURRENCY:
            cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
            result = run_load("127.0.0.1", server.port, batch, connections, duration)
            wall = time.perf_counter() - wall_before
            result["server_cores_busy"] = (server.cpu_seconds() - cpu_before) / wall
            cells[f"{name} | {connections}"] = result
            print(
                f"sandbox: {name} c={connections}: {result['rps']:.0f} req/s "
                f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    return {"cells": cells, "heartbeat_c8": ceiling}


def run_database(
    label: str, url: str, duration: float, workdir: Path, real: RealServer | None, rounds: int
) -> dict[str, Any]:
    started = time.perf_counter()
    seeded = seed(url, USERS)
    seed_s = time.perf_counter() - started
    print(f"sandbox: {label}: seeded {USERS} users in {seed_s:.0f} s", file=sys.stderr, flush=True)
    requests = endpoint_requests(seeded)
    out: dict[str, Any] = {"seed_s": seed_s}
    for config, workers in SERVERS.items():
        with Server(url, workers=workers) as server:
            check(server, requests)
            out[config] = measure(server, requests, duration)
            if real is not None and config == SHIPPED:
                out[config]["side_by_side"] = side_by_side(server, requests, real, duration, rounds)
    return out


def http_parser() -> str:
    """What the sandbox parses requests with here (what ``horde-users sandbox serve`` picks)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools (h11 for the requests it does not read alike)"


def postgres_bench_url(url: str) -> str:
    """``url`` with its tables in a schema of their own (``horde_bench``), away from the tests' tables."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
    engine.dispose()
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{PG_SCHEMA}"


def drop_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


def main() -> None:
    args = section_args(__doc__ or "")
    duration = 1.0 if args.quick else 3.0
    workdir = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="horde-bench-"))
    databases = {"SQLite": f"sqlite:///{workdir / 'throughput.db'}"}
    postgres = os.environ.get("HORDE_USERS_TEST_POSTGRES_URL")
    if postgres:
        databases["PostgreSQL"] = postgres
    results: dict[str, Any] = {
        "users": USERS,
        "duration_s": duration,
        "load_tool": "wrk" if have_wrk() else "python-asyncio (bench/loadgen.py)",
        "http_parser": http_parser(),
        "databases": {},
    }
    real = RealServer.from_env()
    rounds = 2 if args.quick else 5
    if real is not None:
        results["real_server"] = {"url": real.shown, "rounds": rounds, "endpoints": list(real.requests)}
    for label, url in databases.items():
        try:
            if label == "PostgreSQL":
                url = postgres_bench_url(url)
            results["databases"][label] = run_database(label, url, duration, workdir, real, rounds)
        except Exception as exc:  # one database failing must not lose the other's numbers
            print(f"sandbox: {label} failed: {exc!r}", file=sys.stderr, flush=True)
            results["databases"][label] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            if label == "PostgreSQL":
                with contextlib.suppress(Exception):
                    drop_postgres_schema(postgres or "")
    write_result(args.out, results)


if __name__ == "__main__":
    main()
