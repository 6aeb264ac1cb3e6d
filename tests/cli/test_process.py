"""The CLI as a real process: lean start-up, the console entry points, pipes and Ctrl-C."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading

from tests.cli.conftest import Seeded

HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "starlette")


def run(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python *args`` with no AI_HORDE_* variables but those given."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AI_HORDE_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, *args], env=environment, input=input, capture_output=True, text=True, timeout=60
    )


def imported_modules(*cli_args: str, env: dict[str, str] | None = None) -> set[str]:
    """Modules a CLI run imported, and their top-level packages (from ``-X importtime``)."""
    result = run("-X", "importtime", "-m", "horde_users", *cli_args, env=env)
    names: set[str] = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.update((name, name.split(".")[0]))
    return names


def test_help_does_not_import_the_server_stack() -> None:
    modules = imported_modules("--help")
    assert "horde_users" in modules and "typer" in modules
    assert not modules & set(HEAVY)
    assert "httpx" not in modules and "pydantic" not in modules and "horde_users.client" not in modules


def test_client_commands_do_not_import_the_server_stack(seeded: Seeded) -> None:
    env = {"AI_HORDE_URL": seeded.url}
    table = imported_modules("user", "show", str(seeded.alice.id), env=env)
    assert "httpx" in table and "horde_users.cli.tables" in table
    assert not table & set(HEAVY)
    as_json = imported_modules("--json", "user", "show", str(seeded.alice.id), env=env)
    assert "httpx" in as_json
    assert not as_json & {*HEAVY, "horde_users.cli.tables"}  # scripts do not load the tables
    for group in (("user", "--help"), ("sandbox", "--help"), ("user", "modify", "--help")):
        assert not imported_modules(*group) & set(HEAVY)
    dry_run = imported_modules("user", "modify", "3", "--trusted", "--dry-run", env=env)
    assert "horde_users.roles" in dry_run  # the roles come from the one table of PUT operations
    assert not any(name.startswith("horde_users.sandbox") for name in dry_run)  # works without the extra
    assert not dry_run & set(HEAVY)


def test_version() -> None:
    from horde_users import __version__

    result = run("-m", "horde_users", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"horde-users {__version__}"


def test_console_script_and_module_agree(seeded: Seeded) -> None:
    env = {"AI_HORDE_URL": seeded.url, "AI_HORDE_API_KEY": seeded.alice.api_key}
    module = run("-m", "horde_users", "--json", "whoami", env=env)
    script = os.path.join(os.path.dirname(sys.executable), "horde-users")
    assert module.returncode == 0, module.stderr
    assert json.loads(module.stdout)["username"] == seeded.alice.alias
    if os.path.exists(script):  # the console script declared in pyproject.toml
        installed = subprocess.run(
            [script, "--json", "whoami"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert installed.returncode == 0, installed.stderr
        assert json.loads(installed.stdout)["username"] == seeded.alice.alias
    assert seeded.alice.api_key not in module.stdout + module.stderr


def test_api_key_from_stdin_in_a_real_process(seeded: Seeded) -> None:
    result = run(
        "-m", "horde_users", "--json", "--api-key", "-", "whoami",
        env={"AI_HORDE_URL": seeded.url}, input=seeded.bob.api_key + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == seeded.bob.id
    assert seeded.bob.api_key not in result.stdout + result.stderr


def _read_then_close(args: list[str], env: dict[str, str]) -> tuple[int, str, bytes]:
    """Run the CLI into a small pipe, read its first line, close the pipe: exit status, stderr, line.

    The pipe is shrunk to one page (Linux), so the CLI is certainly still writing when the reader goes.
    """
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ
    process = subprocess.Popen(
        [sys.executable, "-m", "horde_users", *args], env=env, stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        first = reader.readline()
    stderr = process.communicate(timeout=60)[1].decode()
    return process.returncode, stderr, first


def test_a_closed_pipe_ends_quietly_with_success(seeded: Seeded) -> None:
    for n in range(60):
        seeded.sandbox.create_user(f"piped{n}", kudos=n)
    env = {**os.environ, "AI_HORDE_URL": seeded.url}
    for args in (["--json", "user", "list", "--all"], ["user", "list", "--all"]):
        code, stderr, first = _read_then_close(args, env)
        assert first, args
        assert stderr == "", (args, stderr)
        assert code == 0, args
    command = f"{sys.executable} -m horde_users user list --all | head -n 2; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
    assert len(result.stdout.splitlines()) == 2
    assert result.returncode == 0 and result.stderr == ""


def _interrupt(process: subprocess.Popen[str]) -> str:
    """Press Ctrl-C until the process ends; its stderr.

    A SIGINT that lands just before CPython starts waiting on the socket is noted but does not wake
    the wait (a race inside CPython), so, like a person, press it again after a moment.
    """
    for _ in range(10):
        process.send_signal(signal.SIGINT)
        try:
            return process.communicate(timeout=2)[1]
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    raise AssertionError("the CLI did not stop on Ctrl-C")


def test_ctrl_c_exits_130_without_traceback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(30)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/api"
        process = subprocess.Popen(
            [sys.executable, "-m", "horde_users", "--timeout", "60", "user", "show", "3"],
            env={**os.environ, "AI_HORDE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        connection, _ = server.accept()  # the CLI is now waiting for an answer that never comes
        with connection:
            connection.recv(4096)
            stderr = _interrupt(process)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted" in stderr


def test_progress_goes_to_stderr_only_when_it_is_a_terminal(seeded: Seeded) -> None:
    for n in range(60):
        seeded.sandbox.create_user(f"paged{n}", kudos=n)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_HORDE_")}
    env.update({"AI_HORDE_URL": seeded.url, "TERM": "xterm"})
    command = [sys.executable, "-m", "horde_users", "--json", "user", "list", "--all"]
    master, slave = pty.openpty()
    terminal = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side closed
                return
            if not chunk:
                return
            terminal.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        with_tty = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=slave, timeout=60)
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    assert with_tty.returncode == 0
    lines = with_tty.stdout.decode().splitlines()
    assert len(lines) >= 60
    assert all(json.loads(line)["username"] for line in lines)  # stdout holds only the JSON
    assert b"users" in terminal  # the progress line ("fetching users" / "fetched N users")
    piped = subprocess.run(command, env=env, capture_output=True, timeout=60)
    assert piped.returncode == 0
    assert piped.stderr == b""  # not a terminal: no progress at all
    assert len(piped.stdout.decode().splitlines()) == len(lines)
