"""Every real response parses, round-trips, and keeps what a newer server may add."""

from __future__ import annotations

import copy
import pickle
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import PydanticUserError, ValidationError

from horde_users.models import (
    RC,
    DeleteUserResponse,
    ListUsersDetailsResponse,
    ModifyUserResponse,
    MonthlyKudos,
    RequestErrorResponse,
    UserDetailsResponse,
)
from horde_users.models.base import HordeResponseTypes
from tests.conftest import load_examples


def _response_model(example: dict[str, Any]) -> type[HordeResponseTypes]:
    body = example["response"]["json"]
    method = example["request"]["method"]
    if example["response"]["status"] != 200:
        return RequestErrorResponse
    if isinstance(body, list):
        return ListUsersDetailsResponse
    by_method: dict[str, type[HordeResponseTypes]] = {"PUT": ModifyUserResponse, "DELETE": DeleteUserResponse}
    return by_method.get(method, UserDetailsResponse)


def test_every_example_body_parses_and_dumps_back_to_the_same_json(example: dict[str, Any]) -> None:
    body = example["response"]["json"]
    model = _response_model(example).model_validate(body)
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == body


def test_the_list_keeps_its_explicit_nulls_and_empty_objects() -> None:
    body = next(example for example in load_examples() if example["case"] == "010_list_users_page1")
    page = ListUsersDetailsResponse.model_validate(body["response"]["json"])
    first = page[0]
    assert first.vpn is None and first.contact is None
    assert first.monthly_kudos is not None and first.monthly_kudos.amount is None
    assert len(page) == 25 == len(list(page))


def test_error_bodies_carry_their_rc_as_an_enum_member(error_example: dict[str, Any]) -> None:
    error = RequestErrorResponse.model_validate(error_example["response"]["json"])
    assert error.message
    if "rc" in error_example["response"]["json"]:
        assert isinstance(error.get_rc(), RC)
    else:
        assert error.rc is None and error.get_rc() is None


def test_rfc822_last_received_parses_as_utc_and_dumps_back_unchanged() -> None:
    monthly = MonthlyKudos.model_validate({"amount": 100, "last_received": "Fri, 27 Nov 2026 01:17:41 -0000"})
    assert monthly.last_received == datetime(2026, 11, 27, 1, 17, 41, tzinfo=timezone.utc)
    assert monthly.model_dump(mode="json")["last_received"] == "Fri, 27 Nov 2026 01:17:41 -0000"


@pytest.mark.parametrize(
    "text",
    ["2026-11-27T01:17:41Z", "2026-11-27T01:17:41+00:00", "2026-11-27T02:17:41+01:00", "2026-11-27 01:17:41"],
)
def test_iso_8601_last_received_is_accepted_too(text: str) -> None:
    monthly = MonthlyKudos.model_validate({"last_received": text})
    assert monthly.last_received == datetime(2026, 11, 27, 1, 17, 41, tzinfo=timezone.utc)


def test_a_date_that_is_neither_form_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="RFC 822 or ISO 8601"):
        MonthlyKudos.model_validate({"last_received": "Someday, soon"})


def _rfc822_as_email_utils_reads_it(text: str) -> datetime | None:
    """The reference: the standard library's reading, naive meaning UTC; None when it refuses the text."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


_server_form_parts = st.tuples(
    st.sampled_from(["Mon", "Fri", "Sun"]),
    st.integers(0, 32).map("{:02d}".format),
    st.sampled_from(["Jan", "Feb", "Jun", "Nov", "Dec", "nov", "Foo"]),
    st.one_of(st.integers(1, 9999).map("{:04d}".format), st.sampled_from(["26", "0000", "99999"])),
    st.tuples(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)).map(
        "{0[0]:02d}:{0[1]:02d}:{0[2]:02d}".format
    ),
    st.sampled_from(["-0000", "+0000", "GMT", "+0100", "-0000 "]),
)


@settings(deadline=None)
@given(_server_form_parts)
def test_rfc822_dates_read_exactly_as_email_utils_reads_them(parts: tuple[str, ...]) -> None:
    """The server's own form has a fast reader; it agrees with email.utils on near misses too."""
    weekday, day, month, year, clock, zone = parts
    text = f"{weekday}, {day} {month} {year} {clock} {zone}"
    expected = _rfc822_as_email_utils_reads_it(text)
    if expected is None:
        with pytest.raises(ValidationError, match="not an RFC 822 or ISO 8601 date"):
            MonthlyKudos.model_validate({"last_received": text})
        return
    parsed = MonthlyKudos.model_validate_json(f'{{"last_received": "{text}"}}').last_received
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is timezone.utc


