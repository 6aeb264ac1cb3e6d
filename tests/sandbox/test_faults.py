"""Faults on demand, seen through the sync client: the right exception, retries, and data unchanged."""

from __future__ import annotations

import httpx
import pytest

from horde_users.client import HordeUsers
from horde_users.errors import (
    AuthenticationError,
    HordeConnectionError,
    HordeTimeoutError,
    RateLimitError,
    ServerError,
)
from horde_users.sandbox import Sandbox
from horde_users.sandbox.pytest_plugin import SandboxUsers


def _client(sandbox: Sandbox, api_key: str | None, sleeps: list[float], **options: object) -> HordeUsers:
    return HordeUsers(api_key=api_key, base_url=sandbox.url, sleep=sleeps.append, **options)  # type: ignore[arg-type]


def test_a_503_is_retried_for_a_get_then_real_behaviour_resumes(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    fault = sandbox.faults.add("GET", "/v2/users/{id}", status=503, times=2)
    sleeps: list[float] = []
    with _client(sandbox, alice.api_key, sleeps, max_retries=2) as client:
        assert client.get_user(alice.id).id_ == alice.id  # two 503s, then the real answer
    assert len(sleeps) == 2
    assert fault.hits == 2 and sandbox.faults.list() == []
    statuses = [r.status for r in sandbox.requests.filter(method="GET", path="/v2/users/{id}")]
    assert statuses == [503, 503, 200]


def test_a_503_is_not_retried_for_a_kudos_put_and_changes_nothing(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, admin, bob = horde_sandbox_users.sandbox, horde_sandbox_users.admin, horde_sandbox_users.bob
    sandbox.faults.add("PUT", "/v2/users/{id}", status=503)
    sleeps: list[float] = []
    before = sandbox.store.get_user(bob.id)
    assert before is not None
    with (
        _client(sandbox, admin.api_key, sleeps, max_retries=3) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.modify_user(bob.id, kudos=100)
    assert caught.value.status_code == 503
    assert sleeps == []
    assert len(sandbox.requests.filter(method="PUT")) == 1
    after = sandbox.store.get_user(bob.id)
    assert after is not None and after.kudos == before.kudos
    sandbox.faults.clear()
    with _client(sandbox, admin.api_key, sleeps) as client:
        client.modify_user(bob.id, kudos=100)
    changed = sandbox.store.get_user(bob.id)
    assert changed is not None and changed.kudos == before.kudos + 100


def test_a_429_with_retry_after_is_retried_after_the_wait(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/find_user", retry_after=3, times=1)
    sleeps: list[float] = []
    with _client(sandbox, alice.api_key, sleeps) as client:
        assert client.find_user().id_ == alice.id
    assert len(sleeps) == 1 and sleeps[0] >= 3
    first = sandbox.requests.filter(path="/v2/find_user")[0]
    assert first.status == 429 and first.fault is not None


def test_a_429_without_retries_raises_rate_limit_error_with_retry_after(horde_sandbox: Sandbox) -> None:
    horde_sandbox.faults.add("GET", "/v2/users", retry_after=7)
    response = httpx.get(f"{horde_sandbox.url}/v2/users")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert "message" in response.json()
    with _client(horde_sandbox, None, [], max_retries=0) as client, pytest.raises(RateLimitError):
        client.list_users()


def test_an_rc_fault_answers_the_contract_error_shape(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    horde_sandbox_users.faults.add("GET", "/v2/find_user", rc="InvalidAPIKey", times=1)
    with _client(sandbox, alice.api_key, []) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.find_user()
        assert caught.value.rc == "InvalidAPIKey"
        assert client.find_user().id_ == alice.id  # spent after one request
    assert [r.status for r in horde_sandbox_users.requests] == [401, 200]


def test_a_dropped_connection_raises_connection_error_and_is_retried_for_a_get(
    horde_sandbox_users: SandboxUsers,
) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/users/{id}", drop=True, times=1)
    sleeps: list[float] = []
    with _client(sandbox, alice.api_key, sleeps) as client:
        assert client.get_user(alice.id).id_ == alice.id
    assert len(sleeps) == 1
    sandbox.faults.add("GET", "/v2/users/{id}", drop=True)
    with _client(sandbox, alice.api_key, [], max_retries=0) as client, pytest.raises(HordeConnectionError):
        client.get_user(alice.id)
    assert [r.status for r in sandbox.requests.filter(path="/v2/users/{id}")] == [None, 200, None]


def test_a_dropped_kudos_put_changes_nothing(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, admin, bob = horde_sandbox_users.sandbox, horde_sandbox_users.admin, horde_sandbox_users.bob
    sandbox.faults.add("PUT", "/v2/users/{id}", drop=True)
    with (
        _client(sandbox, admin.api_key, [], max_retries=3) as client,
        pytest.raises(HordeConnectionError) as caught,
    ):
        client.modify_user(bob.id, kudos=5)
    assert caught.value.outcome_unknown
    assert len(sandbox.requests.filter(method="PUT")) == 1  # not retried
    user = sandbox.store.get_user(bob.id)
    assert user is not None and user.kudos == 0


def test_a_delay_longer_than_the_timeout_raises_timeout_error(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/find_user", delay=2.0)
    with (
        _client(sandbox, alice.api_key, [], timeout=0.2, max_retries=0) as client,
        pytest.raises(HordeTimeoutError),
    ):
        client.find_user()


def test_a_delay_alone_then_answers_normally(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    sandbox.faults.add("GET", "/v2/find_user", delay=0.05, times=1)
    with _client(sandbox, alice.api_key, []) as client:
        assert client.find_user().id_ == alice.id
    assert sandbox.requests.filter(path="/v2/find_user")[0].fault is not None


def test_a_fault_for_one_api_key_leaves_other_callers_alone(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice, bob = horde_sandbox_users.sandbox, horde_sandbox_users.alice, horde_sandbox_users.bob
    fault = sandbox.faults.add("GET", "/v2/find_user", status=500, api_key=alice.api_key)
    assert alice.api_key not in repr(fault) and alice.api_key not in str(fault.describe())
    with _client(sandbox, bob.api_key, []) as client:
        assert client.find_user().id_ == bob.id
    with _client(sandbox, alice.api_key, [], max_retries=0) as client, pytest.raises(ServerError):
        client.find_user()


def test_a_concrete_path_matches_only_that_user(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice, bob = horde_sandbox_users.sandbox, horde_sandbox_users.alice, horde_sandbox_users.bob
    sandbox.faults.add("GET", f"/v2/users/{alice.id}", status=500, body={"message": "boom"})
    assert httpx.get(f"{sandbox.url}/v2/users/{bob.id}").status_code == 200
    response = httpx.get(f"{sandbox.url}/v2/users/{alice.id}")
    assert response.status_code == 500 and response.json() == {"message": "boom"}
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("args", "options", "words"),
    [
        (("GET", "/v2/nothing"), {"status": 500}, "does not serve"),
        (("GET", "v2/users"), {"status": 500}, "starts with '/'"),
        (("PATCH", "/v2/users/{id}"), {"status": 500}, "answers GET, PUT, DELETE"),
        (("GET", "/v2/users"), {}, "needs a status"),
        (("GET", "/v2/users"), {"status": 99}, "HTTP status"),
        (("GET", "/v2/users"), {"rc": "NoSuchRc"}, "unknown rc"),
        (("GET", "/v2/users"), {"status": 500, "times": 0}, "times"),
        (("GET", "/v2/users"), {"delay": -1}, "delay"),
        (("GET", "/v2/users"), {"drop": True, "status": 500}, "drop takes no status"),
    ],
)
def test_bad_faults_are_refused_with_a_clear_value_error(
    horde_sandbox: Sandbox, args: tuple[str, str], options: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        horde_sandbox.faults.add(*args, **options)  # type: ignore[arg-type]
    assert horde_sandbox.faults.list() == []


@pytest.mark.horde_sandbox(
    faults=[
        ("GET", "/v2/users", {"status": 502, "times": 1}),
        {"method": "GET", "path": "/v2/find_user", "rc": "InvalidAPIKey"},
    ]
)
def test_the_marker_adds_faults_to_the_fixture(horde_sandbox: Sandbox) -> None:
    assert [(f.method, f.path) for f in horde_sandbox.faults.list()] == [
        ("GET", "/v2/users"),
        ("GET", "/v2/find_user"),
    ]
    assert httpx.get(f"{horde_sandbox.url}/v2/users").status_code == 502
    assert httpx.get(f"{horde_sandbox.url}/v2/users").status_code == 200
    assert (
        httpx.get(f"{horde_sandbox.url}/v2/find_user", headers={"apikey": "x" * 22}).json()["rc"]
        == "InvalidAPIKey"
    )


def test_a_get_fault_answers_head_too_without_a_body(horde_sandbox: Sandbox) -> None:
    horde_sandbox.faults.add("GET", "/v2/users", status=503, times=1)
    response = httpx.head(f"{horde_sandbox.url}/v2/users")
    assert response.status_code == 503 and response.content == b""
    assert httpx.head(f"{horde_sandbox.url}/v2/users").status_code == 200
