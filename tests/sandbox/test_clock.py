"""The clock a test can move: ages, rate-limit windows and the 30-day wipe rule follow it."""

from __future__ import annotations

import math

import httpx
import pytest

from horde_users.sandbox import Sandbox
from horde_users.sandbox.clock import MovableClock
from horde_users.sandbox.pytest_plugin import SandboxUsers

DAY = 86400.0


def test_advance_moves_the_clock_forward_only() -> None:
    clock = MovableClock(lambda: 1000.0)
    assert clock() == 1000.0
    assert clock.advance(60) == 1060.0 and clock.offset == 60.0
    for bad in (-1, math.inf, math.nan, "5", True):
        with pytest.raises(ValueError, match="must be"):
            clock.advance(bad)  # type: ignore[arg-type]
    assert clock() == 1060.0


def test_advancing_ages_accounts(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    url = f"{sandbox.url}/v2/users/{alice.id}"
    before = httpx.get(url).json()["account_age"]
    sandbox.clock.advance(10 * DAY)
    after = httpx.get(url).json()["account_age"]
    assert after - before >= 10 * DAY
    assert after - before < 10 * DAY + 60  # bounded generously: real time passes too


@pytest.mark.horde_sandbox(rate_limits=True)
def test_advancing_reopens_a_rate_limit_window(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    url = f"{sandbox.url}/v2/users/{alice.id}"
    with httpx.Client() as http:
        statuses = [http.get(url).status_code for _ in range(61)]
        assert statuses[:60] == [200] * 60 and statuses[60] == 429
        assert http.get(url).status_code == 429
        sandbox.clock.advance(61)
        assert http.get(url).status_code == 200


def test_advancing_lets_a_deleted_inactive_user_be_wiped(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, moderator, alice = (
        horde_sandbox_users.sandbox,
        horde_sandbox_users.moderator,
        horde_sandbox_users.alice,
    )
    url = f"{sandbox.url}/v2/users/{alice.id}"
    headers = {"apikey": moderator.api_key}
    assert httpx.delete(url, headers=headers).status_code == 200  # soft delete
    refused = httpx.delete(url, headers=headers)
    assert (refused.status_code, refused.json()["rc"]) == (403, "CannotWipeActiveUser")
    sandbox.clock.advance(31 * DAY)
    assert httpx.delete(url, headers=headers).json() == {"message": "OK"}
    assert httpx.get(url).status_code == 404


def test_a_given_clock_is_the_base_of_the_movable_one() -> None:
    with Sandbox(clock=lambda: 2_000_000_000.0) as sandbox:
        user = sandbox.create_user("ann")
        sandbox.clock.advance(100)
        assert sandbox.clock() == 2_000_000_100.0
        assert httpx.get(f"{sandbox.url}/v2/users/{user.id}").json()["account_age"] == 100
