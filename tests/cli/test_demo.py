"""``make demo`` end to end: the scripted tour through the real CLI against an embedded sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from horde_users.cli.demo import DEMO_USERS


@pytest.mark.slow
def test_demo_runs_the_whole_tour_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_HORDE_")}
    result = subprocess.run(
        [sys.executable, "-m", "horde_users.cli.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    # each command is printed before its output, keys only as placeholders
    for command in (
        "$ AI_HORDE_API_KEY=$ALICE_KEY horde-users whoami",
        "$ horde-users user list --sort kudos --limit 10",
        "$ AI_HORDE_API_KEY=$MOD_KEY horde-users user show",
        "--trusted",
        "$ AI_HORDE_API_KEY=$ADMIN_KEY horde-users user modify",
        "horde-users user delete",
        "horde-users user undelete",
    ):
        assert command in output
    # the dry run shows the request and roles; the stale alias is refused without a change
    assert "Dry run: nothing was sent" in output
    assert re.search(r"^\s+flagged\s+moderator$", output, re.M)
    assert re.search(r"error: bob#\d+ is now robert#\d+: nothing changed", output)
    assert "(exit code 2)" in output
    # the refused moderator action: the clear error and its exit code
    assert "error: NotModerator (403): You're not a mod. BTFO!" in output
    assert "(exit code 1)" in output
    assert "Sandbox stopped." in output
    # the leaderboard shows the richest demo user first
    richest = max(DEMO_USERS, key=lambda user: user[1])[0]
    leaderboard = output.split("user list --sort kudos", 1)[1]
    assert re.search(rf"\b{richest}#\d+", leaderboard.splitlines()[2])
    # no API key (22 URL-safe characters) is ever printed
    assert not re.search(r"(?<![\w-])[A-Za-z0-9_-]{22}(?![\w-])", output.replace("$ALICE_KEY", ""))
