"""Every client method and every role, against a real sandbox: in process, and over a loopback port for
the end-to-end walks and the server's edge (rate limits)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from horde_users.errors import (
    AuthenticationError,
    BadRequestError,
    HordeAPIError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from horde_users.models import (
    RC,
    DeleteUserRequest,
    DeleteUserResponse,
    FindUserRequest,
    ListUsersDetailsRequest,
    ListUsersDetailsResponse,
    ModifyUser,
    ModifyUserRequest,
    ModifyUserResponse,
    SingleUserDetailsRequest,
    UserDetailsResponse,
)
from horde_users.sandbox import Sandbox
from horde_users.sandbox.pytest_plugin import SandboxUsers
from tests.client.conftest import InProcessSandbox, InProcessUsers, MakeApi

pytestmark = pytest.mark.anyio

UNKNOWN_KEY = "NoSuchKeyNoSuchKey0123"


# --- reading ---------------------------------------------------------------------------------


async def test_find_user_gives_the_keys_owner_in_own_view(
    make_api: MakeApi, horde_sandbox_users: SandboxUsers
) -> None:
    users = horde_sandbox_users
    for seeded in (users.admin, users.moderator, users.alice):
        me = await make_api(api_key=seeded.api_key, base_url=users.url).find_user()
        assert isinstance(me, UserDetailsResponse)
        assert (me.username, me.id_) == (seeded.alias, seeded.id)
        assert me.sharedkey_ids == []  # level 1: own view
        assert me.evaluating_kudos is None  # never level 2 on find_user, even for moderators


async def test_find_user_with_the_anonymous_key(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    me = await make_api(base_url=sandbox_users.url).find_user()
    assert (me.username, me.id_) == ("Anonymous#0", 0)


async def test_find_user_by_shared_key_gives_the_owner_publicly(
    make_api: MakeApi, sandbox_users: InProcessUsers
) -> None:
    users = sandbox_users
    shared = users.sandbox.create_shared_key(users.alice, "bot")
    api = make_api(api_key=shared, base_url=users.url)
    owner = await api.find_user()
    assert owner.username == f"{users.alice.alias} (Shared Key: bot)"
    assert owner.id_ == users.alice.id
    assert owner.sharedkey_ids is None  # level 0
    # get_user does not send a shared key (the server would answer 401): public view instead
    seen = await api.get_user(users.alice.id)
    assert seen.username == users.alice.alias
    assert seen.sharedkey_ids is None
    assert (await api.submit(SingleUserDetailsRequest(user_id=users.alice.id))).username == users.alice.alias


async def test_get_user_views_by_role(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    public = await make_api(base_url=users.url).get_user(users.alice.id)
    own = await make_api(api_key=users.alice.api_key, base_url=users.url).get_user(users.alice.id)
    as_bob = await make_api(api_key=users.bob.api_key, base_url=users.url).get_user(str(users.alice.id))
    as_mod = await make_api(api_key=users.moderator.api_key, base_url=users.url).get_user(users.alice.id)
    assert public.username == own.username == as_mod.username == users.alice.alias
    assert public.vpn is None and as_bob.vpn is None  # level 0
    assert own.vpn is False and own.suspicious is None  # level 1
    assert as_mod.suspicious == 0 and as_mod.evaluating_kudos == 0.0  # level 2
    assert as_mod.monthly_kudos is not None


async def test_list_users_both_sorts(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    api = make_api(base_url=users.url)
    by_kudos = await api.list_users()
    by_age = await api.list_users(page=1, sort="age")
    assert isinstance(by_kudos, ListUsersDetailsResponse)
    assert [u.id_ for u in by_age] == [0, 1, 2, 3, 4]
    assert sorted(u.id_ or 0 for u in by_kudos) == [0, 1, 2, 3, 4]
    assert await api.list_users(page=2) == ListUsersDetailsResponse([])


# --- iter_users ------------------------------------------------------------------------------


@pytest.fixture
def crowd(horde_sandbox: Sandbox) -> Sandbox:
    """A sandbox of 120 seeded users (plus Anonymous): ids 1..120, kudos 10 x id, so by kudos id 120 leads."""
    for n in range(1, 121):
        horde_sandbox.create_user(f"user{n:03d}", kudos=10 * n)
    return horde_sandbox


async def test_iter_users_walks_every_page_in_both_sorts(make_api: MakeApi, crowd: Sandbox) -> None:
    api = make_api(base_url=crowd.url)
    by_kudos = await api.all_users()
    by_age = await api.all_users(sort="age")
    assert len(by_kudos) == len(by_age) == 121
    assert [u.id_ for u in by_age] == list(range(121))
    kudos = [u.kudos or 0.0 for u in by_kudos]
    assert kudos == sorted(kudos, reverse=True)
    assert {u.id_ for u in by_kudos} == set(range(121))


async def test_iter_users_limit_and_start_page(make_api: MakeApi, crowd: Sandbox) -> None:
    api = make_api(base_url=crowd.url)
    assert [u.id_ for u in await api.all_users(sort="age", limit=30)] == list(range(30))
    assert [u.id_ for u in await api.all_users(sort="age", start_page=5)] == list(range(100, 121))
    assert await api.all_users(limit=0) == []
    assert await api.all_users(start_page=10000) == []


async def test_iter_users_stops_on_an_empty_page_after_a_full_one(
    make_api: MakeApi, in_process_sandbox: InProcessSandbox
) -> None:
    for n in range(24):  # 24 + Anonymous = exactly one full page
        in_process_sandbox.store.create_user(f"user{n:02d}")
    assert len(await make_api(base_url=in_process_sandbox.url).all_users(sort="age")) == 25


async def test_iter_users_checks_its_arguments_before_sending(make_api: MakeApi) -> None:
    api = make_api(base_url="http://127.0.0.1:9/api")
    for bad in ({"start_page": 0}, {"limit": -1}, {"sort": "name"}):
        with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError is a ValueError too
            await api.all_users(**bad)


# --- changing --------------------------------------------------------------------------------


async def test_admin_grants_kudos_and_roles(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    admin = make_api(api_key=users.admin.api_key, base_url=users.url)
    reply = await admin.modify_user(users.alice.id, kudos=50, usage_multiplier=2.0)
    assert isinstance(reply, ModifyUserResponse)
    assert reply.new_kudos == 50.0
    assert reply.usage_multiplier == 2.0
    reply = await admin.modify_user(users.bob.id, ModifyUser(moderator=True, monthly_kudos=10))
    assert (reply.moderator, reply.monthly_kudos) == (True, 10)
    assert (await admin.get_user(users.bob.id)).trusted is True


async def test_moderator_sets_flags(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    mod = make_api(api_key=users.moderator.api_key, base_url=users.url)
    reply = await mod.modify_user(
        users.alice.id, trusted=True, flagged=True, concurrency=40, admin_comment="watch this one"
    )
    assert (reply.trusted, reply.flagged, reply.concurrency) == (True, True, 40)
    seen = await mod.get_user(users.alice.id)
    assert (seen.trusted, seen.flagged, seen.concurrency, seen.admin_comment) == (
        True,
        True,
        40,
        "watch this one",
    )


async def test_owner_renames_themselves(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    alice = make_api(api_key=users.alice.api_key, base_url=users.url)
    reply = await alice.modify_user(users.alice.id, username="alicia", contact="alice@example.org")
    assert (reply.username, reply.contact) == ("alicia", "alice@example.org")
    assert (await alice.find_user()).username == f"alicia#{users.alice.id}"


async def test_delete_undelete_and_wipe(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    alice = make_api(api_key=users.alice.api_key, base_url=users.url)
    mod = make_api(api_key=users.moderator.api_key, base_url=users.url)
    assert await alice.delete_user(users.alice.id) == DeleteUserResponse(message="OK")
    assert (await alice.find_user()).deleted is True
    reply = await alice.undelete_user(users.alice.id)
    assert reply.undeleted is True
    assert await mod.delete_user(users.alice.id) == DeleteUserResponse(message="OK")
    with pytest.raises(PermissionDeniedError) as caught:  # a second DELETE of an active user is refused
        await mod.delete_user(users.alice.id)
    assert caught.value.rc is RC.CannotWipeActiveUser
    users.sandbox.set_last_active(users.alice, datetime.now(timezone.utc) - timedelta(days=31))
    await mod.delete_user(users.alice.id)  # wiped for good
    with pytest.raises(NotFoundError):
        await mod.get_user(users.alice.id)


async def test_submit_sends_any_request_model(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    mod = make_api(api_key=users.moderator.api_key, base_url=users.url)
    assert isinstance(await mod.submit(ListUsersDetailsRequest(sort="age")), ListUsersDetailsResponse)
    # no apikey on the model: the client's key is used (moderator view)
    seen = await mod.submit(SingleUserDetailsRequest(user_id=users.alice.id))
    assert seen.suspicious == 0
    # a key on the model wins over the client's
    me = await mod.submit(FindUserRequest(apikey=users.bob.api_key))
    assert me.id_ == users.bob.id
    reply = await mod.submit(ModifyUserRequest(user_id=users.bob.id, trusted=True))
    assert reply.trusted is True
    with pytest.raises(PermissionDeniedError):
        await mod.submit(DeleteUserRequest(user_id=users.bob.id, apikey=users.alice.api_key))


# --- errors ----------------------------------------------------------------------------------


async def test_errors_map_status_and_rc(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    url = users.url
    admin = make_api(api_key=users.admin.api_key, base_url=url)
    mod = make_api(api_key=users.moderator.api_key, base_url=url)
    alice = make_api(api_key=users.alice.api_key, base_url=url)
    anon = make_api(base_url=url)
    unknown = make_api(api_key=UNKNOWN_KEY, base_url=url)
    a, b = users.alice.id, users.bob.id
    cases = [
        (anon.get_user(999999), NotFoundError, RC.UserNotFound),
        (unknown.get_user(a), AuthenticationError, RC.InvalidAPIKey),
        (unknown.find_user(), NotFoundError, RC.UserNotFound),
        (mod.modify_user(a, kudos=1), PermissionDeniedError, RC.NotAdmin),
        (alice.modify_user(b, trusted=True), PermissionDeniedError, RC.NotModerator),
        (anon.modify_user(0, username="anonymous2"), PermissionDeniedError, RC.AnonForbiddenUserMod),
        (alice.modify_user(a, generate_proxy_passkey=True), PermissionDeniedError, RC.NonServiceForbidden),
        (alice.modify_user(a, filtered=True), BadRequestError, RC.NoUserModSelected),
        (alice.modify_user(a, username="x" * 31), BadRequestError, RC.TooLongUserName),
        (alice.modify_user(a, undelete=True), BadRequestError, RC.UserNotDeleted),
        (anon.delete_user(a), PermissionDeniedError, RC.AnonForbiddenUser),
        (admin.delete_user(users.moderator.id), PermissionDeniedError, RC.CannotDeleteMod),
        (alice.delete_user(b), PermissionDeniedError, RC.NotUserOrMod),
    ]
    for call, cls, rc in cases:
        with pytest.raises(HordeAPIError) as caught:
            await call
        error = caught.value
        assert type(error) is cls, (rc, error)
        assert error.rc is rc
        assert error.status_code == {BadRequestError: 400, AuthenticationError: 401}.get(
            cls, 403 if cls is PermissionDeniedError else 404
        )
        assert error.message
        assert error.horde_node and "horde-users" in error.horde_node
        assert error.errors is None


@pytest.mark.horde_sandbox(profanity_words=["heck"])
async def test_profanity_codes(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    mod = make_api(api_key=users.moderator.api_key, base_url=users.url)
    a = users.alice.id
    for changes, rc in [
        ({"username": "what the heck"}, RC.ProfaneUserName),
        ({"contact": "heck@example.org is mine? no: heck"}, RC.ProfaneUserContact),
        ({"admin_comment": "what the heck"}, RC.ProfaneAdminComment),
    ]:
        with pytest.raises(BadRequestError) as caught:
            await mod.modify_user(a, **changes)
        assert caught.value.rc is rc


async def test_validation_error_keeps_its_field_map(make_api: MakeApi, sandbox_users: InProcessUsers) -> None:
    users = sandbox_users
    alice = make_api(api_key=users.alice.api_key, base_url=users.url)
    with pytest.raises(BadRequestError) as caught:
        await alice.modify_user(users.alice.id, username="   ")  # long enough here, empty once sanitised
    error = caught.value
    assert error.rc is None
    assert error.errors == {"username": "'   ' is too short"}
    assert error.message == "Input payload validation failed"
    assert "username: '   ' is too short" in str(error)


@pytest.mark.horde_sandbox(rate_limits=True)
async def test_rate_limit_gives_rate_limit_error_with_retry_after(
    make_api: MakeApi, horde_sandbox_users: SandboxUsers
) -> None:
    users = horde_sandbox_users
    api = make_api(base_url=users.url, max_retries=0)
    for _ in range(60):
        await api.get_user(users.bob.id)
    with pytest.raises(RateLimitError) as caught:
        await api.get_user(users.bob.id)
    error = caught.value
    assert error.status_code == 429
    assert error.retry_after is not None and 0 < error.retry_after <= 61
    assert error.rc is None
