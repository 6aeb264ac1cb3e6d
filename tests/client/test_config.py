"""Client configuration: environment, base URL forms, injected HTTP clients, checks before sending."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

import horde_users
from horde_users import errors
from horde_users.client import AsyncHordeUsers, HordeUsers
from horde_users.endpoints import DEFAULT_BASE_URL, default_client_agent
from horde_users.models import ModifyUser
from horde_users.sandbox.pytest_plugin import SandboxUsers
from tests.client.conftest import MakeApi
from tests.client.faultserver import FaultServer

pytestmark = pytest.mark.anyio


async def test_environment_is_read_when_the_client_is_created(
    make_api: MakeApi, horde_sandbox_users: SandboxUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = horde_sandbox_users
    monkeypatch.setenv("AI_HORDE_URL", users.url + "/")
    monkeypatch.setenv("AI_HORDE_API_KEY", users.alice.api_key)
    api = make_api()
    monkeypatch.setenv("AI_HORDE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("AI_HORDE_API_KEY", users.bob.api_key)
    assert api.client.base_url == users.url
    assert (await api.find_user()).id_ == users.alice.id


async def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_HORDE_URL", raising=False)
    monkeypatch.delenv("AI_HORDE_API_KEY", raising=False)
    with HordeUsers() as client:
        assert client.base_url == DEFAULT_BASE_URL
        assert client.is_anonymous
        assert client.client_agent == default_client_agent()
        assert client.timeout == 30.0
        assert client.max_retries == 2
    async with AsyncHordeUsers(base_url="http://example.org/api/") as aclient:
        assert aclient.base_url == "http://example.org/api"


async def test_explicit_arguments_beat_the_environment(
    make_api: MakeApi, horde_sandbox_users: SandboxUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = horde_sandbox_users
    monkeypatch.setenv("AI_HORDE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("AI_HORDE_API_KEY", users.bob.api_key)
    api = make_api(api_key=users.alice.api_key, base_url=users.url)
    assert (await api.find_user()).id_ == users.alice.id


def test_injected_sync_client_is_used_and_left_open(horde_sandbox_users: SandboxUsers) -> None:
    users = horde_sandbox_users
    with httpx.Client() as http:
        with HordeUsers(api_key=users.alice.api_key, base_url=users.url, http_client=http) as client:
            assert client.find_user().id_ == users.alice.id
        assert not http.is_closed
        assert client.get_user(users.bob.id).id_ == users.bob.id  # still usable
    own = HordeUsers(base_url=users.url)
    own.close()
    with pytest.raises(RuntimeError):
        own.list_users()


async def test_injected_async_client_is_used_and_left_open(horde_sandbox_users: SandboxUsers) -> None:
    users = horde_sandbox_users
    async with httpx.AsyncClient() as http:
        async with AsyncHordeUsers(
            api_key=users.alice.api_key, base_url=users.url, http_client=http
        ) as client:
            assert (await client.find_user()).id_ == users.alice.id
        assert not http.is_closed


async def test_modify_user_validates_before_sending(make_api: MakeApi, fault_server: FaultServer) -> None:
    api = make_api(api_key="A" * 22, base_url=fault_server.url)
    with pytest.raises(ValidationError):
        await api.modify_user(3, concurrency=501)
    with pytest.raises(ValidationError):
        await api.modify_user(3, undelete=False)
    with pytest.raises(ValidationError):
        await api.modify_user("alice#3", trusted=True)
    with pytest.raises(TypeError, match="nickname"):
        await api.modify_user(3, nickname="x")
    with pytest.raises(ValueError, match="at least one field"):
        await api.modify_user(3)
    with pytest.raises(ValidationError):
        await api.modify_user(3, ModifyUser(trusted=True), concurrency=-1)
    assert fault_server.count() == 0


def test_max_retries_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        HordeUsers(max_retries=-1)


def test_public_names_are_listed() -> None:
    assert set(horde_users.client.__all__) == {"HordeUsers", "AsyncHordeUsers"}
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.HordeError)
    assert issubclass(errors.HordeTimeoutError, errors.HordeConnectionError)
    for name in ("BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError"):
        assert issubclass(getattr(errors, name), errors.HordeAPIError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (405, errors.HordeAPIError),
        (413, errors.PayloadTooLargeError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (502, errors.ServerError),
    ],
)
async def test_every_error_status_has_its_class(
    make_api: MakeApi, fault_server: FaultServer, status: int, cls: type[errors.HordeAPIError]
) -> None:
    from tests.client.faultserver import Reply

    fault_server.script(Reply.json(status, {"message": "nope", "rc": "SomethingNew"}, {"Retry-After": "61"}))
    api = make_api(base_url=fault_server.url, max_retries=0)
    with pytest.raises(errors.HordeAPIError) as caught:
        await api.list_users()
    assert type(caught.value) is cls
    assert caught.value.rc == "SomethingNew"  # an unknown rc stays a string
    assert caught.value.retry_after == (61 if status == 429 else None)


def test_timeout_none_keeps_the_injected_clients_timeout(fault_server: FaultServer) -> None:
    from tests.client.faultserver import Hang

    fault_server.script(Hang())
    with httpx.Client(timeout=0.3) as http:
        client = HordeUsers(base_url=fault_server.url, http_client=http, timeout=None, max_retries=0)
        assert client.timeout == httpx.Timeout(0.3)
        with pytest.raises(errors.HordeTimeoutError) as caught:
            client.find_user()
    assert not caught.value.outcome_unknown  # a read changes nothing
    assert fault_server.count() == 1
