"""``make demo``: a scripted tour of the CLI against an embedded sandbox.

Starts a sandbox (temporary SQLite, a free loopback port) seeded with an admin, a moderator and a dozen
users, then runs the real command line (``python -m horde_users ...`` in a subprocess) step by step,
printing each command before its output; ``--console`` then serves the moderator console on the same
data until Ctrl-C (``make console``). Keys travel in the environment and are shown only as
placeholders such as ``$ADMIN_KEY``. Exits 0 when every step ended as expected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# name, kudos, roles: varied balances and roles for the leaderboard
DEMO_USERS: tuple[tuple[str, float, dict[str, bool]], ...] = (
    ("alice", 1250, {}),
    ("bob", 80, {}),
    ("carol", 45000, {"trusted": True}),
    ("dave", 300, {}),
    ("erin", 9800, {"trusted": True, "education": True}),
    ("frank", 25, {"pseudonymous": True}),
    ("grace", 132000, {"trusted": True, "service": True}),
    ("heidi", 640, {}),
    ("ivan", 7, {"pseudonymous": True}),
    ("judy", 21500, {"trusted": True}),
    ("mallory", 3, {}),
    ("oscar", 5600, {"education": True}),
)


@dataclass(frozen=True)
class Step:
    """One command of the tour: what it shows, who runs it, and the exit code we expect."""

    title: str
    args: tuple[str, ...]
    key: str | None = None  # placeholder name of the key to use, e.g. "ADMIN_KEY"
    expect: int = 0


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _heading(text: str) -> None:
    bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    _say(f"\n\033[1m# {text}\033[0m" if bold else f"\n# {text}")


def _run(step: Step, url: str, keys: dict[str, str], journal: str) -> bool:
    _heading(step.title)
    env = {k: v for k, v in os.environ.items() if k not in ("AI_HORDE_API_KEY", "AI_HORDE_URL")}
    env["AI_HORDE_URL"] = url
    env["HORDE_USERS_DATABASE"] = journal
    shown = "horde-users " + " ".join(_quote(a) for a in step.args)
    if step.key is not None:
        env["AI_HORDE_API_KEY"] = keys[step.key]
        shown = f"AI_HORDE_API_KEY=${step.key} {shown}"
    _say(f"$ {shown}")
    result = subprocess.run(  # the real CLI, as a user would run it
        [sys.executable, "-m", "horde_users", *step.args],
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,  # errors show in place, after the command that caused them
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        _say(f"(exit code {result.returncode})")
    if result.returncode != step.expect:
        _say(f"demo: expected exit code {step.expect}, got {result.returncode}")
        return False
    return True


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def tour(ids: dict[str, int]) -> list[Step]:
    """The scripted steps, given the seeded users' ids."""
    alice, bob, dave, heidi = (str(ids[n]) for n in ("alice", "bob", "dave", "heidi"))
    return [
        Step("Who am I? (alice's key)", ("whoami",), key="ALICE_KEY"),
        Step("The kudos leaderboard (no key needed)", ("user", "list", "--sort", "kudos", "--limit", "10")),
        Step(
            "Index every user locally (paced under the server's limits, resumable)",
            ("index", "sync"),
        ),
        Step("Find users by a fragment of their name, in the local index", ("user", "find", "ali")),
        Step(
            "Filters: trusted users with at least 10,000 kudos, most kudos first",
            ("user", "find", "--trusted", "--min-kudos", "10000", "--sort", "kudos"),
        ),
        Step("Alice as anyone sees her", ("user", "show", f"alice#{alice}")),
        Step("Alice as a moderator sees her (privileged fields)", ("user", "show", alice), key="MOD_KEY"),
        Step(
            "A moderator trusts bob (a change to another account needs a reason: it goes in the journal)",
            ("user", "modify", bob, "--trusted", "--reason", "steady worker"),
            key="MOD_KEY",
        ),
        Step(
            "The admin grants bob 500 kudos",
            ("user", "modify", bob, "--kudos", "500", "--reason", "event prize"),
            key="ADMIN_KEY",
        ),
        Step(
            "A dry run: the request a change would send and the role it needs (nothing is sent)",
            ("user", "modify", f"bob#{bob}", "--flagged", "--concurrency", "5", "--dry-run"),
            key="MOD_KEY",
        ),
        Step(
            "A moderator renames bob to robert",
            ("user", "modify", bob, "--username", "robert", "--reason", "asked for it"),
            key="MOD_KEY",
        ),
        Step(
            "The old name is refused (exit code 2): NAME#ID must be the account's current name",
            ("user", "modify", f"bob#{bob}", "--concurrency", "5", "--reason", "pasted from a report"),
            key="MOD_KEY",
            expect=2,
        ),
        Step("Robert afterwards, as JSON for scripts", ("--json", "user", "show", bob)),
        Step(
            "An ordinary user tries a moderator action (refused, exit code 1)",
            ("user", "modify", heidi, "--flagged", "--reason", "looks odd"),
            key="ALICE_KEY",
            expect=1,
        ),
        Step(
            "A moderator deletes dave (--yes skips the question)",
            ("user", "delete", dave, "--yes", "--reason", "spam account"),
            "MOD_KEY",
        ),
        Step("Dave is marked deleted", ("user", "show", dave)),
        Step("And undeleted again", ("user", "undelete", dave, "--reason", "appeal"), key="MOD_KEY"),
        Step("The journal: every change, who made it and why, newest first", ("journal", "list")),
        Step(
            "Undo the trust given to bob (entry #1), itself journaled",
            ("journal", "undo", "1", "--reason", "too early", "--yes"),
            key="MOD_KEY",
        ),
    ]


