"""No API key ever shows in a log line, an exception's text or repr, or a client's repr."""

from __future__ import annotations

import logging
import pickle
import socket
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from horde_users.errors import HordeAPIError, HordeConnectionError, HordeError, InvalidRequestError
from horde_users.models import SingleUserDetailsRequest
from horde_users.sandbox.pytest_plugin import SandboxUsers
from tests.client.conftest import MakeApi
from tests.client.faultserver import FaultServer, Hang, Reply, Reset

pytestmark = pytest.mark.anyio

UNKNOWN_KEY = "SecretSecretSecret-_42"


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def chain_text(error: BaseException) -> str:
    """Everything an exception and its whole chain can show: str, repr, args, the formatted traceback."""
    parts = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts.append(repr(current.__cause__) + repr(current.__context__))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


VALID = "Va1idLookingKey_-01234"
assert len(VALID) == 22
MALFORMED_KEYS = {
    "newline": VALID + "\n",
    "tab": VALID + "\t",
    "crlf": VALID + "\r\n",
    "spaces": "  " + VALID + " ",
    "non-ascii": VALID[:-1] + "é",
    "inner-newline": VALID[:11] + "\n" + VALID[11:],
    "too-long": VALID + "x",
    "uuid-with-blanks": " 0123456789abcdef0123456789abcd ",
}

CALLS: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "find_user": lambda api: api.find_user(),
    "get_user": lambda api: api.get_user(1),
    "list_users": lambda api: api.list_users(),
    "all_users": lambda api: api.all_users(limit=1),
    "modify_user": lambda api: api.modify_user(1, trusted=True),
    "undelete_user": lambda api: api.undelete_user(1),
    "delete_user": lambda api: api.delete_user(1),
    "submit": lambda api: api.submit(SingleUserDetailsRequest(user_id=1)),
}


@pytest.mark.parametrize("key", MALFORMED_KEYS.values(), ids=MALFORMED_KEYS.keys())
@pytest.mark.parametrize("method", CALLS)
async def test_a_malformed_key_is_refused_before_sending_and_never_shown(
    make_api: MakeApi, fault_server: FaultServer, key: str, method: str
) -> None:
    api = make_api(api_key=key, base_url=fault_server.url)
    with pytest.raises(InvalidRequestError) as caught:
        await CALLS[method](api)
    error = caught.value
    assert isinstance(error, HordeError) and isinstance(error, ValueError)
    assert "api_key is malformed" in error.message
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InvalidRequestError and copy.message == error.message
    text = chain_text(error)
    assert_clean(text, key, key.strip(), VALID, VALID[:11], VALID[12:])
    assert_clean(repr(api.client), key.strip())
    assert fault_server.count() == 0


