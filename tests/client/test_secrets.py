"""No API key ever shows in a log line, an exception's text or repr, or a client's repr."""

from __future__ import annotations

import logging
import pickle

import pytest

from horde_users.errors import HordeAPIError, HordeError
from horde_users.sandbox.pytest_plugin import SandboxUsers
from tests.client.conftest import MakeApi
from tests.client.faultserver import FaultServer, Reply, Reset

pytestmark = pytest.mark.anyio

UNKNOWN_KEY = "SecretSecretSecret-_42"


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


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
        assert_clean(str(error), *secrets)
        assert_clean(repr(error), *secrets)
        assert_clean(str(error.args), *secrets)
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
    assert "status 503" in retries[0].getMessage()
