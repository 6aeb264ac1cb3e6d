"""``horde-users sandbox serve --enable-dev-endpoints --seed``, ``sandbox users`` and ``sandbox log``."""

from __future__ import annotations

import json
import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx
from typer.testing import CliRunner, Result

from horde_users.cli.app import app
from horde_users.sandbox import Sandbox

from .test_sandbox_commands import serving


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"AI_HORDE_URL": None, "AI_HORDE_API_KEY": None})


def _line(stream: IO[str], timeout: float = 30) -> str:
    """The stream's next line, or a failure after ``timeout`` seconds (never a hung test)."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        assert selector.select(timeout), f"no line within {timeout} s"
    return stream.readline()


def test_users_lists_and_shows_only_plain_keys_it_knows() -> None:
    with Sandbox(dev_endpoints=True) as sandbox:
        alice = sandbox.create_user("alice", kudos=12)
        plain = invoke("sandbox", "users", "--url", sandbox.url)
        assert plain.exit_code == 0, plain.output
        assert "alice#1" in plain.stdout and alice.api_key not in plain.stdout
        shown = invoke("sandbox", "users", "--url", sandbox.url, "--show-secrets")
        assert f"api key: {alice.api_key}" in shown.stdout
        listed = json.loads(invoke("sandbox", "users", "--url", sandbox.url, "--json").stdout)
        assert [(u["alias"], u["kudos"]) for u in listed] == [("alice#1", 12)]


def test_log_prints_the_requests_with_filters() -> None:
    with Sandbox(dev_endpoints=True) as sandbox:
        user = sandbox.create_user("alice")
        httpx.get(f"{sandbox.url}/v2/users/{user.id}", headers={"apikey": user.api_key})
        httpx.get(f"{sandbox.url}/v2/users/99")
        result = invoke("sandbox", "log", "--url", sandbox.url)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert len(lines) == 2 and "GET" in lines[0] and "/api/v2/users/1  200" in lines[0]
        assert user.api_key not in result.stdout
        only = invoke("sandbox", "log", "--url", sandbox.url, "--status", "404", "--json")
        assert [json.loads(line)["path"] for line in only.stdout.splitlines()] == ["/api/v2/users/99"]


def test_without_dev_endpoints_the_commands_say_how_to_enable_them() -> None:
    with Sandbox() as sandbox:
        for command in ("users", "log"):
            result = invoke("sandbox", command, "--url", sandbox.url)
            assert result.exit_code == 2
            assert "does not serve the development endpoints" in result.stderr
            assert "--enable-dev-endpoints" in result.stderr and "Traceback" not in result.output


def test_an_unreachable_sandbox_is_one_line_and_exit_3() -> None:
    result = invoke("sandbox", "log", "--url", "http://127.0.0.1:9/api")
    assert result.exit_code == 3 and "cannot reach the sandbox" in result.stderr
    assert "Traceback" not in result.output


def test_serve_with_a_seed_and_dev_endpoints_and_log_follow(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"users": [{"username": "alice", "api_key": "alice-key-0000000000000"}]}))
    with serving("--enable-dev-endpoints", "--seed", str(seed), "--database", "sqlite://") as url:
        found = httpx.get(f"{url}/v2/find_user", headers={"apikey": "alice-key-0000000000000"})
        assert found.json()["username"] == "alice#1"
        assert httpx.post(f"{url}/v2/dev/clock", json={"advance": 60}).json()["offset"] == 60
        follower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "horde_users",
                "sandbox",
                "log",
                "--url",
                url,
                "--follow",
                "--interval",
                "0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert follower.stdout is not None
            assert "/api/v2/find_user" in _line(follower.stdout)  # the request before it started
            httpx.get(f"{url}/v2/users/1")
            line = _line(follower.stdout)
            assert re.search(r"GET\s+/api/v2/users/1\s+200", line), line
        finally:
            follower.send_signal(signal.SIGINT)
            _, stderr = follower.communicate(timeout=30)
        assert follower.returncode == 0 and "Traceback" not in stderr


def test_serve_refuses_a_bad_seed_file_in_one_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text('{"users": [{"kudos": 1}]}')
    result = invoke("sandbox", "serve", "--seed", str(seed), "--database", "sqlite://", "--port", "0")
    assert result.exit_code == 2 and "--seed:" in result.stderr and "username" in result.stderr