async def test_a_malformed_key_from_the_environment_is_named_by_its_variable(
    make_api: MakeApi, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_HORDE_API_KEY", VALID + "\n")
    api = make_api(base_url=fault_server.url)
    with pytest.raises(InvalidRequestError, match=r"AI_HORDE_API_KEY is malformed \(it has blanks"):
        await api.get_user(1)
    assert fault_server.count() == 0


async def test_transport_errors_keep_a_key_free_cause(make_api: MakeApi, fault_server: FaultServer) -> None:
    fault_server.script(Reset())
    api = make_api(api_key=VALID, base_url=fault_server.url)
    with pytest.raises(HordeConnectionError) as caught:
        await api.delete_user(1)
    assert caught.value.__cause__ is not None  # the httpx error stays visible for debugging
    assert caught.value.__context__ is None or caught.value.__context__ is caught.value.__cause__
    assert_clean(chain_text(caught.value), VALID)


async def test_each_retry_logs_structured_attributes(
    make_api: MakeApi, fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="horde_users")
    fault_server.script(
        Reply.json(429, {"message": "60 per 1 minute"}, {"Retry-After": "0"}),
        Reply.json(503, {"message": "Service Unavailable"}),
        Reset(),
        replay_user(),
    )
    api = make_api(api_key=VALID, base_url=fault_server.url, max_retries=3)
    await api.get_user(3)
    retries = [r for r in caplog.records if r.name == "horde_users" and r.levelno == logging.INFO]
    assert [r.__dict__["retry_reason"] for r in retries] == [
        "rate limited (Retry-After)",
        "503 Service Unavailable",
        "connection dropped",
    ]
    assert [r.__dict__["attempt"] for r in retries] == [2, 3, 4]
    assert {r.__dict__["max_retries"] for r in retries} == {3}
    delays = [r.__dict__["retry_delay"] for r in retries]
    assert all(isinstance(d, float) for d in delays)
    assert delays == api.sleeps
    assert "(attempt 2 of 4): rate limited (Retry-After)" in retries[0].getMessage()
    assert_clean(caplog.text, VALID)


async def test_retry_reasons_for_timeouts_and_refused_connections(
    make_api: MakeApi, fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="horde_users")
    fault_server.script(Hang(), replay_user())
    api = make_api(api_key=VALID, base_url=fault_server.url, timeout=0.5)
    await api.get_user(3)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = make_api(base_url=f"http://127.0.0.1:{port}/api", max_retries=1)
    with pytest.raises(HordeConnectionError):
        await refused.list_users()
    reasons = [r.__dict__["retry_reason"] for r in caplog.records if r.levelno == logging.INFO]
    reasons = [r for r in reasons if r]  # httpx's own INFO lines have none
    assert reasons == ["timed out", "could not connect"]


def replay_user() -> Reply:
    return Reply.json(200, {"id": 3, "username": "peer_alice#3"})


async def test_keys_never_leak_through_logs_errors_or_reprs(
    make_api: MakeApi, horde_sandbox_users: SandboxUsers, caplog: pytest.LogCaptureFixture
) -> None:
    users = horde_sandbox_users
    caplog.set_level(logging.DEBUG)
    shared = users.sandbox.create_shared_key(users.alice, "bot")
    unknown = make_api(api_key=UNKNOWN_KEY, base_url=users.url)
    alice = make_api(api_key=users.alice.api_key, base_url=users.url)
    by_shared = make_api(api_key=shared, base_url=users.url)

    errors: list[HordeError] = []
    for call in (
        unknown.find_user(),  # the 404 message echoes the key it looked up
        unknown.get_user(users.alice.id),
        alice.modify_user(users.bob.id, trusted=True),
        alice.modify_user(users.alice.id, username="   "),
    ):
        with pytest.raises(HordeAPIError) as caught:
            await call
        errors.append(caught.value)
    await alice.find_user()
    await alice.modify_user(users.alice.id, contact="alice@example.org")
    await by_shared.find_user()
    await by_shared.get_user(users.alice.id)

    assert "User with api_key '<redacted>' not found." in errors[0].message
    secrets = (UNKNOWN_KEY, users.alice.api_key, shared)
    for error in errors:
        assert_clean(chain_text(error), *secrets)
        assert_clean(repr(pickle.loads(pickle.dumps(error))), *secrets)
    for api in (unknown, alice, by_shared):
        assert_clean(repr(api.client), *secrets)
    assert "apikey': '<redacted>'" in caplog.text
    assert_clean(caplog.text, *secrets)
    assert any(r.name == "horde_users" and r.levelno == logging.DEBUG for r in caplog.records)


async def test_keys_never_leak_from_transport_failures_and_retries(
    make_api: MakeApi, fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "AnotherSecretKey_12345"
    echo = Reply.json(503, {"message": f"overloaded while serving {key}"})
    fault_server.script(echo, Reset(), echo)
    api = make_api(api_key=key, base_url=fault_server.url)
    with pytest.raises(HordeError) as caught:
        await api.get_user(3)
    assert fault_server.count() == 3
    assert "overloaded while serving <redacted>" in caught.value.message
    assert_clean(str(caught.value) + repr(caught.value) + caplog.text, key)
    retries = [r for r in caplog.records if r.name == "horde_users" and r.levelno == logging.INFO]
    assert len(retries) == 2
    assert "503 Service Unavailable" in retries[0].getMessage()
