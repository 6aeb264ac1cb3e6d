"""What keeps the CLI safe in a moderator's hands: names are checked, dry runs send nothing, waits are
announced, errors are readable by people and by scripts, and every exit code means one thing."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import httpx
import pytest

from horde_users.sandbox import SeededUser
from tests.cli.conftest import CannedServer, Cli, Seeded, one_error_line
from tests.client.faultserver import FaultServer, Reply

# --- 1: NAME#ID must name the account as it is now ---------------------------------------------------


def _renamed(cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]) -> tuple[SeededUser, str]:
    """A fresh user renamed by a moderator; its old alias and its new one."""
    user = fresh("old")
    result = cli(
        "user",
        "modify",
        str(user.id),
        "--username",
        f"new{user.id}",
        "--reason",
        "a test",
        key=seeded.moderator.api_key,
    )
    assert result.exit_code == 0, result.stderr
    return user, f"new{user.id}#{user.id}"


def _shown(cli: Cli, user: SeededUser) -> dict[str, object]:
    data: dict[str, object] = json.loads(cli("--json", "user", "show", str(user.id)).stdout)
    return data


def test_a_stale_alias_changes_nothing_and_names_both(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user, now = _renamed(cli, seeded, fresh)
    key = seeded.moderator.api_key
    result = cli("user", "modify", user.alias, "--concurrency", "41", "--reason", "a test", key=key)
    assert result.exit_code == 2
    assert one_error_line(result) == f"error: {user.alias} is now {now}: nothing changed"
    assert result.stdout == ""
    assert _shown(cli, user)["concurrency"] == 30
    for command in (
        ("user", "delete", user.alias, "--yes", "--reason", "a test"),
        ("user", "show", user.alias),
    ):
        refused = cli(*command, key=key)
        assert refused.exit_code == 2, command
        assert f"{user.alias} is now {now}" in one_error_line(refused)
    assert _shown(cli, user)["deleted"] is False
    # the current alias and the bare id act as before
    assert cli("user", "modify", now, "--concurrency", "41", "--reason", "a test", key=key).exit_code == 0
    assert _shown(cli, user)["concurrency"] == 41
    assert (
        cli("user", "modify", str(user.id), "--concurrency", "42", "--reason", "a test", key=key).exit_code
        == 0
    )
    assert _shown(cli, user)["concurrency"] == 42


def test_a_stale_alias_cannot_undelete(cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]) -> None:
    user, now = _renamed(cli, seeded, fresh)
    key = seeded.moderator.api_key
    assert cli("user", "delete", now, "--yes", "--reason", "a test", key=key).exit_code == 0
    refused = cli("user", "undelete", user.alias, "--reason", "a test", key=key)
    assert refused.exit_code == 2
    assert one_error_line(refused) == f"error: {user.alias} is now {now}: nothing changed"
    assert _shown(cli, user)["deleted"] is True
    assert cli("user", "undelete", now, "--reason", "a test", key=key).exit_code == 0
    assert _shown(cli, user)["deleted"] is False


# --- 2: --dry-run --------------------------------------------------------------------------------------


def test_modify_dry_run_shows_request_and_roles_and_changes_nothing(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh(kudos=100)
    args = ("user", "modify", user.alias, "--username", "renamed", "--trusted", "--kudos", "5", "--dry-run")
    result = cli("--json", *args, key=seeded.moderator.api_key)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert plan["method"] == "PUT" and plan["path"] == f"/api/v2/users/{user.id}"
    assert plan["body"] == {"kudos": 5.0, "username": "renamed", "trusted": True}
    # in the order the server applies them
    assert list(plan["roles"].items()) == [
        ("kudos", "admin"),
        ("trusted", "moderator"),
        ("username", "owner or moderator"),
    ]
    assert "apikey" not in result.stdout
    table = cli(*args, key=seeded.moderator.api_key)
    assert table.exit_code == 0, table.stderr
    assert "nothing was sent" in table.stdout
    assert f"PUT {seeded.url}/v2/users/{user.id}" in table.stdout
    assert re.search(r"^\s+kudos\s+admin$", table.stdout, re.M)
    assert re.search(r"^\s+username\s+owner or moderator$", table.stdout, re.M)
    after = _shown(cli, user)
    assert after["username"] == user.alias and after["trusted"] is False and after["kudos"] == 100


def test_dry_run_sends_nothing_at_all_for_a_bare_id(cli: Cli, canned: Callable[..., CannedServer]) -> None:
    server = canned(500, {"message": "should not be called"})
    result = cli("user", "modify", "3", "--trusted", "--dry-run", AI_HORDE_URL=server.url, key="k" * 22)
    assert result.exit_code == 0, result.stderr
    assert server.requests == 0
    assert "k" * 22 not in result.stdout + result.stderr


def test_delete_dry_run_reads_but_never_deletes_and_warns_of_a_wipe(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh()
    key = seeded.moderator.api_key
    result = cli("--json", "user", "delete", str(user.id), "--dry-run", key=key)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["method"], plan["path"], plan["body"]) == ("DELETE", f"/api/v2/users/{user.id}", None)
    assert plan["roles"] == {"delete": "owner or moderator (a moderator cannot be deleted)"}
    assert plan["notes"] == []
    assert _shown(cli, user)["deleted"] is False
    assert cli("user", "delete", str(user.id), "--yes", "--reason", "a test", key=key).exit_code == 0
    again = cli("user", "delete", str(user.id), "--dry-run", key=key)
    assert again.exit_code == 0
    assert "ALREADY deleted" in again.stdout and "WIPES" in again.stdout
    assert _shown(cli, user)["username"] == user.alias  # still there, not wiped


def test_undelete_dry_run_changes_nothing(cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]) -> None:
    user = fresh()
    key = seeded.moderator.api_key
    assert cli("user", "delete", str(user.id), "--yes", "--reason", "a test", key=key).exit_code == 0
    result = cli("--json", "user", "undelete", user.alias, "--dry-run", key=key)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["body"] == {"undelete": True}
    assert plan["roles"] == {"undelete": "owner or moderator"}
    assert _shown(cli, user)["deleted"] is True


# --- 3: waits and retries are announced ---------------------------------------------------------------


def test_a_429_wait_is_announced_on_stderr(seeded: Seeded, cli: Cli) -> None:
    body = httpx.get(f"{seeded.url}/v2/users/{seeded.alice.id}").content
    with FaultServer() as server:
        server.script(
            Reply.json(429, {"message": "60 per 1 minute"}, {"Retry-After": "1"}),
            Reply(200, body, {"Content-Type": "application/json"}),
        )
        result = cli("user", "show", str(seeded.alice.id), AI_HORDE_URL=server.url)
        assert server.count() == 2
    assert result.exit_code == 0, result.stderr
    assert seeded.alice.alias in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    # the client's message now, or its retry_reason attribute once it sets one: either names the cause
    assert re.search(r"429|rate limit", lines[0], re.I), lines[0]
    assert re.search(r"retrying.* in [12](\.\d)?\d* s", lines[0]), lines[0]


def test_max_retries_is_passed_to_the_client(cli: Cli, canned: Callable[..., CannedServer]) -> None:
    server = canned(429, {"message": "60 per 1 minute"}, {"Retry-After": "0"})
    result = cli("--max-retries", "0", "user", "show", "3", AI_HORDE_URL=server.url)
    assert result.exit_code == 1
    assert server.requests == 1
    assert "retrying" not in result.stderr
    retried = cli("--max-retries", "3", "user", "show", "3", AI_HORDE_URL=server.url)
    assert retried.exit_code == 1
    assert server.requests == 1 + 4
    assert retried.stderr.count("retrying") == 3


def test_verbose_shows_each_request_with_the_key_redacted(cli: Cli, seeded: Seeded) -> None:
    result = cli("-v", "user", "show", str(seeded.bob.id), key=seeded.bob.api_key)
    assert result.exit_code == 0, result.stderr
    assert f"GET {seeded.url}/v2/users/{seeded.bob.id} -> 200" in result.stderr
    assert "<redacted>" in result.stderr  # the apikey header (the fixture checks the key never shows)
    quiet = cli("user", "show", str(seeded.bob.id), key=seeded.bob.api_key)
    assert quiet.stderr == ""


def test_a_retry_record_with_attributes_is_one_plain_line() -> None:
    from horde_users.cli.logs import announcement

    record = logging.LogRecord("horde_users", logging.INFO, __file__, 1, "retrying GET ...", None, None)
    assert announcement(record) == "retrying GET ..."  # no attributes: the record's own message
    record.retry_delay = 58.4
    record.retry_reason = "rate limited (Retry-After)"
    record.attempt = 1
    record.max_retries = 2
    assert announcement(record) == "rate limited (Retry-After): retrying in 58 s (attempt 1 of 2)"
    record.retry_delay = 0.75
    assert announcement(record) == "rate limited (Retry-After): retrying in 0.8 s (attempt 1 of 2)"


# --- 4: a base URL without /api --------------------------------------------------------------------


def test_a_url_without_api_gets_a_hint(cli: Cli, seeded: Seeded) -> None:
    root = seeded.url.removesuffix("/api")
    result = cli("--url", root, "user", "show", str(seeded.alice.id))
    assert result.exit_code == 1
    one_error_line(result)
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert len(hints) == 1 and "must end in /api" in hints[0] and f"{root}/api" in hints[0]
    unknown_user = cli("user", "show", "999999")  # a 404 with a return code is no routing problem
    assert "hint:" not in unknown_user.stderr


# --- 5: errors as JSON -------------------------------------------------------------------------------


def _json_error(stderr: str) -> dict[str, object]:
    """The error object: the last line; any line before it is a JSON ``log`` object (a retry)."""
    lines = stderr.splitlines()
    assert all(set(json.loads(line)) == {"log"} for line in lines[:-1]), stderr
    data = json.loads(lines[-1])
    assert set(data) == {"error"}
    error: dict[str, object] = data["error"]
    assert {"status", "rc", "message"} <= set(error)
    return error


def test_errors_under_json_are_one_object_with_the_right_exit_code(
    cli: Cli, seeded: Seeded, closed_url: str, fresh: Callable[..., SeededUser]
) -> None:
    refused = cli("--json", "user", "show", "999999")
    assert refused.exit_code == 1
    error = _json_error(refused.stderr)
    assert (error["status"], error["rc"]) == (404, "UserNotFound")
    assert error["message"] == "User with ID '999999' not found."
    forbidden = cli(
        "user",
        "modify",
        str(seeded.bob.id),
        "--flagged",
        "--json",
        "--reason",
        "a test",
        key=seeded.alice.api_key,
    )
    assert forbidden.exit_code == 1
    assert _json_error(forbidden.stderr)["rc"] == "NotModerator"
    unreachable = cli("--json", "--max-retries", "1", "user", "show", "3", AI_HORDE_URL=closed_url)
    assert unreachable.exit_code == 3
    assert len(unreachable.stderr.splitlines()) == 2  # the retry, then the error
    error = _json_error(unreachable.stderr)
    assert error["status"] is None and error["rc"] is None and "cannot reach" in str(error["message"])
    for args in (("user", "show", "abc"), ("user", "show", "3", "--bogus"), ("user", "modify", "3")):
        usage = cli("--json", *args)
        assert usage.exit_code == 2, args
        assert _json_error(usage.stderr)["status"] is None
    user = fresh()
    declined = cli(
        "--json",
        "user",
        "delete",
        str(user.id),
        "--reason",
        "a test",
        key=seeded.moderator.api_key,
        input="n\n",
    )
    assert declined.exit_code == 4
    assert "nothing was deleted" in str(_json_error(declined.stderr.splitlines()[-1])["message"])


# --- 6: exit codes ------------------------------------------------------------------------------------


def test_a_local_database_path_that_cannot_be_opened_is_not_server_unreachable(cli: Cli) -> None:
    result = cli("sandbox", "create-user", "x", "--database", "/nonexistent-dir/sub/x.db")
    assert result.exit_code == 2
    assert one_error_line(result).startswith("error: --database: cannot open /nonexistent-dir/sub/x.db")


def test_readme_and_docstring_list_the_same_exit_codes() -> None:
    from pathlib import Path

    from horde_users.cli import common

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    codes = {common.EXIT_OK, common.EXIT_REFUSED, common.EXIT_USAGE, common.EXIT_UNREACHABLE}
    codes |= {common.EXIT_DECLINED, common.EXIT_INTERRUPTED}
    for code in codes:
        assert f"`{code}`" in section, code
        assert f"``{code}``" in (common.__doc__ or ""), code


# --- 7: help texts that are true ----------------------------------------------------------------------


def test_modify_help_says_kudos_options_add_and_names_the_floor(cli: Cli) -> None:
    result = cli("user", "modify", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Change to the monthly allowance" not in text
    assert "50 twice adds 100" in text
    assert "floor: 25, 14 for pseudonymous" in text
    assert "shown once" not in text


@pytest.mark.parametrize("command", ["modify", "delete", "undelete"])
def test_dry_run_is_offered_by_every_change(cli: Cli, command: str) -> None:
    assert "--dry-run" in cli("user", command, "--help").stdout


def test_a_port_that_cannot_be_bound_is_a_local_error(cli: Cli) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("sandbox", "serve", "--port", str(port), "--database", "sqlite://")
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith(f"error: cannot serve on 127.0.0.1:{port}")