def test_unknown_fields_from_a_newer_server_are_kept_and_dumped_back() -> None:
    body = {
        "id": 3,
        "username": "a#3",
        "shiny_new_field": {"x": 1},
        "kudos_details": {"admin": 1, "future": 2},
    }
    user = UserDetailsResponse.model_validate(body)
    assert user.model_extra == {"shiny_new_field": {"x": 1}}
    assert user.model_dump(mode="json", by_alias=True, exclude_unset=True) == body


def test_responses_carry_no_request_limits() -> None:
    user = UserDetailsResponse.model_validate(
        {
            "concurrency": 100000,
            "username": "x",
            "admin_comment": "hi",
            "proxy_passkey": "short",
            "kudos": -1e18,
        }
    )
    assert user.concurrency == 100000 and user.admin_comment == "hi"
    reply = ModifyUserResponse.model_validate(
        {"admin_comment": "x", "proxy_passkey": "p" * 40, "username": "ab"}
    )
    assert reply.proxy_passkey == "p" * 40


def test_one_odd_style_or_id_never_turns_a_user_into_an_error() -> None:
    user = UserDetailsResponse.model_validate(
        {
            "styles": [{"name": "a#1::style::x", "id": "not-a-uuid", "type": "video"}],
            "worker_ids": ["w1", "00000000-0000-0000-0000-000000000000"],
            "active_generations": {"image": ["abc"]},
        }
    )
    assert user.styles is not None and user.styles[0].type_ == "video" and user.styles[0].id_ == "not-a-uuid"


def test_zero_may_come_as_an_integer_or_a_float() -> None:
    details = UserDetailsResponse.model_validate(
        {"kudos_details": {"admin": 0, "recurring": 0.0}}
    ).kudos_details
    assert details is not None and details.admin == 0 and details.recurring == 0


def test_id_works_by_python_name_and_by_alias_and_dumps_as_id() -> None:
    assert UserDetailsResponse(id_=3) == UserDetailsResponse(id=3)
    assert UserDetailsResponse(id_=3).model_dump(by_alias=True)["id"] == 3
    assert "id" not in UserDetailsResponse(id_=3).model_dump()


def test_equal_data_compares_equal_whenever_it_was_parsed() -> None:
    first = UserDetailsResponse.model_validate({"id": 1, "username": "a#1"})
    second = UserDetailsResponse.model_validate({"id": 1, "username": "a#1"})
    assert first.time_constructed <= second.time_constructed
    assert first == second
    assert first != UserDetailsResponse.model_validate({"id": 2, "username": "a#1"})
    assert ListUsersDetailsResponse([first]) == ListUsersDetailsResponse([second])
    assert "time_constructed" not in first.model_dump()


def test_time_constructed_is_epoch_seconds() -> None:
    before = datetime.now(timezone.utc).timestamp()
    user = UserDetailsResponse()
    assert before - 1 <= user.time_constructed <= datetime.now(timezone.utc).timestamp() + 1


def test_model_names_follow_the_servers_schema() -> None:
    assert UserDetailsResponse.get_api_model_name() == "UserDetails"
    assert ListUsersDetailsResponse.get_api_model_name() == "_ANONYMOUS_MODEL"
    assert ModifyUserResponse.get_api_model_name() == "ModifyUser"
    assert DeleteUserResponse.get_api_model_name() == "SimpleResponse"
    assert RequestErrorResponse.get_api_model_name() == "RequestError"


def test_rc_members_are_exactly_the_codes_of_the_contract() -> None:
    expected = {
        "UserNotFound", "InvalidAPIKey", "NotAdmin", "NotModerator", "AnonForbiddenUserMod",
        "NonServiceForbidden", "NoUserModSelected", "TooLongUserName", "ProfaneUserName",
        "ProfaneUserContact", "ProfaneAdminComment", "UserNotDeleted", "AnonForbiddenUser",
        "CannotDeleteMod", "NotUserOrMod", "CannotWipeActiveUser",
    }  # fmt: skip
    assert {member.value for member in RC} == expected
    assert all(member.name == member.value for member in RC)
    assert RequestErrorResponse(rc="SomethingNew").get_rc() == "SomethingNew"


