"""Section 5: ``iter_users`` over a 10,000-user sandbox: time and peak memory of the client process.

Each measurement is a fresh client process (``python bench_bulk.py --client ...``) that iterates and
drops each user. Peak memory is tracemalloc's peak of Python allocations during the iteration (a run of
its own, since tracing slows Python down) and the peak resident set (VmHWM) before and after. Memory
is flat when the peak for 10,000 users is the peak for 1,000; ``list(iter_users())``, which keeps
every user, shows what growth would look like. The server is ``create_app`` in one uvicorn worker
with TCP_NODELAY (see bench/sandbox_proc.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

USERS = 10_000


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's peak over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def client(base: str, count: int, mode: str, trace: bool) -> dict[str, Any]:
    from horde_users import AsyncHordeUsers, HordeUsers

    rss_before = peak_rss_kib()
    seen = 0
    marks = bytearray(USERS + 2)  # which ids were seen, allocated before tracing starts
    duplicates = 0
    kept: list[Any] = []

    def mark(user_id: int | None) -> None:
        nonlocal duplicates
        index = user_id or 0
        duplicates += marks[index]
        marks[index] = 1

    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    if mode == "async":

        async def go() -> int:
            n = 0
            async with AsyncHordeUsers(base_url=base) as api:
                async for user in api.iter_users(limit=count):
                    n += 1
                    mark(user.id_)
            return n

        seen = asyncio.run(go())
    else:
        with HordeUsers(base_url=base) as api:
            if mode == "retain":
                kept = list(api.iter_users(limit=count))
                seen = len(kept)
                for user in kept:
                    mark(user.id_)
            else:
                for user in api.iter_users(limit=count):
                    seen += 1
                    mark(user.id_)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    assert seen == count and duplicates == 0, (seen, count, duplicates)
    return {
        "users": seen,
        "seconds": elapsed,
        "tracemalloc_peak_bytes": peak,
        "peak_rss_kib_before": rss_before,
        "peak_rss_kib_after": peak_rss_kib(),
    }


def run_client(base: str, count: int, mode: str, trace: bool) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--client", base, str(count), mode]
    if trace:
        argv.append("--trace")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"client run failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


RUNS = [
    # (label, users, mode, tracemalloc)
    ("iter_users, 1,000 users", 1_000, "sync", False),
    ("iter_users, 10,000 users", 10_000, "sync", False),
    ("iter_users, 1,000 users (tracemalloc)", 1_000, "sync", True),
    ("iter_users, 10,000 users (tracemalloc)", 10_000, "sync", True),
    ("async iter_users, 10,000 users", 10_000, "async", False),
    ("list(iter_users()), 10,000 users kept (tracemalloc)", 10_000, "retain", True),
]


def main() -> None:
    from _common import section_args, write_result
    from sandbox_proc import Server, seed

    args = section_args(__doc__ or "")
    workdir = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="horde-bench-"))
    url = f"sqlite:///{workdir / 'bulk.db'}"
    started = time.perf_counter()
    seed(url, USERS)
    seed_s = time.perf_counter() - started
    print(f"bulk: seeded {USERS} users in {seed_s:.0f} s", file=sys.stderr, flush=True)
    results: dict[str, Any] = {"users_in_database": USERS, "seed_s": seed_s, "runs": {}}
    with Server(url, workers=1) as server:
        run_client(server.base, 100, "sync", False)  # warm the server and the database cache
        for label, count, mode, trace in RUNS:
            if args.quick and count > 1_000:
                count = 2_000
            results["runs"][label] = run_client(server.base, count, mode, trace)
            print(f"bulk: {label}: {results['runs'][label]}", file=sys.stderr, flush=True)
    write_result(args.out, results)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        parser = argparse.ArgumentParser()
        parser.add_argument("--client", required=True)
        parser.add_argument("count", type=int)
        parser.add_argument("mode", choices=["sync", "async", "retain"])
        parser.add_argument("--trace", action="store_true")
        ns = parser.parse_args()
        print(json.dumps(client(ns.client, ns.count, ns.mode, ns.trace)))
    else:
        main()
