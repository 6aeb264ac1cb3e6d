"""The recipes of docs/sandbox.md, as they are written there (keep the two in step)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from horde_users.client import HordeUsers
from horde_users.errors import ServerError
from horde_users.sandbox import Sandbox, SeededUser
from horde_users.sandbox.pytest_plugin import SandboxUsers


def test_a_get_survives_two_503s(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/users/{id}", status=503, times=2)
    with HordeUsers(api_key=alice.api_key, base_url=sandbox.url, sleep=lambda s: None) as client:
        assert client.get_user(alice.id).id_ == alice.id
    assert [r.status for r in sandbox.requests.filter(path="/v2/users/{id}")] == [503, 503, 200]


@pytest.mark.horde_sandbox(faults=[("PUT", "/v2/users/{id}", {"status": 503})])
def test_a_kudos_change_is_not_repeated(horde_sandbox: Sandbox) -> None:
    admin = horde_sandbox.create_user("root", admin=True, moderator=True)
    bob = horde_sandbox.create_user("bob")
    with HordeUsers(api_key=admin.api_key, base_url=horde_sandbox.url) as client, pytest.raises(ServerError):
        client.modify_user(bob.id, kudos=10)
    assert len(horde_sandbox.requests.filter(method="PUT")) == 1


def test_the_bot_waits_as_told(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/find_user", retry_after=3, times=1)
    waits: list[float] = []
    with HordeUsers(api_key=alice.api_key, base_url=sandbox.url, sleep=waits.append) as client:
        client.find_user()
    assert waits and waits[0] >= 3


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Sandbox, dict[str, SeededUser], Any]]:
    with Sandbox() as sandbox:
        users = {name: sandbox.create_user(name) for name in ("alice", "bob")}
        yield sandbox, users, sandbox.snapshot()


@pytest.fixture
def shared(seeded: tuple[Sandbox, dict[str, SeededUser], Any]) -> Sandbox:
    sandbox, _users, snapshot = seeded
    sandbox.restore(snapshot)
    sandbox.faults.clear()
    sandbox.requests.clear()
    return sandbox


@pytest.mark.parametrize("round_", [1, 2])
def test_a_shared_sandbox_is_put_back_between_tests(shared: Sandbox, round_: int) -> None:
    assert shared.store.count_users() == 3  # the anonymous user, alice and bob: no extra from a round
    assert shared.store.get_user(3) is None
    assert shared.faults.list() == [] and len(shared.requests) == 0
    shared.create_user(f"extra{round_}")  # gone again before the next round
    shared.faults.add("GET", "/v2/users", status=500)
