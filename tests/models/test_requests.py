"""Requests: validation before sending, and the exact HTTP each one turns into."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from horde_users.models import (
    ANON_API_KEY,
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

KEY = "AbCdEfGhIjKlMnOpQr-_12"  # 22 characters of the URL-safe alphabet
SHARED_KEY = "3f2b9c1e-8d4a-4e0b-9a57-1c2d3e4f5a6b"
BASE = "http://sandbox.test/api"
AGENT = "horde-users:0.1.0:https://pypi.org/project/horde-users/"


@pytest.mark.parametrize(
    ("request_model", "method", "path", "query", "body"),
    [
        (ListUsersDetailsRequest(), "GET", "/v2/users", {"page": "1", "sort": "kudos"}, None),
        (ListUsersDetailsRequest(page=3, sort="age"), "GET", "/v2/users", {"page": "3", "sort": "age"}, None),
        (SingleUserDetailsRequest(user_id=3), "GET", "/v2/users/3", {}, None),
        (FindUserRequest(apikey=KEY), "GET", "/v2/find_user", {}, None),
        (ModifyUserRequest(user_id="3", apikey=KEY, trusted=True), "PUT", "/v2/users/3", {},
         {"trusted": True}),
        (ModifyUserRequest(user_id=3, apikey=KEY, kudos=-5, concurrency=0), "PUT", "/v2/users/3", {},
         {"kudos": -5, "concurrency": 0}),
        (DeleteUserRequest(user_id=7, apikey=KEY), "DELETE", "/v2/users/7", {}, None),
    ],
)  # fmt: skip
def test_each_request_turns_into_its_method_url_query_and_body(
    request_model: Any, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
) -> None:
    http = request_model.build_http_request(BASE)
    assert (http.method, http.url, http.query, http.json_body) == (method, BASE + path, query, body)
    assert http.headers["Client-Agent"] == AGENT
    assert http.headers["Accept"] == "application/json"


def test_the_api_key_goes_out_as_the_apikey_header_with_a_hyphenated_client_agent() -> None:
    headers = FindUserRequest(apikey=KEY, client_agent="bot:1:me").build_http_request(BASE).headers
    assert headers == {"Accept": "application/json", "Client-Agent": "bot:1:me", "apikey": KEY}
    assert all("_" not in name for name in headers)


def test_a_request_without_a_key_sends_none_where_the_key_is_optional() -> None:
    assert "apikey" not in SingleUserDetailsRequest(user_id=1).build_http_request(BASE).headers
    assert "apikey" not in ListUsersDetailsRequest().build_http_request(BASE).headers


@pytest.mark.parametrize("request_class", [FindUserRequest])
def test_a_required_key_defaults_to_the_anonymous_key(request_class: type[FindUserRequest]) -> None:
    assert request_class().apikey == ANON_API_KEY
    assert DeleteUserRequest(user_id=1).apikey == ANON_API_KEY


def test_client_agent_is_accepted_by_its_header_name() -> None:
    request = ListUsersDetailsRequest.model_validate({"Client-Agent": "x:1:y"})
    assert request.client_agent == "x:1:y"


def test_base_url_comes_from_the_argument_else_the_environment_at_call_time_else_the_public_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AI_HORDE_URL", raising=False)
    request = ListUsersDetailsRequest()
    assert request.get_api_url() == "https://aihorde.net/api"
    monkeypatch.setenv("AI_HORDE_URL", "http://localhost:7001/api/")
    assert request.build_http_request().url == "http://localhost:7001/api/v2/users"
    assert request.build_http_request("http://other/api").url == "http://other/api/v2/users"
    assert SingleUserDetailsRequest.get_api_endpoint_url() == "http://localhost:7001/api/v2/users/{user_id}"


_METADATA = [
    (ListUsersDetailsRequest, "GET", "/v2/users", None, ["page", "sort"], False, ListUsersDetailsResponse),
    (SingleUserDetailsRequest, "GET", "/v2/users/{user_id}", None, [], False, UserDetailsResponse),
    (FindUserRequest, "GET", "/v2/find_user", None, [], True, UserDetailsResponse),
    (ModifyUserRequest, "PUT", "/v2/users/{user_id}", "ModifyUserInput", [], True, ModifyUserResponse),
    (DeleteUserRequest, "DELETE", "/v2/users/{user_id}", None, [], True, DeleteUserResponse),
]


@pytest.mark.parametrize(
    ("request_class", "method", "subpath", "model_name", "query_fields", "key_required", "response"),
    _METADATA,
)
def test_request_metadata_matches_the_reference_sdk(
    request_class: Any,
    method: str,
    subpath: str,
    model_name: str | None,
    query_fields: list[str],
    key_required: bool,
    response: type[Any],
) -> None:
    assert request_class.get_http_method() == method
    assert request_class.get_api_endpoint_subpath() == subpath
    assert request_class.get_api_model_name() == model_name
    assert request_class.get_query_fields() == query_fields
    assert request_class.get_header_fields() == []
    assert request_class.is_api_key_required() is key_required
    assert request_class.get_default_success_response_type() is response
    assert request_class.get_success_status_response_pairs() == {HTTPStatus.OK: response}
    assert request_class.get_sensitive_fields() == {"apikey"}


def test_every_request_expects_one_result_and_no_follow_up() -> None:
    request = DeleteUserRequest(user_id=1, apikey=KEY)
    assert request.get_number_of_results_expected() == 1
    assert request.get_requires_follow_up() is False


@pytest.mark.parametrize(
    ("given_id", "normalised"), [(0, "0"), ("003", "3"), (2147483647, "2147483647"), ("42", "42")]
)
def test_user_id_accepts_ints_and_ascii_digit_strings_in_range(given_id: Any, normalised: str) -> None:
    assert SingleUserDetailsRequest(user_id=given_id).user_id == normalised


@pytest.mark.parametrize(
    "bad_id",
    ["abc", "db0#1", "1/../x", "", "-1", -1, "²", "١", " 3", "3 ", "+3", 2147483648, True, 3.0, None],
)
def test_user_id_rejects_everything_else(bad_id: Any) -> None:
    with pytest.raises(ValidationError, match="user_id"):
        SingleUserDetailsRequest(user_id=bad_id)


@given(st.one_of(st.integers(), st.text(max_size=12)))
def test_a_valid_user_id_is_always_a_plain_path_segment(value: int | str) -> None:
    try:
        request = SingleUserDetailsRequest(user_id=value)
    except ValidationError:
        assert not (isinstance(value, int) and 0 <= value <= 2147483647)
        return
    assert request.user_id.isascii() and request.user_id.isdigit()
    assert 0 <= int(request.user_id) <= 2147483647
    assert request.build_http_request(BASE).url == f"{BASE}/v2/users/{int(value)}"


@pytest.mark.parametrize(
    "key", [ANON_API_KEY, KEY, SHARED_KEY, SHARED_KEY.upper(), uuid.UUID(SHARED_KEY).hex]
)
def test_apikey_accepts_the_anonymous_key_22_character_keys_and_shared_keys(key: str) -> None:
    assert FindUserRequest(apikey=key).apikey == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "short",
        "x" * 21,
        "x" * 23,
        "AbCdEfGhIjKlMnOpQr+/12",
        "not-a-uuid-but-36-characters-long!!!",
        12345,
        # uuid.UUID() takes all of these; none may travel in a header as a shared key
        "\n" + "a" * 30 + "\n",
        " " + "a" * 30 + " ",
        "0x" + "a" * 30,
        "a" * 16 + "_" + "a" * 15,
        "{" + "a" * 30 + "}",
        "a" * 31 + "\u0661",
    ],
)
def test_apikey_rejects_anything_else_without_echoing_it(key: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        FindUserRequest(apikey=key)
    assert "apikey" in str(caught.value)
    if len(str(key)) > 4:
        assert str(key) not in str(caught.value)


def test_the_key_never_shows_in_repr_str_or_the_log_safe_dump() -> None:
    for request in (
        FindUserRequest(apikey=KEY),
        ModifyUserRequest(user_id=1, apikey=KEY, trusted=True),
        DeleteUserRequest(user_id=1, apikey=SHARED_KEY),
    ):
        assert KEY not in repr(request) and KEY not in str(request)
        assert SHARED_KEY not in repr(request)
        assert "apikey" not in request.log_safe_model_dump()
        assert request.model_dump()["apikey"] in {KEY, SHARED_KEY}


def test_a_validation_error_never_carries_the_key() -> None:
    with pytest.raises(ValidationError) as caught:
        ModifyUserRequest(user_id="nope", apikey=KEY, concurrency=900)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.errors())


def test_response_secrets_stay_readable_but_never_show_in_repr_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = UserDetailsResponse.model_validate(
        {"id": 9, "proxy_passkey": "PASSKEY-1234567890", "sharedkey_ids": [SHARED_KEY]}
    )
    assert user.proxy_passkey == "PASSKEY-1234567890"
    assert user.sharedkey_ids == [SHARED_KEY]
    assert user.model_dump()["proxy_passkey"] == "PASSKEY-1234567890"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").debug("%s %r %s", user, user, user.log_safe_model_dump())
    for text in (repr(user), str(user), str(user.log_safe_model_dump()), caplog.text):
        assert "PASSKEY" not in text and SHARED_KEY not in text
    assert UserDetailsResponse.get_sensitive_fields() == {"proxy_passkey", "sharedkey_ids"}
    reply = ModifyUserResponse(proxy_passkey="PASSKEY-1234567890")
    assert "PASSKEY" not in repr(reply) and "PASSKEY" not in str(reply.log_safe_model_dump())
    page = ListUsersDetailsResponse([user])
    assert "PASSKEY" not in repr(page) and "PASSKEY" not in str(page.log_safe_model_dump())


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("username", 3, 100), ("contact", 5, 500), ("admin_comment", 5, 500)],
)
def test_text_lengths_are_enforced_at_their_boundaries(field: str, low: int, high: int) -> None:
    assert getattr(ModifyUser.model_validate({field: "a" * low}), field) == "a" * low
    assert getattr(ModifyUser.model_validate({field: "a" * high}), field) == "a" * high
    for length in (low - 1, high + 1):
        with pytest.raises(ValidationError, match=field):
            ModifyUser.model_validate({field: "a" * length})


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("concurrency", [0, 500], [-1, 501]),
        ("usage_multiplier", [0.1, 10, 1], [0.09, 10.01, float("nan"), float("inf")]),
        ("worker_invited", [-(2**31), 2**31 - 1], [2**31, -(2**31) - 1]),
        ("monthly_kudos", [-5, 0, 2**31 - 1], [2**31]),
        ("kudos", [-(10**15), 10**15, 12.7, 0], [10**15 + 1, float("inf"), float("nan")]),
    ],
)
def test_numeric_limits_are_enforced_at_their_boundaries(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert getattr(ModifyUser(**{field: value}), field) == value
    for value in bad:
        with pytest.raises(ValidationError, match=field):
            ModifyUser(**{field: value})


@pytest.mark.parametrize(
    "field", ["kudos", "concurrency", "usage_multiplier", "worker_invited", "monthly_kudos"]
)
@pytest.mark.parametrize("value", ["5", True, False, None.__class__])
def test_numeric_fields_reject_strings_and_booleans(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        ModifyUser(**{field: value})


def test_integer_fields_reject_floats() -> None:
    with pytest.raises(ValidationError, match="concurrency"):
        ModifyUser(concurrency=5.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["trusted", "flagged", "moderator", "vpn", "public_workers", "filtered"])
@pytest.mark.parametrize("value", [1, 0, "true", "yes"])
def test_boolean_fields_take_only_booleans(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        ModifyUser(**{field: value})


@pytest.mark.parametrize("field", ["reset_suspicion", "generate_proxy_passkey", "undelete"])
def test_fields_the_server_acts_on_even_when_false_refuse_false_and_stay_out_when_unset(field: str) -> None:
    with pytest.raises(ValidationError, match="send True or omit it"):
        ModifyUser.model_validate({field: False})
    assert ModifyUser.model_validate({field: True}).get_changes() == {field: True}
    body = ModifyUserRequest(user_id=1, apikey=KEY, trusted=False).build_http_request(BASE).json_body
    assert body is not None and field not in body


def test_unknown_fields_are_refused_so_a_typo_never_goes_unnoticed() -> None:
    with pytest.raises(ValidationError, match="trustd"):
        ModifyUserRequest(user_id=1, apikey=KEY, trustd=True)


def test_list_request_refuses_unknown_sorts_and_pages_below_one() -> None:
    with pytest.raises(ValidationError):
        ListUsersDetailsRequest(sort="Kudos")
    with pytest.raises(ValidationError):
        ListUsersDetailsRequest(page=0)


def test_modify_request_body_holds_only_the_fields_that_are_set() -> None:
    request = ModifyUserRequest(user_id=3, apikey=KEY, username="alice", flagged=False)
    assert request.build_http_request(BASE).json_body == {"username": "alice", "flagged": False}
    assert request.get_changes() == {"username": "alice", "flagged": False}