def _serve_console(url: str, key: str, database: str) -> None:
    """Serve the moderator console on the demo's sandbox, as the demo moderator, until Ctrl-C."""
    _heading("The moderator console on this demo data, as demo_mod (Ctrl-C stops it)")
    env = {k: v for k, v in os.environ.items() if k not in ("AI_HORDE_API_KEY", "AI_HORDE_URL")}
    env.update(AI_HORDE_URL=url, AI_HORDE_API_KEY=key, HORDE_USERS_DATABASE=database)
    console = subprocess.Popen([sys.executable, "-m", "horde_users", "console", "--port", "0"], env=env)
    try:
        console.wait()
    except KeyboardInterrupt:
        console.send_signal(signal.SIGINT)
        console.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every step behaved as expected. ``--console`` then serves the console."""
    with_console = "--console" in (sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    from horde_users.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="horde-users-demo-") as tmp:
        database = f"sqlite:///{Path(tmp) / 'demo.db'}"
        _say("Starting a sandbox AI Horde (temporary SQLite database, loopback only)...")
        with Sandbox(database=database, rate_limits=False) as sandbox:
            admin = sandbox.create_user("demo_admin", admin=True, kudos=50000)
            mod = sandbox.create_user("demo_mod", moderator=True, trusted=True, kudos=20000)
            ids: dict[str, int] = {}
            keys = {"ADMIN_KEY": admin.api_key, "MOD_KEY": mod.api_key}
            for name, kudos, roles in DEMO_USERS:
                seeded = sandbox.create_user(
                    name,
                    kudos=kudos,
                    trusted=roles.get("trusted", False),
                    service=roles.get("service", False),
                    education=roles.get("education", False),
                    pseudonymous=roles.get("pseudonymous", False),
                )
                ids[name] = int(seeded.id)
                if name == "alice":
                    keys["ALICE_KEY"] = seeded.api_key
            _say(f"Sandbox at {sandbox.url}: {admin.alias} (admin), {mod.alias} (moderator), ")
            _say(f"and {len(DEMO_USERS)} users. Keys are in $ADMIN_KEY, $MOD_KEY and $ALICE_KEY.")
            _say(f"$ export AI_HORDE_URL={sandbox.url}")
            journal = str(Path(tmp) / "journal.db")
            results = [_run(step, sandbox.url, keys, journal) for step in tour(ids)]  # even after a failure
            ok = all(results)
            if ok and with_console:
                _serve_console(sandbox.url, keys["MOD_KEY"], journal)
        _say(f"\nSandbox stopped. Tour finished in {time.monotonic() - started:.1f} s.")
    if not ok:
        _say("demo: some steps did not behave as expected")
        return 1
    if not with_console:
        _say("Click through the same data in the moderator console: `make console`.")
    _say("Next: `make test`, or point the CLI at the real AI Horde by setting AI_HORDE_API_KEY.")
    return 0


def run() -> int:
    """``main`` with Ctrl-C ending the demo quietly (its sandbox and console stop on the way out)."""
    try:
        return main()
    except KeyboardInterrupt:
        _say("\ndemo: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(run())
