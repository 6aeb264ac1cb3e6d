"""Section 6: the moderation index: ingest speed, ``user find`` latency on 1,000,000 users, sync pacing.

- **ingest**: parsed list pages (``ListUsersDetailsResponse``, 25 users each, parsed before timing) written
  the way a sync writes them (``PageWriter``: the users and the checkpoint in one transaction, committed
  at least every 0.25 s).
- **find**: an index of 1,000,000 synthetic users (written straight into the tables, with the real
  page's JSON as each user's public view), then a mix of searches through ``UserIndex.find`` (name
  fragments, aliases, ids, role filters, kudos and age ranges, every sort), each run several times;
  the 50th and 95th percentiles over all of them.
- **sync rate**: a sandbox with its rate limits on (90 list requests a minute) synced at 85 a minute:
  the achieved rate against the configured one, and the 429s met (must be none).

    python bench/bench_moderation.py --out result.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import list_page

USERS_FIND = 1_000_000
INGEST_USERS = 50_000
SYNC_RATE = 85.0
SYNC_PAGES = 30
FIND_ROUNDS = 5
WORDS = [
    "amber",
    "bison",
    "cedar",
    "delta",
    "ember",
    "falcon",
    "glade",
    "harbor",
    "iris",
    "juniper",
    "kestrel",
    "lumen",
    "maple",
    "nova",
    "onyx",
    "pixel",
    "quartz",
    "raven",
    "sierra",
    "tundra",
    "umber",
    "violet",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "art",
    "bot",
    "dream",
    "gpu",
    "horde",
    "kobold",
    "lora",
    "mage",
    "neon",
    "pony",
    "render",
    "stable",
    "tensor",
    "vision",
]


def synthetic_page(start_id: int, rng: random.Random) -> list[dict[str, Any]]:
    """25 users shaped like the real first page, with fresh ids, names, kudos and roles."""
    page = list_page()
    for offset, user in enumerate(page):
        user_id = start_id + offset
        user["id"] = user_id
        user["username"] = f"{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.randint(0, 9999)}#{user_id}"
        user["kudos"] = float(int(rng.paretovariate(1.2) * 10))
        user["trusted"] = rng.random() < 0.2
        user["flagged"] = rng.random() < 0.005
        user["account_age"] = rng.randint(60, 4 * 365 * 86400)
    return page


def bench_ingest(workdir: Path, users: int) -> dict[str, Any]:
    """Pages stored through the sync's own path (``PageWriter``: commits at least every 0.25 s)."""
    from horde_users.models import ListUsersDetailsResponse
    from horde_users.moderation.database import open_database
    from horde_users.moderation.index import UserIndex
    from horde_users.moderation.ingest import Checkpoint, PageWriter, relaxed_durability
    from horde_users.moderation.sync import _open_run

    rng = random.Random(5)
    pages = [
        ListUsersDetailsResponse.model_validate_json(json.dumps(synthetic_page(1 + n * 25, rng)))
        for n in range(users // 25)
    ]
    engine = open_database(str(workdir / "ingest.db"))
    UserIndex(engine)
    results: dict[str, Any] = {}
    for label in ("new users", "the same users again (updates)"):
        run_id, _ = _open_run(engine, "bench", time.time())
        checkpoint = Checkpoint(run_id, 1, 0, 0)
        with engine.connect() as conn, relaxed_durability(conn):
            started, cpu_started = time.perf_counter(), time.process_time()
            writer = PageWriter(conn, checkpoint)
            for number, page in enumerate(pages, start=1):
                writer.add(page, next_page=number + 1, now=time.time(), last=number == len(pages))
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            with conn.begin():
                conn.exec_driver_sql("UPDATE index_sync_runs SET finished_at = 1")
        results[label] = {
            "users": checkpoint.users_seen,
            "seconds": seconds,
            "users_per_s": checkpoint.users_seen / seconds,
            "cpu_users_per_s": checkpoint.users_seen / cpu_seconds,
        }
    engine.dispose()
    return results


def build_big_index(path: Path, users: int) -> float:
    """``users`` synthetic users written straight into the index tables; returns the seconds it took."""
    import sqlite3

    from horde_users.moderation.database import open_database
    from horde_users.moderation.index import UserIndex

    started = time.perf_counter()
    engine = open_database(str(path))
    index = UserIndex(engine)
    engine.dispose()
    template = json.dumps(list_page()[3])
    rng = random.Random(1)
    now = time.time()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    columns = (
        "id, username, name, name_lower, kudos, concurrency, worker_count, moderator, trusted, flagged, "
        "service, education, customizer, deleted, pseudonymous, account_age, created_at, "
        "listed_at, seen_in_run, gone"
    )
    marks = ", ".join("?" * 20)
    batch: list[tuple[Any, ...]] = []
    names: list[tuple[int, str]] = []

    def flush() -> None:
        conn.executemany(f"INSERT INTO index_users ({columns}) VALUES ({marks})", batch)
        conn.executemany(
            "INSERT INTO index_user_views (id, public_json) VALUES (?, ?)",
            [(row[0], template) for row in batch],
        )
        conn.executemany("INSERT INTO index_user_names(rowid, name_lower) VALUES (?, ?)", names)
        batch.clear()
        names.clear()

    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO index_sync_runs (source, started_at, finished_at, next_page, pages_done, "
        "users_seen, reached_page_limit) VALUES ('bench', ?, ?, 1, 0, 0, 0)",
        (now, now),
    )
    for user_id in range(users):
        name = f"{rng.choice(WORDS)}{rng.choice(WORDS).capitalize()}{rng.randint(0, 99999)}"
        age = int((user_id / users) * 4 * 365 * 86400 * rng.uniform(0.98, 1.0))
        age = 4 * 365 * 86400 - age
        batch.append(
            (
                user_id,
                f"{name}#{user_id}",
                name,
                name.lower(),
                float(int(rng.paretovariate(1.1) * 10)),
                30,
                1 if rng.random() < 0.01 else 0,
                rng.random() < 0.0002,
                rng.random() < 0.2,
                rng.random() < 0.005,
                rng.random() < 0.001,
                rng.random() < 0.001,
                rng.random() < 0.01,
                rng.random() < 0.02,
                rng.random() < 0.1,
                age,
                now - age,
                now,
                1,
                rng.random() < 0.01,
            )
        )
        names.append((user_id, name.lower()))
        if len(batch) == 20_000:
            flush()
    flush()
    conn.execute("COMMIT")
    conn.close()
    index._analyze()
    return time.perf_counter() - started


def find_queries() -> list[tuple[str, dict[str, Any]]]:
    """The search mix: what moderators type, and what the console asks for."""
    from horde_users.moderation.filters import Filters, parse_age

    day = parse_age("1d")
    return [
        ("fragment 'falcon'", {"filters": Filters(text="falcon")}),
        ("fragment 'onrav' (rare)", {"filters": Filters(text="onrav")}),
        ("fragment 'xenonzephyr4' by name", {"filters": Filters(text="xenonzephyr4"), "sort": "name"}),
        ("fragment 'zz' (no trigram)", {"filters": Filters(text="zz")}),
        ("fragment '12345'", {"filters": Filters(text="12345")}),
        ("alias NAME#ID", {"filters": Filters(text="whatever#777777")}),
        ("id 424242", {"filters": Filters(text="424242")}),
        ("trusted by kudos", {"filters": Filters(trusted=True)}),
        ("flagged by kudos", {"filters": Filters(flagged=True)}),
        ("moderators", {"filters": Filters(moderator=True)}),
        ("flagged, newest", {"filters": Filters(flagged=True), "sort": "newest"}),
        ("service + has workers", {"filters": Filters(service=True, has_workers=True)}),
        ("deleted by age", {"filters": Filters(deleted=True), "sort": "age"}),
        ("min-kudos 1e4 by kudos", {"filters": Filters(min_kudos=10_000)}),
        ("kudos 100..200, untrusted", {"filters": Filters(min_kudos=100, max_kudos=200, trusted=False)}),
        ("newer than 30d", {"filters": Filters(newer_than=30 * day), "sort": "newest"}),
        ("older than 3y, flagged", {"filters": Filters(older_than=3 * 365 * day, flagged=True)}),
        ("all, by name", {"filters": Filters(), "sort": "name"}),
        ("all, by id, offset 10000", {"filters": Filters(), "sort": "id", "offset": 10_000}),
        ("gone users", {"filters": Filters(gone=True)}),
    ]


def bench_find(workdir: Path, users: int, rounds: int) -> dict[str, Any]:
    from horde_users.moderation.index import UserIndex

    path = workdir / "big.db"
    build_seconds = build_big_index(path, users)
    index = UserIndex.open(str(path))
    per_query: dict[str, list[float]] = {}
    for label, query in find_queries():
        index.find(limit=50, **query)  # warm the page cache once
        for _ in range(rounds):
            started = time.perf_counter()
            found = index.find(limit=50, **query)
            per_query.setdefault(label, []).append(time.perf_counter() - started)
        per_query[label + " (results)"] = [float(len(found))]
    index.engine.dispose()
    timings = [t for label, ts in per_query.items() if not label.endswith("(results)") for t in ts]
    timings.sort()
    return {
        "users": users,
        "build_seconds": build_seconds,
        "db_bytes": path.stat().st_size,
        "p50_ms": statistics.median(timings) * 1000,
        "p95_ms": timings[int(len(timings) * 0.95) - 1] * 1000,
        "max_ms": timings[-1] * 1000,
        "queries": {
            label: {"median_ms": statistics.median(ts) * 1000, "max_ms": max(ts) * 1000}
            for label, ts in per_query.items()
            if not label.endswith("(results)")
        },
        "results": {
            label[: -len(" (results)")]: int(ts[0])
            for label, ts in per_query.items()
            if label.endswith("(results)")
        },
    }


def bench_sync_rate(workdir: Path, pages: int, rate: float) -> dict[str, Any]:
    from horde_users.client import HordeUsers
    from horde_users.moderation.index import UserIndex
    from horde_users.sandbox import Sandbox

    with Sandbox(rate_limits=True) as sandbox:
        for n in range(pages * 25 - 1):  # with Anonymous: exactly ``pages`` full pages, then one empty
            sandbox.store.create_user(f"paced{n}")
        index = UserIndex.open(str(workdir / "paced.db"))
        with HordeUsers(base_url=sandbox.url, max_retries=0) as client:
            report = index.sync(client, rate=rate)
        index.engine.dispose()
    achieved = (report.requests - 1) / report.elapsed * 60 if report.elapsed else 0.0
    return {
        "configured_per_min": rate,
        "requests": report.requests,
        "seconds": report.elapsed,
        "achieved_per_min": achieved,
        "ratio": achieved / rate,
        "rate_limited": report.rate_limited,
        "users": report.users_indexed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only",
        choices=("ingest", "find", "sync"),
        action="append",
        help="run only this part (repeatable; the report needs all three)",
    )
    args = parser.parse_args()
    quick = args.quick
    parts = set(args.only or ("ingest", "find", "sync"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-moderation-", dir=os.environ.get("BENCH_WORKDIR")))
    result: dict[str, Any] = {"load_average": os.getloadavg()}
    if "ingest" in parts:
        result["ingest"] = bench_ingest(workdir, 5_000 if quick else INGEST_USERS)
    if "find" in parts:
        result["find"] = bench_find(workdir, 100_000 if quick else USERS_FIND, 2 if quick else FIND_ROUNDS)
    if "sync" in parts:
        result["sync"] = bench_sync_rate(workdir, 4 if quick else SYNC_PAGES, SYNC_RATE)
    result["load_average_after"] = os.getloadavg()
    for file in workdir.iterdir():
        file.unlink()
    workdir.rmdir()
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def render_moderation(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    """The section of BENCHMARKS.md (registered by bench/run.py)."""
    ingest = r["ingest"]
    slowest = min(v["users_per_s"] for v in ingest.values())
    find = r["find"]
    sync = r["sync"]
    ok = "met"
    missed = "**missed**"
    targets.append(
        [
            "Index ingest ≥ 20,000 users/s",
            f"{slowest:,.0f} users/s (slowest pass)",
            ok if slowest >= 20_000 else missed,
        ]
    )
    targets.append(
        [
            "`user find` p95 ≤ 50 ms on 1,000,000 users",
            f"p95 {find['p95_ms']:.1f} ms, p50 {find['p50_ms']:.1f} ms on {find['users']:,} users",
            ok if find["p95_ms"] <= 50 and find["users"] >= 1_000_000 else missed,
        ]
    )
    targets.append(
        [
            "Index sync ≥ 95 % of the configured rate, no 429",
            f"{sync['achieved_per_min']:.1f}/min of {sync['configured_per_min']:g} ({sync['ratio']:.1%}), "
            f"{sync['rate_limited']} × 429",
            ok if sync["ratio"] >= 0.95 and sync["rate_limited"] == 0 else missed,
        ]
    )
    return [
        "## 6. Moderation index",
        "",
        "Ingest: parsed pages written the way a sync writes them (`PageWriter`: users and checkpoint in one "
        "transaction, committed at least every 0.25 s), SQLite file in WAL mode."
        + (
            f" Load average {r['load_average'][0]:.1f} before, {r['load_average_after'][0]:.1f} after."
            if "load_average" in r and "load_average_after" in r
            else ""
        ),
        "",
        "| pass | users | users/s (wall) | users/s (per CPU second of this process) |",
        "|---|---:|---:|---:|",
        *(
            f"| {k} | {v['users']:,} | {v['users_per_s']:,.0f} | {v['cpu_users_per_s']:,.0f} |"
            for k, v in ingest.items()
        ),
        "",
        f"`UserIndex.find(limit=50)` on {find['users']:,} synthetic users "
        f"(built in {find['build_seconds']:.0f} s, "
        f"{find['db_bytes'] / 2**20:,.0f} MiB); each query run several times after one warm-up.",
        "",
        "| query | median | max | results |",
        "|---|---:|---:|---:|",
        *(
            f"| {k} | {v['median_ms']:.1f} ms | {v['max_ms']:.1f} ms | {find['results'].get(k, '')} |"
            for k, v in find["queries"].items()
        ),
        "",
        "Over 50 ms (median): "
        + (
            ", ".join(
                f"{k} ({v['median_ms']:.0f} ms)" for k, v in find["queries"].items() if v["median_ms"] > 50
            )
            or "none"
        )
        + ". A fragment of one or two characters cannot use the trigram table; when it is rare, every "
        "name is read once.",
        "",
        f"Sync against a sandbox with its rate limits on: {sync['requests']} requests "
        f"in {sync['seconds']:.1f} s at "
        f"`--rate {sync['configured_per_min']:g}`: {sync['achieved_per_min']:.1f} requests a minute, "
        f"{sync['rate_limited']} answered 429.",
        "",
    ]


if __name__ == "__main__":
    main()
