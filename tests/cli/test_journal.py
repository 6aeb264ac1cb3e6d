"""``user modify/delete/undelete`` journaled, and the ``journal`` commands, end to end against a sandbox."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from horde_users.sandbox import SeededUser
from tests.cli.conftest import Cli, Seeded, one_error_line

Fresh = Callable[..., SeededUser]


def show(cli: Cli, user: SeededUser, seeded: Seeded) -> dict[str, Any]:
    result = cli("--json", "user", "show", str(user.id), key=seeded.moderator.api_key)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def entries(cli: Cli, *filters: str) -> list[dict[str, Any]]:
    result = cli("journal", "list", "--json", *filters)
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def test_a_change_to_another_account_needs_a_reason(cli: Cli, seeded: Seeded, fresh: Fresh) -> None:
    user = fresh()
    result = cli("user", "modify", str(user.id), "--trusted", key=seeded.moderator.api_key)
    assert result.exit_code == 2
    assert one_error_line(result).startswith("error: a reason is required to change another account")
    assert show(cli, user, seeded)["trusted"] is False
    assert entries(cli) == []
    own = cli("user", "modify", str(user.id), "--contact", "me@example.org", key=user.api_key)
    assert own.exit_code == 0, own.stderr  # one's own account needs none


def test_modify_delete_undelete_are_journaled_and_listed(cli: Cli, seeded: Seeded, fresh: Fresh) -> None:
    user = fresh()
    key = seeded.moderator.api_key
    assert cli("user", "modify", str(user.id), "--trusted", "--reason", "known", key=key).exit_code == 0
    assert cli("user", "delete", str(user.id), "--yes", "--reason", "spam", key=key).exit_code == 0
    result = cli("user", "undelete", str(user.id), "--reason", "appeal", key=key)
    assert result.exit_code == 0 and "journal: #3 done" in result.stderr
    listed = entries(cli)
    assert [(e["action"], e["reason"], e["outcome"]) for e in listed] == [
        ("undelete", "appeal", "done"),
        ("delete", "spam", "done"),
        ("modify", "known", "done"),
    ]
    first = listed[-1]
    for name in (
        "id",
        "time",
        "actor",
        "user_id",
        "reason",
        "changes",
        "before",
        "after",
        "outcome",
        "undoes",
    ):
        assert name in first
    assert first["actor"] == seeded.moderator.alias and first["user_id"] == user.id
    assert first["changes"] == {"trusted": True} and first["undoes"] is None
    assert (first["before"]["trusted"], first["after"]["trusted"]) == (False, True)
    assert [e["id"] for e in entries(cli, "--user", user.alias)] == [3, 2, 1]
    assert [e["id"] for e in entries(cli, "--actor", "mia", "--since", "1h")] == [3, 2, 1]
    assert entries(cli, "--since", "2999-01-01") == []
    assert entries(cli, "--user", str(seeded.bob.id)) == []

    text = cli("journal", "show", "1")
    assert text.exit_code == 0
    assert "reason:     known" in text.stdout and "trusted: false -> true" in text.stdout
    assert json.loads(cli("journal", "show", "1", "--json").stdout) == first
    table = cli("journal", "list")
    assert f"#1 done: trusted=true on {user.alias} by {seeded.moderator.alias} — known" in table.stdout


def test_a_refused_change_is_journaled_as_refused(cli: Cli, seeded: Seeded) -> None:
    result = cli(
        "user", "modify", str(seeded.bob.id), "--kudos", "5", "--reason", "x", key=seeded.moderator.api_key
    )
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: NotAdmin (403): ")
    (entry,) = entries(cli)
    assert entry["outcome"] == "refused"
    assert (entry["error"]["status"], entry["error"]["rc"]) == (403, "NotAdmin")
    assert "NotAdmin" in cli("journal", "show", str(entry["id"])).stdout


def test_export_csv_and_jsonl(cli: Cli, seeded: Seeded, fresh: Fresh, tmp_path: Path) -> None:
    one, two = fresh(), fresh()
    for user in (one, two):
        cli(
            "user",
            "modify",
            str(user.id),
            "--flagged",
            "--reason",
            'bot, "obvious"',
            key=seeded.moderator.api_key,
        )
    lines = cli("journal", "export", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["user_id"] for line in lines] == [one.id, two.id]  # oldest first
    target = tmp_path / "journal.csv"
    result = cli(
        "journal", "export", "--format", "csv", "--output", str(target), "--user", str(two.id), "--json"
    )
    assert json.loads(result.stdout) == {"exported": 1, "format": "csv", "output": str(target)}
    (row,) = list(csv.DictReader(io.StringIO(target.read_text())))
    assert row["reason"] == 'bot, "obvious"' and json.loads(row["changes"]) == {"flagged": True}
    bad = cli("journal", "export", "--format", "xml")
    assert bad.exit_code == 2 and "csv or jsonl" in one_error_line(bad)


def test_undo_restores_refuses_once_moved_on_and_force_overrides(
    cli: Cli, seeded: Seeded, fresh: Fresh
) -> None:
    user = fresh()
    key = seeded.moderator.api_key
    cli("user", "modify", str(user.id), "--concurrency", "40", "--reason", "room", key=key)
    dry = cli("journal", "undo", "1", "--reason", "revert", "--dry-run", key=key)
    assert dry.exit_code == 0 and "set concurrency=30" in dry.stdout and "nothing was sent" in dry.stdout
    assert show(cli, user, seeded)["concurrency"] == 40
    declined = cli("journal", "undo", "1", "--reason", "revert", key=key, input="n\n")
    assert declined.exit_code == 1 and "nothing was sent" in one_error_line(declined)
    no_reason = cli("journal", "undo", "1", "--yes", key=key)
    assert no_reason.exit_code == 2 and "reason is required" in one_error_line(no_reason)

    cli("user", "modify", str(user.id), "--concurrency", "50", "--reason", "more", key=key)
    moved = cli("journal", "undo", "1", "--reason", "revert", "--yes", key=key)
    assert moved.exit_code == 1
    assert (
        one_error_line(moved)
        == "error: cannot undo #1: the account has moved on: concurrency is 50 now, 40 after #1"
    )
    assert "--force" in moved.stderr
    assert show(cli, user, seeded)["concurrency"] == 50

    forced = cli("--json", "journal", "undo", "1", "--reason", "revert", "--yes", "--force", key=key)
    assert forced.exit_code == 0, forced.stderr
    undo = json.loads(forced.stdout)
    assert (undo["undoes"], undo["outcome"], undo["changes"]) == (1, "done", {"concurrency": 30})
    assert show(cli, user, seeded)["concurrency"] == 30
    assert "undone by:  #3" in cli("journal", "show", "1").stdout


def test_what_cannot_be_undone_is_refused_in_one_line(cli: Cli, seeded: Seeded, fresh: Fresh) -> None:
    user = fresh()
    cli(
        "user",
        "modify",
        str(user.id),
        "--reset-suspicion",
        "--reason",
        "cleared",
        key=seeded.moderator.api_key,
    )
    result = cli("journal", "undo", "1", "--reason", "x", "--yes", "--force", key=seeded.moderator.api_key)
    assert result.exit_code == 1
    assert (
        one_error_line(result)
        == "error: cannot undo #1: reset_suspicion removed the suspicion records for good"
    )
    missing = cli("journal", "undo", "99", "--reason", "x", "--yes", key=seeded.moderator.api_key)
    assert missing.exit_code == 2 and one_error_line(missing) == "error: no journal entry #99"


def test_an_unwritable_database_stops_before_anything_is_sent(
    cli: Cli, seeded: Seeded, fresh: Fresh, tmp_path: Path
) -> None:
    user = fresh()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli(
        "user", "modify", str(user.id), "--trusted", "--reason", "x",
        "--database", str(blocker / "journal.db"), key=seeded.moderator.api_key,
    )  # fmt: skip
    assert result.exit_code == 2
    assert one_error_line(result).startswith("error: cannot write the database file")
    assert show(cli, user, seeded)["trusted"] is False
    env = cli("user", "delete", str(user.id), "--yes", "--reason", "x", key=seeded.moderator.api_key,
              HORDE_USERS_DATABASE=str(blocker / "journal.db"))  # fmt: skip
    assert env.exit_code == 2 and show(cli, user, seeded)["deleted"] is False
