"""Section 4: sandbox throughput with rate limits off; req/s, p50 and p99 per endpoint and concurrency.

The database holds 10,000 users (an admin plus ordinary users). Endpoints: ``GET /v2/users/{id}``
(anonymous, ids cycling over every user), ``GET /v2/users?page=N`` (pages 1-40 cycling),
``GET /v2/find_user`` (100 users' keys cycling) and ``PUT /v2/users/{id}`` (the admin adds 1 kudos,
ids cycling). 1, 8 and 32 keep-alive connections; the load comes from another process (wrk, else
bench/loadgen.py). Servers: the shipped command (``horde-users sandbox serve``, one process), and
``create_app`` under uvicorn with two worker processes sharing the database (see
bench/sandbox_proc.py). SQLite always; PostgreSQL too when
HORDE_USERS_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
AGENT = "horde-users-bench:1:local"
BASE_HEADERS = {"Accept": "application/json", "Client-Agent": AGENT}


def endpoint_requests(seeded: Seeded) -> dict[str, list[Request]]:
    ids = range(2, seeded.users + 1, 97)  # spread over the whole table
    return {
        "GET /v2/users/{id}": [("GET", f"/api/v2/users/{i}", BASE_HEADERS, None) for i in ids],
        "GET /v2/users?page=N": [
            ("GET", f"/api/v2/users?page={p}", BASE_HEADERS, None) for p in range(1, 41)
        ],
        "GET /v2/find_user": [
            ("GET", "/api/v2/find_user", {**BASE_HEADERS, "apikey": key}, None) for key in seeded.user_keys
        ],
        "PUT /v2/users/{id}": [
            (
                "PUT",
                f"/api/v2/users/{i}",
                {**BASE_HEADERS, "apikey": seeded.admin_key, "Content-Type": "application/json"},
                json.dumps({"kudos": 1}),
            )
            for i in ids
        ],
    }


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


def run_database(label: str, url: str, duration: float, workdir: Path) -> dict[str, Any]:
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
    return out


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
        "databases": {},
    }
    for label, url in databases.items():
        try:
            if label == "PostgreSQL":
                url = postgres_bench_url(url)
            results["databases"][label] = run_database(label, url, duration, workdir)
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
