"""``horde-users index ...`` and ``user find`` end to end: a real sandbox, a real index database."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from horde_users.sandbox import Sandbox
from tests.cli.conftest import Cli, Seeded, one_error_line

FAST = ("--rate", "60000")


@pytest.fixture
def db(tmp_path: Path) -> dict[str, str]:
    """The environment that points the CLI at a fresh index file."""
    return {"HORDE_USERS_DATABASE": str(tmp_path / "index.db")}


@pytest.fixture
def synced(cli: Cli, db: dict[str, str]) -> dict[str, str]:
    result = cli("index", "sync", *FAST, **db)
    assert result.exit_code == 0, result.stderr
    return db


def test_find_on_an_index_never_synced_says_how_to_sync(cli: Cli, db: dict[str, str]) -> None:
    result = cli("user", "find", "alice", **db)
    assert result.exit_code == 2  # a local problem: nothing was asked of the server
    assert "never synced" in one_error_line(result)
    assert "horde-users index sync" in result.stderr


def test_sync_then_find_by_fragment_alias_and_id(cli: Cli, seeded: Seeded, synced: dict[str, str]) -> None:
    table = cli("user", "find", "ALI", **synced)
    assert table.exit_code == 0
    assert seeded.alice.alias in table.stdout
    assert "synced just now" in table.stderr
    by_alias = cli("--json", "user", "find", seeded.bob.alias, **synced)
    assert [u["id"] for u in json.loads(by_alias.stdout)] == [seeded.bob.id]
    by_id = cli("user", "find", str(seeded.service.id), "--json", **synced)
    assert seeded.service.id in [u["id"] for u in json.loads(by_id.stdout)]


def test_find_json_is_the_list_view_of_each_user(cli: Cli, seeded: Seeded, synced: dict[str, str]) -> None:
    found = json.loads(cli("user", "find", "--json", "--sort", "id", "--limit", "0", **synced).stdout)
    listed = json.loads(cli("--json", "user", "list", "--sort", "age", "--all").stdout.splitlines()[0])
    assert found[0].keys() == listed.keys()
    assert [u["id"] for u in found] == sorted(u["id"] for u in found)
    assert {u["username"] for u in found} >= {seeded.alice.alias, seeded.bob.alias, seeded.admin.alias}


def test_find_filters_and_sort(cli: Cli, seeded: Seeded, synced: dict[str, str]) -> None:
    def ids(*args: str) -> list[int]:
        result = cli("user", "find", "--json", *args, **synced)
        assert result.exit_code == 0, result.stderr
        return [u["id"] for u in json.loads(result.stdout)]

    assert ids("--moderator") == [seeded.moderator.id]
    assert ids("--service") == [seeded.service.id]
    assert ids("--min-kudos", "250") == [seeded.admin.id, seeded.moderator.id, seeded.alice.id]
    assert ids("--min-kudos", "250", "--sort", "kudos", "--reverse") == [
        seeded.alice.id,
        seeded.moderator.id,
        seeded.admin.id,
    ]
    assert ids("--max-kudos", "150", "--min-kudos", "100") == [seeded.service.id]
    assert ids("--newer-than", "1h", "--trusted", "--no-moderator") == []
    assert ids("--older-than", "1d") == []


def test_find_csv(cli: Cli, seeded: Seeded, synced: dict[str, str]) -> None:
    result = cli("user", "find", "--csv", "--min-kudos", "250", **synced)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["username"] for row in rows] == [
        seeded.admin.alias,
        seeded.moderator.alias,
        seeded.alice.alias,
    ]


def test_export_matches_find(cli: Cli, synced: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "trusted.jsonl"
    result = cli("index", "export", "--format", "jsonl", "--output", str(out), "--min-kudos", "150", **synced)
    assert result.exit_code == 0, result.stderr
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    found = json.loads(cli("user", "find", "--json", "--sort", "id", "--min-kudos", "150", **synced).stdout)
    assert exported == found
    as_csv = cli("index", "export", "--format", "csv", "--min-kudos", "150", **synced)
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(as_csv.stdout))] == [u["id"] for u in found]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "find", "--older-than", "soon"), "not an age"),
        (("user", "find", "--min-kudos", "9", "--max-kudos", "1"), "nothing can match"),
        (("user", "find", "--json", "--csv"), "one of --json and --csv"),
        (("index", "export", "--format", "xml"), "csv or jsonl"),
        (("index", "export", "--output", "/nonexistent/dir/x.csv"), "does not exist"),
        (("index", "fetch-details"), "--id or a filter"),
        (("user", "find", "--gone", "--include-gone"), "cannot be combined"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, synced: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = cli(*args, **synced)
    assert result.exit_code == 2
    assert message in one_error_line(result)


def test_an_unusable_database_is_one_line_and_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("user", "find", "--database", str(blocker / "sub" / "index.db"))
    assert result.exit_code == 2
    assert "cannot write the database file" in one_error_line(result)
    result = cli("index", "sync", "--database", "nosuchdb://x")
    assert result.exit_code == 2
    one_error_line(result)


def test_sync_json_summary_and_status(cli: Cli, db: dict[str, str]) -> None:
    result = cli("index", "sync", *FAST, "--json", **db)
    summary = json.loads(result.stdout)
    assert summary["users_seen"] == summary["users_indexed"] >= 6
    assert summary["rate_limited"] == 0
    status = json.loads(cli("index", "status", "--json", **db).stdout)
    assert status["users"] == summary["users_indexed"]
    assert status["unfinished_run"] is None


def test_fetch_details_needs_a_moderator_key(cli: Cli, seeded: Seeded, synced: dict[str, str]) -> None:
    refused = cli("index", "fetch-details", "--id", str(seeded.bob.id), key=seeded.alice.api_key, **synced)
    assert refused.exit_code == 1
    assert "moderator" in one_error_line(refused)
    done = cli("index", "fetch-details", "--service", *FAST, key=seeded.moderator.api_key, **synced)
    assert done.exit_code == 0, done.stderr
    assert "1 users" in done.stdout
    conn = sqlite3.connect(synced["HORDE_USERS_DATABASE"])
    stored = conn.execute(
        "SELECT details_json FROM index_user_views WHERE id = ?", (seeded.service.id,)
    ).fetchone()
    conn.close()
    assert json.loads(stored[0])["suspicious"] == 0


def pages_stored(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            row = conn.execute("SELECT max(pages_done) FROM index_sync_runs").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_a_killed_sync_process_resumes_and_ends_with_every_user(tmp_path: Path, how: signal.Signals) -> None:
    with Sandbox() as sandbox:
        for n in range(300):
            sandbox.create_user(f"bulk{n}")
        database = tmp_path / "index.db"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AI_HORDE_")},
            "AI_HORDE_URL": sandbox.url,
            "HORDE_USERS_DATABASE": str(database),
        }
        command = [sys.executable, "-m", "horde_users", "index", "sync", "--rate", "400"]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while pages_stored(database) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(how)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode != 0
        if how == signal.SIGINT:
            assert "continues where it stopped" in stderr
            assert "Traceback" not in stderr
        stopped_at = pages_stored(database)
        assert 3 <= stopped_at < 13
        again = subprocess.run(
            [*command[:-2], "--rate", "60000", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert summary["resumed"] is True
        assert summary["requests"] == 13 - stopped_at
        assert summary["users_indexed"] == 301
        assert summary["rate_limited"] == 0
        conn = sqlite3.connect(database)
        ids = {row[0] for row in conn.execute("SELECT id FROM index_users WHERE NOT gone")}
        conn.close()
        assert ids == {u.id for u in sandbox.store.list_users("age", 0, 1000)}
