"""``horde-users console`` as a real process: the printed login address, the warning, a bad database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.console.conftest import World


@contextmanager
def console_process(world: World, tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The console started by the CLI with the moderator's key in the environment; yields its address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_HORDE_")}
    env["AI_HORDE_API_KEY"] = world.moderator.api_key
    command = [sys.executable, "-m", "horde_users", "--url", world.sandbox.url, "console", "--port", "0"]
    command += ["--database", str(tmp_path / "console.db"), *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(60, process.kill)  # never hang the suite on a console that did not start
    timer.start()
    try:
        assert process.stdout is not None
        address = ""
        for line in process.stdout:
            if "?token=" in line:
                address = line.strip()
                break
        assert address, "the console printed no login address"
        yield process, address
    finally:
        timer.cancel()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_console_prints_a_one_time_login_address(world: World, tmp_path: Path) -> None:
    with console_process(world, tmp_path) as (process, address):
        assert address.startswith("http://127.0.0.1:")
        with httpx.Client() as browser:
            response = browser.get(address)
            assert response.status_code == 303
            assert browser.get(address.split("?")[0]).status_code == 200
        with httpx.Client() as other:
            assert other.get(address).status_code == 401  # used once already
    out, err = process.communicate(timeout=20)
    assert world.moderator.api_key not in out + err + address
    assert "Traceback" not in err


def test_listening_beyond_loopback_warns(world: World, tmp_path: Path) -> None:
    with console_process(world, tmp_path, "--host", "0.0.0.0") as (process, address):
        assert address.startswith("http://127.0.0.1:")
    _, err = process.communicate(timeout=20)
    assert "warning: listening on 0.0.0.0, not on loopback" in err


def test_an_unusable_database_is_one_error_line(world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_HORDE_")}
    env["AI_HORDE_API_KEY"] = world.moderator.api_key
    command = [sys.executable, "-m", "horde_users", "--url", world.sandbox.url, "console", "--port", "0"]
    result = subprocess.run(
        [*command, "--database", str(blocker / "inside.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert world.moderator.api_key not in result.stdout + result.stderr