_maybe_float = st.one_of(
    st.none(), st.integers(-(10**9), 10**9), st.floats(allow_nan=False, allow_infinity=False)
)
_maybe_int = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))
_maybe_bool = st.one_of(st.none(), st.booleans())
_maybe_text = st.one_of(st.none(), st.text(max_size=40))
_user_bodies = st.fixed_dictionaries(
    {},
    optional={
        "username": _maybe_text,
        "id": _maybe_int,
        "kudos": _maybe_float,
        "evaluating_kudos": _maybe_float,
        "concurrency": _maybe_int,
        "moderator": _maybe_bool,
        "trusted": _maybe_bool,
        "deleted": _maybe_bool,
        "contact": _maybe_text,
        "proxy_passkey": _maybe_text,
        "worker_ids": st.one_of(st.none(), st.lists(st.text(max_size=36), max_size=3)),
        "sharedkey_ids": st.one_of(st.none(), st.lists(st.uuids().map(str), max_size=3)),
        "kudos_details": st.fixed_dictionaries(
            {}, optional={"admin": _maybe_float, "recurring": _maybe_float}
        ),
        "monthly_kudos": st.fixed_dictionaries(
            {},
            optional={
                "amount": _maybe_int,
                "last_received": st.datetimes(
                    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1)
                ).map(lambda moment: moment.replace(microsecond=0).strftime("%a, %d %b %Y %H:%M:%S -0000")),
            },
        ),
        "styles": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=10), "id": st.text(max_size=10), "type": st.text()}
            ),
            max_size=2,
        ),
        "records": st.fixed_dictionaries({"usage": st.fixed_dictionaries({"tokens": _maybe_int})}),
        "some_future_key": st.one_of(st.none(), st.integers(), st.text(max_size=5)),
    },
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_user_bodies)
def test_any_user_body_survives_a_dump_and_parse_round_trip(body: dict[str, Any]) -> None:
    user = UserDetailsResponse.model_validate(body)
    dumped = user.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert UserDetailsResponse.model_validate(dumped) == user
    assert set(dumped) == set(body)


@pytest.mark.parametrize(
    "build",
    [
        lambda: UserDetailsResponse(id_=1),
        lambda: UserDetailsResponse.model_validate({"id": 1}),
        lambda: UserDetailsResponse.model_validate_json(b'{"id": 1}'),
        lambda: UserDetailsResponse.model_construct(id_=1),
        lambda: ListUsersDetailsResponse.model_validate_json(b'[{"id": 1}, {"id": 2}]'),
        # with options, pydantic's own methods run (the fast path takes none)
        lambda: UserDetailsResponse.model_validate_json(b'{"id": 1}', strict=True),
        lambda: ListUsersDetailsResponse.model_validate([{"id": 1}], context={}),
    ],
)
def test_every_way_of_building_a_response_records_when_it_was_built(build: Any) -> None:
    before = time.time()
    response = build()
    after = time.time()
    time.sleep(0.01)
    assert before <= response.time_constructed <= after
    assert response.__pydantic_private__ == {"_time_constructed": response.time_constructed}


def test_the_users_of_a_page_share_the_pages_time_and_copies_keep_it() -> None:
    page = ListUsersDetailsResponse.model_validate([{"id": 1}, {"id": 2}])
    assert {user.time_constructed for user in page} == {page.time_constructed}
    assert page.model_copy().time_constructed == page.time_constructed


@pytest.mark.parametrize(
    "parse",
    [
        lambda: ListUsersDetailsResponse.model_validate_json(b'[{"id": 1}, {"id": 2}]'),
        lambda: UserDetailsResponse.model_validate_json(b'{"id": 1}'),
    ],
)
def test_copies_and_pickles_keep_the_time_of_the_original(parse: Any) -> None:
    original = parse()
    time.sleep(0.01)
    for twin in (copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
        assert twin == original
        assert twin.time_constructed == original.time_constructed
        if isinstance(twin, ListUsersDetailsResponse):
            assert {user.time_constructed for user in twin} == {original.time_constructed}


def test_modify_user_reply_keeps_the_reference_sdks_filtered_field() -> None:
    """Other SDKs' code reads ``reply.filtered``; the server never sends it, so it defaults to None."""
    assert "filtered" in ModifyUserResponse.model_fields
    reply = ModifyUserResponse.model_validate({"trusted": True})
    assert reply.filtered is None
    assert "filtered" not in reply.model_dump(exclude_none=True)
    assert ModifyUserResponse.model_validate({"filtered": True}).filtered is True


def test_validators_with_options_still_check_them() -> None:
    """Options go to pydantic's own methods, which refuse turning off both ways of naming a field."""
    with pytest.raises(PydanticUserError):
        UserDetailsResponse.model_validate_json(b'{"id": 1}', by_alias=False, by_name=False)
    with pytest.raises(ValidationError):
        UserDetailsResponse.model_validate_json(b'{"id": "1"}', strict=True)
