"""``bulk apply`` end to end: a bad file sends nothing; a fixed one applies every row exactly once,
even when the first run is killed half way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from horde_users.moderation.journal import Journal
from horde_users.sandbox import SeededUser
from tests.cli.conftest import Cli, Seeded, one_error_line

Fresh = Callable[..., SeededUser]


def kudos(cli: Cli, user: SeededUser) -> float:
    value: float = json.loads(cli("--json", "user", "show", str(user.id)).stdout)["kudos"]
    return value


def journal_entries(cli: Cli) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(cli("journal", "list", "--json", "--limit", "1000").stdout)
    return data


def grants(path: Path, users: list[SeededUser], bad: bool = False) -> Path:
    rows = ["user_id,kudos,concurrency,reason"]
    for n, user in enumerate(users):
        concurrency = "900" if bad and n in (1, 3) else "40"
        rows.append(f"{user.id},25,{concurrency},event prize")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_bad_file_sends_nothing_then_the_fixed_file_applies_once(
    cli: Cli, seeded: Seeded, fresh: Fresh, tmp_path: Path
) -> None:
    boss = fresh("boss", admin=True, moderator=True)
    users = [fresh(kudos=100) for _ in range(4)]
    path = grants(tmp_path / "grants.csv", users, bad=True)
    bad = cli("bulk", "apply", str(path), "--yes", key=boss.api_key)
    assert bad.exit_code == 2
    assert "row 2: concurrency: " in bad.stderr and "row 4: concurrency: " in bad.stderr
    assert one_error_line(bad) == f"error: {path} has errors (2); nothing was sent"
    assert [kudos(cli, u) for u in users] == [100.0] * 4 and journal_entries(cli) == []

    grants(path, users)
    dry = cli("bulk", "apply", str(path), "--dry-run", key=boss.api_key)
    assert dry.exit_code == 0 and "4 to send" in dry.stdout and "(admin+moderator)" in dry.stdout
    assert "nothing was sent" in dry.stdout and journal_entries(cli) == []
    planned = json.loads(cli("--json", "bulk", "apply", str(path), "--dry-run", key=boss.api_key).stdout)
    assert planned["to_send"] == 4 and planned["rows"][0]["roles"] == ["admin", "moderator"]
    assert planned["rows"][0]["changes"] == {"kudos": 25.0, "concurrency": 40}

    done = cli("bulk", "apply", str(path), "--yes", key=boss.api_key)
    assert done.exit_code == 0, done.stderr
    assert "summary: 4 done" in done.stdout
    again = cli("--json", "bulk", "apply", str(path), "--yes", key=boss.api_key)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["summary"] == {"done earlier": 4}
    assert [kudos(cli, u) for u in users] == [125.0] * 4
    assert len(journal_entries(cli)) == 4


def test_the_plan_is_confirmed_and_a_reason_is_required(
    cli: Cli, seeded: Seeded, fresh: Fresh, tmp_path: Path
) -> None:
    users = [fresh() for _ in range(2)]
    path = tmp_path / "trust.jsonl"
    path.write_text("\n".join(json.dumps({"user_id": u.id, "trusted": True}) for u in users) + "\n")
    key = seeded.moderator.api_key
    no_reason = cli("bulk", "apply", str(path), "--yes", key=key)
    assert no_reason.exit_code == 2 and "row 1: a reason is required" in no_reason.stderr
    declined = cli("bulk", "apply", str(path), "--reason", "known", key=key, input="n\n")
    assert declined.exit_code == 1 and "nothing was sent" in one_error_line(declined)
    assert journal_entries(cli) == []
    result = cli("bulk", "apply", str(path), "--reason", "known", key=key, input="y\n")
    assert result.exit_code == 0, result.stderr
    assert [e["reason"] for e in journal_entries(cli)] == ["known", "known"]


def test_a_role_refusal_stops_and_exits_1(cli: Cli, seeded: Seeded, fresh: Fresh, tmp_path: Path) -> None:
    users = [fresh() for _ in range(3)]
    path = grants(tmp_path / "grants.csv", users)
    result = cli("bulk", "apply", str(path), "--yes", key=seeded.moderator.api_key)
    assert result.exit_code == 1
    assert "stopped: the key lacks the admin role every row left needs (NotAdmin)" in result.stdout
    assert one_error_line(result) == "error: not every row is done (1 refused, 2 not sent)"


def test_a_killed_run_is_resumed_without_sending_a_row_twice(
    cli: Cli, seeded: Seeded, fresh: Fresh, tmp_path: Path
) -> None:
    boss = fresh("boss", admin=True, moderator=True)
    users = [fresh(kudos=100) for _ in range(6)]
    path = grants(tmp_path / "grants.csv", users)
    assert cli.database is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_HORDE_", "HORDE_USERS_"))}
    env.update(AI_HORDE_URL=seeded.url, AI_HORDE_API_KEY=boss.api_key, HORDE_USERS_DATABASE=cli.database)
    command = [sys.executable, "-m", "horde_users", "bulk", "apply", str(path), "--yes", "--rate", "30"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with Journal.open(cli.database) as journal:
            deadline = time.monotonic() + 120
            while len([e for e in journal.list() if e.outcome == "done"]) < 2:
                assert process.poll() is None and time.monotonic() < deadline, "the run ended early"
                time.sleep(0.05)
        process.kill()  # half way: no chance to clean up
    finally:
        process.wait(30)
    first_run = [e for e in journal_entries(cli) if e["outcome"] == "done"]
    assert 2 <= len(first_run) < 6

    result = cli("--json", "bulk", "apply", str(path), "--yes", "--rate", "100000", key=boss.api_key)
    report = json.loads(result.stdout)
    outcomes = [row["outcome"] for row in report["rows"]]
    assert outcomes.count("done earlier") == len(first_run)
    balances = [kudos(cli, u) for u in users]
    for outcome, balance in zip(outcomes, balances, strict=True):
        if outcome == "unknown earlier":  # killed mid-row: reported, never re-sent
            assert balance in (100.0, 125.0)
        else:
            assert balance == 125.0, (outcomes, balances)
    assert result.exit_code == (3 if "unknown earlier" in outcomes else 0)
    per_user = [len([e for e in journal_entries(cli) if e["user_id"] == u.id]) for u in users]
    assert per_user == [1] * 6
