"""Console pages over a 1,000,000-user index: latency of each page, p50 and p95, over real HTTP.

The index is written straight into the moderation database (the rows a sync would store, plus the
SQLite trigram name table), with 10,000 journal entries; the console runs on a real port against a
sandbox (for the user page) and is asked for each page in turn by one logged-in client. The target is
100 ms p95 per page. The index summary on the search page (its size, counted over all rows) is renewed
in the background every 30 s; ``search while the index is recounted`` times pages during that count.

Standalone: ``python bench/bench_console.py --out console.json [--users N] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def build_index(url: str, users: int) -> None:
    """``users`` indexed users (ids 1..users) stored the way a sync stores them, and a finished run."""
    from sqlalchemy import insert

    from horde_users.models import UserDetailsResponse
    from horde_users.moderation.database import open_database
    from horde_users.moderation.index import UserIndex
    from horde_users.moderation.index_tables import index_sync_runs
    from horde_users.moderation.ingest import upsert_users

    engine = open_database(url)
    UserIndex(engine)  # creates the tables
    rng = random.Random(7)
    now = time.time()
    words = ["alpha", "bravo", "delta", "echo", "kilo", "lima", "nova", "omega", "pixel", "zulu"]
    with engine.begin() as conn:
        run = conn.execute(
            insert(index_sync_runs),
            {"source": "bench", "started_at": now - 60, "next_page": 1, "reached_page_limit": False},
        )
        run_id = int(run.inserted_primary_key[0])  # type: ignore[index]
    batch: list[UserDetailsResponse] = []

    def flush() -> None:
        with engine.begin() as conn:
            upsert_users(conn, batch, run_id, now)
        batch.clear()

    for user_id in range(1, users + 1):
        name = f"{rng.choice(words)}{user_id}"
        roles = {role: rng.random() < 0.05 for role in ROLES}
        batch.append(
            UserDetailsResponse.model_validate(
                {
                    "username": f"{name}#{user_id}",
                    "id": user_id,
                    "kudos": float(rng.randint(0, 10**7)),
                    "concurrency": 30,
                    "worker_count": rng.choice((0, 0, 0, 1, 2)),
                    "account_age": rng.randint(0, 3 * 365 * 86400),
                    **roles,
                }
            )
        )
        if len(batch) >= 20_000:
            flush()
    if batch:
        flush()
    with engine.begin() as conn:
        conn.execute(
            index_sync_runs.update()
            .where(index_sync_runs.c.id == run_id)
            .values(finished_at=now, next_page=users // 25 + 2, pages_done=users // 25 + 1, users_seen=users)
        )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


ROLES = ("moderator", "trusted", "flagged", "service", "education", "customizer", "deleted", "pseudonymous")


def build_journal(url: str, entries: int, users: int) -> None:
    """``entries`` completed journal entries spread over the users."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert

    from horde_users.moderation.database import open_database
    from horde_users.moderation.journal import Journal, journal_table

    engine = open_database(url)
    Journal(engine)
    rng = random.Random(11)
    start = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=30)
    rows = []
    for number in range(entries):
        user_id = rng.randint(1, users)
        rows.append(
            {
                "time": start + timedelta(seconds=number * 60),
                "completed_at": start + timedelta(seconds=number * 60 + 1),
                "action": "modify",
                "actor_id": 1,
                "actor": "modo#1",
                "user_id": user_id,
                "user_name": f"user#{user_id}",
                "reason": "bench",
                "changes": {"trusted": True},
                "before": {"trusted": False},
                "reply": {"trusted": True},
                "after": {"trusted": True},
                "outcome": "done",
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(journal_table), rows)
    engine.dispose()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="fewer requests per page")
    parser.add_argument("--reuse", type=Path, help="a database an earlier run built (kept, not rebuilt)")
    args = parser.parse_args()

    requests = 40 if args.quick else 200
    folder = Path(tempfile.mkdtemp(prefix="bench-console-"))
    url = str(args.reuse or folder / "moderation.db")
    started = time.perf_counter()
    if args.reuse is None:
        build_index(url, args.users)
        build_journal(url, 10_000, args.users)
    built = time.perf_counter() - started
    try:
        run_pages(args, url, built, requests)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_pages(args: argparse.Namespace, url: str, built: float, requests: int) -> None:
    """Ask the console for each page ``requests`` times and write the timings."""
    import httpx

    from horde_users.console import toolkit
    from horde_users.console.context import ConsoleConfig
    from horde_users.console.server import ConsoleServer
    from horde_users.sandbox import Sandbox

    results: dict[str, Any] = {"users": args.users, "journal_entries": 10_000, "build_seconds": built}
    pages = {
        "search (default: most kudos)": "/",
        "search a name fragment": "/?q=omega12",
        "search with filters": "/?trusted=yes&has_workers=yes&min_kudos=5000000",
        "search sorted by name, page 200": "/?sort=name&page=200",
        "search newest, 100 per page": "/?sort=newest&per=100",
        "journal": "/journal",
        "journal of one user": "/journal?user=4242",
        "user page (API + journal)": "/users/{target}",
    }
    with Sandbox() as sandbox:
        moderator = sandbox.create_user("modo", moderator=True)
        target = sandbox.create_user("target")
        config = ConsoleConfig(url=sandbox.url, api_key=moderator.api_key, database=url)
        with ConsoleServer(config) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get(server.login_url).status_code == 303
            timings: dict[str, dict[str, float]] = {}
            for label, path in pages.items():
                path = path.format(target=target.id)
                for _ in range(5):
                    _ok(client.get(path))
                samples = []
                for _ in range(requests):
                    begin = time.perf_counter()
                    _ok(client.get(path))
                    samples.append(time.perf_counter() - begin)
                timings[label] = _summary(samples)
            cold = []
            for _ in range(max(5, requests // 10)):
                toolkit.forget_state(server.console)
                begin = time.perf_counter()
                _ok(client.get("/"))
                cold.append(time.perf_counter() - begin)
            timings["search while the index is recounted"] = _summary(cold)
    results["pages"] = timings
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for label, numbers in timings.items():
        print(f"{label:36s} p50 {numbers['p50_ms']:7.1f} ms   p95 {numbers['p95_ms']:7.1f} ms")


def _ok(response: Any) -> None:
    """Fail on any answer but 200, with the page's error line (the pages show errors, not raise them)."""
    if response.status_code != 200:
        import re

        shown = re.findall(r'class="error"[^>]*>([^<]*)', response.text)
        raise SystemExit(f"{response.url}: {response.status_code} {shown}")


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p95_ms": percentile(samples, 0.95) * 1000,
        "max_ms": max(samples) * 1000,
        "requests": len(samples),
    }


def render_console(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    """The section of BENCHMARKS.md (registered by bench/run.py)."""
    pages: dict[str, dict[str, float]] = r["pages"]
    worst = max(numbers["p95_ms"] for numbers in pages.values())
    met = worst <= 100 and r["users"] >= 1_000_000
    targets.append(
        [
            "Console pages p95 ≤ 100 ms on 1,000,000 users",
            f"slowest page p95 {worst:.1f} ms on {r['users']:,} users",
            "met" if met else "**missed**",
        ]
    )
    return [
        "## 7. Moderator console pages",
        "",
        f"Each page asked for over real HTTP by one logged-in client, {r['users']:,} indexed users and "
        f"{r['journal_entries']:,} journal entries (built in {r['build_seconds']:.0f} s); the user page "
        "also reads the user from a sandbox.",
        "",
        "| page | p50 | p95 | max |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {n['p50_ms']:.1f} ms | {n['p95_ms']:.1f} ms | {n['max_ms']:.1f} ms |"
            for label, n in pages.items()
        ),
        "",
    ]


if __name__ == "__main__":
    main()
