"""State a test controls: reset, snapshot and restore, on the running sandbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from horde_users.sandbox import Sandbox, SandboxStore
from horde_users.sandbox.pytest_plugin import SandboxUsers
from horde_users.sandbox.state import take_snapshot
from tests.sandbox.conftest import postgres_server_url


def _aliases(sandbox: Sandbox) -> list[str]:
    return sorted(f"{u['username']}" for u in httpx.get(f"{sandbox.url}/v2/users").json())


def test_reset_empties_the_sandbox_and_keeps_its_settings(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/users", status=500)
    sandbox.reset()
    assert sandbox.faults.list() == [] and len(sandbox.requests) == 0
    assert _aliases(sandbox) == ["Anonymous#0"]
    assert httpx.get(f"{sandbox.url}/v2/find_user", headers={"apikey": alice.api_key}).status_code == 404
    assert httpx.get(f"{sandbox.url}/v2/find_user", headers={"apikey": "0000000000"}).status_code == 200
    again = sandbox.create_user("again")
    assert again.id == 1
    assert httpx.get(f"{sandbox.url}/v2/find_user", headers={"apikey": again.api_key}).json()["id"] == 1


def _users_page(url: str) -> list[dict[str, object]]:
    """The first list page without ``account_age``, which the real clock moves between two reads."""
    users: list[dict[str, object]] = httpx.get(f"{url}/v2/users").json()
    return [{k: v for k, v in user.items() if k != "account_age"} for user in users]


def test_restore_brings_back_users_keys_and_changes_exactly(horde_sandbox_users: SandboxUsers) -> None:
    sandbox = horde_sandbox_users.sandbox
    alice, bob, admin = horde_sandbox_users.alice, horde_sandbox_users.bob, horde_sandbox_users.admin
    saved = sandbox.snapshot()
    before = _users_page(sandbox.url)
    headers = {"apikey": admin.api_key}
    assert (
        httpx.put(f"{sandbox.url}/v2/users/{bob.id}", headers=headers, json={"kudos": 50}).status_code == 200
    )
    assert (
        httpx.delete(f"{sandbox.url}/v2/users/{alice.id}", headers={"apikey": alice.api_key}).status_code
        == 200
    )
    carol = sandbox.create_user("carol")
    sandbox.restore(saved)
    assert _users_page(sandbox.url) == before
    assert httpx.get(f"{sandbox.url}/v2/find_user", headers={"apikey": carol.api_key}).status_code == 404
    assert (
        httpx.get(f"{sandbox.url}/v2/find_user", headers={"apikey": alice.api_key}).json()["id"] == alice.id
    )
    assert sandbox.create_user("dave").id == carol.id  # the sequence follows the restored rows
    sandbox.restore(saved)  # a snapshot can be restored again
    assert _users_page(sandbox.url) == before


def test_restore_refuses_something_that_is_not_a_snapshot(horde_sandbox: Sandbox) -> None:
    with pytest.raises(TypeError, match="Snapshot"):
        horde_sandbox.restore({"users": []})  # type: ignore[arg-type]


def test_state_methods_need_a_running_sandbox() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Sandbox().reset()


@pytest.fixture
def postgres_store() -> Iterator[SandboxStore]:
    store = SandboxStore(postgres_server_url(), schema=f"t_state_{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        store.drop_schema()
        store.close()


def test_restore_on_postgresql_moves_the_id_sequence(postgres_store: SandboxStore) -> None:
    from horde_users.sandbox import state

    first = postgres_store.create_user("first")
    saved = take_snapshot(postgres_store)
    postgres_store.create_user("second")
    postgres_store.create_user("third")
    state.restore(postgres_store, saved)
    assert postgres_store.create_user("next").id == first.id + 1
    state.clear(postgres_store)
    assert postgres_store.create_user("fresh").id == 1
