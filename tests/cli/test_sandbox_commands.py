"""``horde-users sandbox serve|create-user|create-shared-key``, the way people use them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from horde_users.cli.app import app


def invoke(*args: str, url: str | None = None, key: str | None = None, input: str | None = None) -> Result:
    env = {"AI_HORDE_URL": url, "AI_HORDE_API_KEY": key}
    return CliRunner().invoke(app, list(args), env=env, input=input)


@contextmanager
def serving(*options: str) -> Iterator[str]:
    """``horde-users sandbox serve --port 0 ...`` in a subprocess; yields its URL; stops it with Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "horde_users", "sandbox", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://\S+/api)", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_create_user_prints_id_alias_and_key_once(tmp_path: Path) -> None:
    database = str(tmp_path / "seed.db")
    result = invoke("sandbox", "create-user", "alice", "--kudos", "50", "--database", database)
    assert result.exit_code == 0, result.output
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert fields["id"].strip() == "1"
    assert fields["alias"].strip() == "alice#1"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", fields["api key"].strip())
    assert "shown only this once" in result.stderr
    as_json = invoke("--json", "sandbox", "create-user", "bob", "--moderator", "--database", database)
    data = json.loads(as_json.stdout)
    assert data["id"] == 2 and data["alias"] == "bob#2" and len(data["api_key"]) == 22


def test_create_shared_key_prints_a_uuid(tmp_path: Path) -> None:
    database = str(tmp_path / "seed.db")
    invoke("sandbox", "create-user", "alice", "--database", database)
    result = invoke("sandbox", "create-shared-key", "alice#1", "--name", "ci", "--database", database)
    assert result.exit_code == 0, result.output
    assert str(uuid.UUID(result.stdout.strip())) == result.stdout.strip()
    unknown = invoke("sandbox", "create-shared-key", "nobody#9", "--database", database)
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: ")


def test_served_sandbox_knows_users_seeded_from_the_command_line(tmp_path: Path) -> None:
    database = str(tmp_path / "served.db")
    admin = json.loads(invoke("--json", "sandbox", "create-user", "root", "--database", database).stdout)
    alice = json.loads(invoke("--json", "sandbox", "create-user", "alice", "--database", database).stdout)
    with serving("--database", database, "--no-rate-limits", "--admin", admin["alias"]) as url:
        whoami = invoke("--json", "whoami", url=url, key=alice["api_key"])
        assert whoami.exit_code == 0, whoami.output
        assert json.loads(whoami.stdout)["username"] == "alice#2"
        # seeding while it runs: the same database, another process
        bob = json.loads(invoke("--json", "sandbox", "create-user", "bob", "--database", database).stdout)
        shared = invoke("sandbox", "create-shared-key", bob["alias"], "--name", "bot", "--database", database)
        by_shared = invoke("--json", "whoami", url=url, key=shared.stdout.strip())
        assert json.loads(by_shared.stdout)["username"] == "bob#3 (Shared Key: bot)"
        # --admin: root may grant kudos
        granted = invoke(
            "--json",
            "user",
            "modify",
            "2",
            "--kudos",
            "30",
            "--reason",
            "test",
            url=url,
            key=admin["api_key"],
        )
        assert granted.exit_code == 0, granted.output
        assert json.loads(granted.stdout)["new_kudos"] == 30.0
        assert "x-ratelimit-limit" not in httpx.get(f"{url}/v2/users/1").headers


def test_serve_has_rate_limits_on_by_default_and_reads_a_profanity_file(tmp_path: Path) -> None:
    database = str(tmp_path / "limits.db")
    words = tmp_path / "words.txt"
    words.write_text("# one word per line\nzonk\n")
    alice = json.loads(invoke("--json", "sandbox", "create-user", "alice", "--database", database).stdout)
    with serving("--database", database, "--profanity-file", str(words)) as url:
        assert httpx.get(f"{url}/v2/users/1").headers["x-ratelimit-limit"] == "60"
        result = invoke("user", "modify", "1", "--username", "big zonk", url=url, key=alice["api_key"])
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ProfaneUserName (400): ")


def test_serve_refuses_an_unreadable_profanity_file(tmp_path: Path) -> None:
    result = invoke("sandbox", "serve", "--profanity-file", str(tmp_path / "missing.txt"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_default_database_is_a_file_in_the_current_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "horde_users", "--json", "sandbox", "create-user", "carol"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["alias"] == "carol#1"
    assert (tmp_path / "horde-users-sandbox.db").exists()


def test_a_database_that_cannot_be_opened_is_one_line_without_credentials() -> None:
    bad_url = invoke("sandbox", "create-user", "x", "--database", "nosuchdialect://db")
    assert bad_url.exit_code == 2
    assert bad_url.stderr.startswith("error: --database: cannot open nosuchdialect://db")
    unreachable = "postgresql+psycopg://someone:hunter2@127.0.0.1:1/db"
    for args in (("create-user", "x"), ("serve", "--port", "0")):
        result = invoke("sandbox", *args, "--database", unreachable)
        assert result.exit_code == 3, result.output
        assert "error: --database: cannot open postgresql+psycopg://127.0.0.1:1/db" in result.stderr
        assert "hunter2" not in result.output
        assert "Traceback" not in result.output
