"""Client configuration: environment, base URL forms, injected HTTP clients, checks before sending."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

import horde_users
from horde_users import errors
from horde_users._aiohttp import AiohttpTransport, AutoTransport
from horde_users._transport import AsyncHttpxTransport
from horde_users.client import AsyncHordeUsers, HordeUsers
from horde_users.endpoints import DEFAULT_BASE_URL, default_client_agent
from horde_users.models import ModifyUser
from horde_users.sandbox.pytest_plugin import SandboxUsers
from tests.blocked_imports import env_without_extras
from tests.client.conftest import MakeApi
from tests.client.faultserver import FaultServer, Reply

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


PYDANTIC_WORDING = (
    "Value error, ",
    "Input should be",
    "String should have",
    "pydantic",
    "type=",
    "input_value",
)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda api: api.modify_user(3, concurrency=501), "concurrency must be at most 500"),
        (lambda api: api.modify_user(3, concurrency="5"), "concurrency must be a whole number"),
        (lambda api: api.modify_user(3, undelete=False), "undelete: the server acts on this field"),
        (lambda api: api.modify_user("alice#3", trusted=True), "user_id must be the numeric id only"),
        (lambda api: api.modify_user(3, username="ab"), "username must be at least 3 characters long"),
        (lambda api: api.modify_user(3, nickname="x"), "modify_user() has no field named nickname"),
        (lambda api: api.modify_user(3), "at least one field"),
        (
            lambda api: api.modify_user(3, ModifyUser(trusted=True), concurrency=-1, vpn=1),
            "concurrency must be at least 0; vpn must be true or false",
        ),
        (lambda api: api.modify_user(3, changes={"trusted": True}), "changes must be a ModifyUser"),
        (lambda api: api.get_user(-1), "user_id must be between 0 and 2147483647"),
        (lambda api: api.delete_user(True), "user_id must be a number, not a boolean"),
        (lambda api: api.list_users(page=0), "page must be at least 1"),
        (lambda api: api.list_users(sort="name"), "sort must be 'kudos' or 'age'"),
        (lambda api: api.all_users(start_page=0), "start_page must be a whole number"),
        (lambda api: api.all_users(limit=-1), "limit must be None or a whole number"),
        (lambda api: api.submit({"user_id": 3}), "submit() takes a request model"),
    ],
)
async def test_bad_input_raises_our_error_before_sending(
    make_api: MakeApi, fault_server: FaultServer, call: Any, expected: str
) -> None:
    key = "A" * 22
    api = make_api(api_key=key, base_url=fault_server.url)
    with pytest.raises(errors.HordeError) as caught:
        await call(api)
    error = caught.value
    assert type(error) is errors.InvalidRequestError
    assert isinstance(error, ValueError)
    assert expected in error.message
    for wording in PYDANTIC_WORDING:
        assert wording not in error.message
    assert key not in error.message and key not in repr(error)
    if isinstance(error.__cause__, ValidationError):
        assert error.__suppress_context__
    assert fault_server.count() == 0


async def test_a_pydantic_refusal_is_the_cause(make_api: MakeApi, fault_server: FaultServer) -> None:
    api = make_api(api_key="A" * 22, base_url=fault_server.url)
    with pytest.raises(errors.InvalidRequestError) as caught:
        await api.modify_user(3, concurrency=501)
    assert isinstance(caught.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    "url",
    [
        "localhost:7311/api",
        "127.0.0.1:7311/api",
        "ftp://example.org/api",
        "http:///api",
        " http://x.org/api",
        "",
    ],
)
@pytest.mark.parametrize("client_class", [HordeUsers, AsyncHordeUsers])
def test_a_base_url_without_http_is_refused_when_the_client_is_created(
    url: str, client_class: type[HordeUsers] | type[AsyncHordeUsers], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not url:  # an empty argument falls back on the environment, which is checked the same way
        monkeypatch.setenv("AI_HORDE_URL", "localhost:7311/api")
    with pytest.raises(errors.InvalidRequestError) as caught:
        client_class(base_url=url)
    assert "http:// or https://" in caught.value.message
    assert ("AI_HORDE_URL" if not url else "base_url") in caught.value.message


@pytest.mark.parametrize("client_class", [HordeUsers, AsyncHordeUsers])
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"api_key": 1234567890}, "api_key must be a string"),
        ({"client_agent": "bot:1:me\nX-Injected: 1"}, "client_agent"),
    ],
)
def test_bad_constructor_arguments_are_our_error(
    client_class: type[HordeUsers] | type[AsyncHordeUsers], options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(errors.InvalidRequestError, match=expected):
        client_class(**options)


@pytest.mark.parametrize("client_class", [HordeUsers, AsyncHordeUsers])
def test_arguments_after_api_key_are_keyword_only(
    client_class: type[HordeUsers] | type[AsyncHordeUsers],
) -> None:
    with pytest.raises(TypeError):
        client_class("A" * 22, "http://127.0.0.1:9/api")  # type: ignore[call-arg]


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


# -- the async client's HTTP library -------------------------------------------------------------


async def test_the_async_client_sends_over_aiohttp_when_it_is_installed(fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(200, {"id": 3, "username": "peer_alice#3"}))
    async with AsyncHordeUsers(base_url=fault_server.url, max_retries=0) as client:
        assert (await client.get_user(3)).username == "peer_alice#3"
        transport = client._transport
        assert isinstance(transport, AutoTransport)
        assert isinstance(transport.chosen, AiohttpTransport)


async def test_an_injected_httpx_client_means_httpx(fault_server: FaultServer) -> None:
    fault_server.script(Reply.json(200, {"id": 3, "username": "peer_alice#3"}))
    async with (
        httpx.AsyncClient() as http,
        AsyncHordeUsers(base_url=fault_server.url, http_client=http) as client,
    ):
        assert (await client.get_user(3)).username == "peer_alice#3"
        assert isinstance(client._transport, AsyncHttpxTransport)


def test_http_backend_is_checked() -> None:
    with pytest.raises(errors.InvalidRequestError, match="http_backend must be"):
        AsyncHordeUsers(http_backend="requests")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidRequestError, match=r"http_client is an httpx\.AsyncClient"):
        AsyncHordeUsers(http_client=httpx.AsyncClient(), http_backend="aiohttp")


def test_without_aiohttp_the_async_client_falls_back_to_httpx(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    """As after ``pip install horde-users`` (no [fast] extra): the same call works, aiohttp never loads."""
    fault_server.script(Reply.json(200, {"id": 3, "username": "peer_alice#3"}))
    code = (
        "import asyncio, sys\n"
        "from horde_users import AsyncHordeUsers\n"
        "async def main():\n"
        f"    async with AsyncHordeUsers(base_url={fault_server.url!r}, max_retries=0) as client:\n"
        "        print((await client.get_user(3)).username, 'aiohttp' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    env = env_without_extras(tmp_path, ("aiohttp",))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["peer_alice#3", "False"], done.stderr
    refused = subprocess.run(
        [
            sys.executable,
            "-c",
            "from horde_users import AsyncHordeUsers; AsyncHordeUsers(http_backend='aiohttp')",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "pip install 'horde-users[fast]'" in refused.stderr


def test_under_trio_the_async_client_uses_httpx(fault_server: FaultServer) -> None:
    """aiohttp runs on asyncio only: the default picks httpx when the loop is trio's."""
    trio = pytest.importorskip("trio")
    fault_server.script(Reply.json(200, {"id": 3, "username": "peer_alice#3"}))

    async def main() -> tuple[str, object]:
        async with AsyncHordeUsers(base_url=fault_server.url, max_retries=0) as client:
            user = await client.get_user(3)
            transport = client._transport
            assert isinstance(transport, AutoTransport)
            return str(user.username), transport.chosen

    username, chosen = trio.run(main)
    assert username == "peer_alice#3"
    assert isinstance(chosen, AsyncHttpxTransport)
