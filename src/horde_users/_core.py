"""The I/O-free core shared by both clients: build requests, read responses, decide retries and paging.

Nothing here sends, receives or sleeps; the clients add the I/O around these functions, so the
sync and the async client decide alike (and ``tests/client/twins.py`` keeps their loops in step).
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import random
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from horde_users._plain import plain_problems
from horde_users.endpoints import MAX_PAGE, USERS_PER_PAGE
from horde_users.errors import (
    REDACTED,
    HordeAPIError,
    HordeConnectionError,
    HordeTimeoutError,
    InvalidRequestError,
    InvalidResponseError,
    error_class_for_status,
    excerpt,
    redact,
)
from horde_users.models.base import (
    API_KEY_FORMAT,
    BaseAIHordeRequest,
    HordeResponseTypes,
    is_shared_key,
    is_valid_api_key,
)
from horde_users.models.errors import RC
from horde_users.models.users import (
    DeleteUserResponse,
    ListUsersDetailsResponse,
    ModifyUserReply,
    ModifyUserResponse,
    SingleUserDetailsRequest,
    UserDetailsResponse,
)
from horde_users.roles import REPEATABLE_FIELDS

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "MAX_RESPONSE_BYTES",
    "RETRY_AFTER_MAX",
    "SAFE_PUT_FIELDS",
    "BodyReader",
    "Call",
    "Decision",
    "Head",
    "Pager",
    "Preparer",
    "attempt_timeout",
    "backoff_delay",
    "build_request",
    "check_api_key",
    "check_base_url",
    "decide",
    "error_from_response",
    "error_from_transport",
    "invalid_request",
    "is_shared_key",
    "parse_response",
    "parse_retry_after",
    "prepare",
    "retry_safe",
    "safe_cause",
    "whole_body",
]

BACKOFF_BASE = 0.5
"""The first backoff delay in seconds; it doubles on each retry."""
BACKOFF_MAX = 8.0
"""The longest backoff delay in seconds."""
RETRY_AFTER_MAX = 60.0
"""The longest ``Retry-After`` the clients wait for; beyond it the error is raised at once."""
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
"""The largest body the clients read (a full page of users is about 27 KB); larger ones are refused."""

SAFE_PUT_FIELDS = REPEATABLE_FIELDS
"""PUT body members that set absolute values: sending them twice changes nothing more (docs/users-api.md §11).

They come from the one table of PUT fields (``horde_users.roles``). Everything else (``kudos`` and
``monthly_kudos`` are deltas, ``generate_proxy_passkey`` issues a new passkey each time, ``undelete``
fails when repeated) makes a PUT unsafe to repeat after an ambiguous failure.
"""

_RETRYABLE_STATUSES = frozenset({502, 503, 504})
_RNG = random.Random()
_EXCERPT_LEN = 200


# --- input checks ----------------------------------------------------------------------------


def check_api_key(key: object, *, name: str = "api_key") -> str:
    """Return ``key`` when it has the form of a key, else raise ``InvalidRequestError``.

    Checked before anything is sent: a key with a line break or a non-ASCII character would otherwise
    fail inside the HTTP library, whose errors show the header value. The message never shows the key.
    """
    if not isinstance(key, str):
        raise InvalidRequestError(f"{name} must be a string, not {type(key).__name__}")
    if is_valid_api_key(key):
        return key
    raise InvalidRequestError(f"{name} is malformed{_key_hint(key)}: it must be {API_KEY_FORMAT}")


def _key_hint(key: str) -> str:
    if key != key.strip():
        return " (it has blanks or line breaks around it)"
    if not key.isascii():
        return " (it has non-ASCII characters)"
    if not key.isprintable() or " " in key:
        return " (it has blanks or control characters in it)"
    return f" (it has {len(key)} characters)"


def check_base_url(url: str, *, name: str = "base_url") -> str:
    """Return ``url`` when it is an absolute http(s) URL with a host, else raise ``InvalidRequestError``.

    The URL is not repeated in the message: it may carry a user name and password.
    """
    wanted = f"{name} must be an http:// or https:// URL with a host, like https://aihorde.net/api"
    if not isinstance(url, str):
        raise InvalidRequestError(f"{wanted}, not {type(url).__name__}")
    if url != url.strip() or not url.lower().startswith(("http://", "https://")):
        raise InvalidRequestError(wanted)
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, TypeError, ValueError):
        host = ""
    if not host:
        raise InvalidRequestError(wanted)
    return url


def invalid_request(error: ValidationError, secrets: Iterable[str | None] = ()) -> InvalidRequestError:
    """The ``InvalidRequestError`` for a request model pydantic refused (raise it ``from error``)."""
    items = error.errors(include_url=False, include_input=False)
    problems = plain_problems(items)
    return InvalidRequestError(redact(problems or "the request is invalid", secrets))


@dataclass
class Call:
    """One request ready to send, with what the client needs to retry it and to read its answer.

    The request's parts are kept as plain values; the ``httpx.Request`` itself is built from them on
    first use (always the same one for every attempt), so a transport that needs none does no such work.
    Read-only by convention (not ``frozen``: that makes creating one, once per call, several times slower).
    """

    method: str
    target: str
    """The URL with its query string, as sent (as httpx writes it)."""
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    """The headers as built (``Host`` and ``Content-Length`` are the HTTP library's)."""
    json_body: dict[str, Any] | None = field(repr=False)
    timeouts: Mapping[str, float | None] | None
    """httpx's timeouts of an attempt (``connect``, ``read``, ``write``, ``pool``); None: the client's."""
    time_limit: float | None
    """How long one attempt may take as a whole (``attempt_timeout``)."""
    model: BaseAIHordeRequest
    secrets: tuple[str, ...] = field(repr=False)
    """Every key that was or could be sent; redacted from all messages."""
    repeatable: bool
    """Whether an ambiguous failure (timeout, dropped connection, 502/503/504) may be retried."""
    changes_data: bool = field(default=False)
    """PUT and DELETE: an ambiguous failure leaves the outcome unknown."""
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Room for what a transport derives from the parts this call shares with others of its shape (its
    headers, timeouts and origin), worked out once: ``for_model`` hands the same dict on."""

    @functools.cached_property
    def full_url(self) -> httpx.URL:
        """``target`` as an ``httpx.URL`` (parsed on first use)."""
        return httpx.URL(self.target)

    @functools.cached_property
    def request(self) -> httpx.Request:
        """The ``httpx.Request`` of these parts (built once, kept for every attempt)."""
        request = httpx.Request(self.method, self.full_url, headers=dict(self.headers), json=self.json_body)
        if self.timeouts is not None:
            request.extensions["timeout"] = dict(self.timeouts)
        return request

    def for_model(self, model: BaseAIHordeRequest, target: str) -> Call:
        """This call's parts for ``model`` at ``target``: a model that differs from this one in its path."""
        return Call(
            self.method,
            target,
            self.headers,
            self.json_body,
            self.timeouts,
            self.time_limit,
            model,
            self.secrets,
            self.repeatable,
            self.changes_data,
            self.memo,
        )

    @property
    def url(self) -> str:
        """The URL without its query string (page and sort are not worth repeating in errors)."""
        return str(self.full_url.copy_with(query=None))

    def log_headers(self) -> dict[str, str]:
        """The request headers with the key shown as ``<redacted>``: safe to log."""
        return {
            name: (REDACTED if name.lower() == "apikey" else redact(value, self.secrets))
            for name, value in self.request.headers.items()
        }


def retry_safe(model: BaseAIHordeRequest, json_body: Mapping[str, Any] | None) -> bool:
    """Whether ``model`` may be sent again after an ambiguous failure (docs/users-api.md §11).

    Reads are; a DELETE never is (a repeat can wipe the account); a PUT only when every member it sets
    is an absolute value (``SAFE_PUT_FIELDS``).
    """
    method = model.get_http_method().value
    if method == "GET":
        return True
    if method == "PUT":
        return json_body is not None and bool(json_body) and set(json_body) <= SAFE_PUT_FIELDS
    return False


def build_request(
    model: BaseAIHordeRequest,
    *,
    base_url: str,
    api_key: str | None = None,
    client_agent: str | None = None,
    timeout: httpx.Timeout | float | None = None,
) -> httpx.Request:
    """Build the ``httpx.Request`` for ``model``.

    ``api_key`` and ``client_agent`` are the client's: they fill in the ``apikey`` and ``Client-Agent``
    headers when the model was created without them (values set on the model win). ``timeout`` is
    attached to the request, so it applies whichever ``httpx`` client sends it.
    """
    call = prepare(model, base_url=base_url, api_key=api_key, client_agent=client_agent, timeout=timeout)
    return call.request


_PLAIN_TAIL = re.compile(r"[A-Za-z0-9_~=&?-]*")
"""Characters httpx writes as they are, in a path segment or a query (no dot, slash, ``%`` or ``#``)."""


@functools.lru_cache(maxsize=256)
def _normalized(url: str) -> str:
    """``url`` as httpx writes it (``str(httpx.URL(url))``); kept, as parsing costs tens of µs."""
    return str(httpx.URL(url))


def url_text(url: str) -> str:
    """``str(httpx.URL(url))``, parsing only what comes before the last path segment (once per prefix).

    The last segment of a request's URL is mostly an id, and ids change from call to call; when it and
    the query hold only characters httpx never rewrites, it is appended to the prefix as written.
    """
    head, _, tail = url.rpartition("/")
    if "?" in head or not _PLAIN_TAIL.fullmatch(tail):
        return _normalized(url)
    return _normalized(head + "/") + tail


def _query_text(query: Mapping[str, str]) -> str:
    """``?`` and the encoded query, or nothing when there is none."""
    return f"?{urlencode(query)}" if query else ""


def _timeouts_of(timeout: float | httpx.Timeout) -> tuple[Mapping[str, float | None], float | None]:
    """httpx's timeouts for ``timeout`` and the largest of them (None when none is set)."""
    timeouts = httpx.Timeout(timeout).as_dict()
    values = [float(value) for value in timeouts.values() if value is not None]
    return MappingProxyType(timeouts), (max(values) if values else None)


_timeouts_of_number = functools.lru_cache(maxsize=64, typed=True)(_timeouts_of)
"""``_timeouts_of`` kept for plain numbers: a client sends the same few every time."""


@functools.lru_cache(maxsize=64)
def _fields_of(model: type[BaseAIHordeRequest]) -> frozenset[str]:
    """The names of a request model's fields (pydantic's ``model_fields`` is slow to reach each time)."""
    return frozenset(model.model_fields)


def _plain(headers: Mapping[str, str]) -> bool:
    """Whether every header is ASCII text (then httpx takes them as they are, at any time)."""
    try:
        return ("".join(headers) + "".join(headers.values())).isascii()
    except TypeError:  # a value that is no string after all
        return False


def prepare(
    model: BaseAIHordeRequest,
    *,
    base_url: str,
    api_key: str | None = None,
    client_agent: str | None = None,
    timeout: httpx.Timeout | float | None = None,
    extra_secrets: Iterable[str | None] = (),
) -> Call:
    """Build the request for ``model`` and record how it may be retried and what to redact."""
    if api_key is not None:
        check_api_key(api_key)
    own_key = getattr(model, "apikey", None)
    if own_key is not None:
        check_api_key(own_key, name="apikey")
    http = model.build_http_request(base_url)
    headers = dict(http.headers)
    fields_set = model.model_fields_set
    # A shared key is no API key: GET /users/{id} would answer 401, so that read goes without one.
    shared_on_read = (
        isinstance(model, SingleUserDetailsRequest) and bool(api_key) and is_shared_key(api_key or "")
    )
    if api_key and "apikey" in _fields_of(type(model)) and "apikey" not in fields_set and not shared_on_read:
        headers["apikey"] = api_key
    if client_agent and "client_agent" not in fields_set:
        headers["Client-Agent"] = client_agent
    target = url_text(http.url + _query_text(http.query))
    timeouts: Mapping[str, float | None] | None = None
    time_limit: float | None = None
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeouts, time_limit = _timeouts_of_number(timeout)
    elif timeout is not None:
        timeouts, time_limit = _timeouts_of(timeout)
    secrets = {headers.get("apikey"), api_key, *extra_secrets}
    for name in model.get_sensitive_fields():
        value = getattr(model, name, None)
        if isinstance(value, str):
            secrets.add(value)
    method = http.method
    call = Call(
        method=method,
        target=target,
        headers=tuple(headers.items()),
        json_body=http.json_body,
        timeouts=timeouts,
        time_limit=time_limit,
        model=model,
        secrets=tuple(sorted(s for s in secrets if s)),
        repeatable=retry_safe(model, http.json_body),
        changes_data=method in ("PUT", "DELETE"),
    )
    if http.json_body is not None or not _plain(headers):
        _ = call.request  # built now: httpx refuses some bodies and headers, and must do so here
    return call


_PATH_FIELDS = frozenset({"user_id"})


@functools.lru_cache(maxsize=64)
def _builds_the_standard_way(model: type[BaseAIHordeRequest]) -> bool:
    """Whether a request class builds its request from its class and field values alone, with no body."""
    standard = model.build_http_request is BaseAIHordeRequest.build_http_request
    return standard and model.get_api_model_name() is None


def _shape_of(model: BaseAIHordeRequest) -> tuple[Any, ...] | None:
    """What decides every part of ``model``'s request but its path: its class and set fields (None: unknown).

    Unset fields hold their defaults, the same for every model of a class; a body or a class that builds
    its request its own way is not looked into.
    """
    cls = type(model)
    if not _builds_the_standard_way(cls):
        return None
    fields_set = model.__pydantic_fields_set__  # model_fields_set, without a call
    if fields_set <= _PATH_FIELDS:
        return (cls,)
    shape = (cls, *sorted((name, getattr(model, name)) for name in fields_set - _PATH_FIELDS))
    try:
        hash(shape)
    except TypeError:  # a value that cannot be compared cheaply: built afresh each time
        return None
    return shape


_USER_ID = "{user_id}"


@dataclass(frozen=True)
class _Template:
    """The first call of a shape, and how the URL of another call of that shape is written."""

    call: Call
    before: str
    """The URL before the user id ("" when it has none)."""
    after: str
    """The URL after the user id (the query string, if any)."""
    head: str
    """``before`` as sent: the target is ``head`` and the id, when nothing follows the id."""

    def target(self, model: BaseAIHordeRequest) -> str:
        if not self.before:
            return self.call.target
        user_id: str = getattr(model, "user_id")  # noqa: B009 (not every request model has one)
        if self.after or not (user_id.isascii() and user_id.isdigit()):
            return url_text(self.before + user_id + self.after)
        return self.head + user_id  # digits: httpx writes them as they are


class Preparer:
    """``prepare`` with one client's settings, building once what its repeated requests share.

    A client sends the same few requests over and over, most often differing only in a user id
    (``get_user``). For a request without a body, built the standard way, everything but the user id in
    the path follows from the model's class and the values of its set fields (its shape): the first call
    of each shape is kept (the last ``MAX_SHAPES`` shapes), and later ones take its parts with their own URL.
    """

    MAX_SHAPES = 64

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        client_agent: str | None,
        timeout: httpx.Timeout | float | None,
    ) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._client_agent = client_agent
        self._timeout = timeout
        self._templates: dict[tuple[Any, ...], _Template] = {}

    def __call__(self, model: BaseAIHordeRequest) -> Call:
        """The call for ``model`` (see ``prepare``)."""
        shape = _shape_of(model)
        template = None if shape is None else self._templates.get(shape)
        if template is not None:
            return template.call.for_model(model, template.target(model))
        call = prepare(
            model,
            base_url=self._base_url,
            api_key=self._api_key,
            client_agent=self._client_agent,
            timeout=self._timeout,
        )
        if shape is not None:
            if len(self._templates) >= self.MAX_SHAPES:  # the oldest goes (a long walk through the pages)
                oldest: tuple[Any, ...] | None = next(iter(self._templates), None)  # threads may race here
                if oldest is not None:
                    self._templates.pop(oldest, None)
            self._templates[shape] = self._template(call, model)
        return call

    def _template(self, call: Call, model: BaseAIHordeRequest) -> _Template:
        # The URL as build_http_request writes it, the user id left out (the query's braces are encoded).
        url = model.get_api_endpoint_url(self._base_url)
        url += _query_text(model.build_http_request(self._base_url).query)
        before, found, after = url.rpartition(_USER_ID)
        if not found:
            return _Template(call, "", "", "")
        return _Template(call, before, after, url_text(before))


# --- responses -------------------------------------------------------------------------------


class Head(Protocol):
    """The status line and headers of an answer, as the core reads them (an ``httpx.Response`` is one)."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def headers(self) -> httpx.Headers: ...
    @property
    def charset_encoding(self) -> str | None: ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _full(response: Head) -> httpx.Response:
    """The response itself, when the body was not read separately (``body=None``)."""
    if not isinstance(response, httpx.Response):
        raise TypeError("the body of a response head must be given")
    return response


def _body_of(response: Head, body: bytes | None) -> bytes:
    return _full(response).content if body is None else body


def _text_of(response: Head, body: bytes | None) -> str:
    if body is None:
        return _full(response).text
    try:
        return body.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _read_json(body: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False, None


def _retry_after_of(response: Head) -> float | None:
    if response.status_code in (429, 503):
        return parse_retry_after(response.headers.get("Retry-After"))
    return None


def error_from_response(call: Call, response: Head, body: bytes | None = None) -> HordeAPIError:
    """The typed error for an error response; the body may be JSON or not (an HTML page from a proxy).

    ``body`` is the body the client read (``response.content`` when None: then ``response`` must be an
    ``httpx.Response``).
    """
    status = response.status_code
    raw = _body_of(response, body)
    is_json, data = _read_json(raw)
    rc: RC | str | None = None
    errors: dict[str, str] | None = None
    if is_json and isinstance(data, dict):
        message = str(data.get("message") or "")
        raw_rc = data.get("rc")
        if raw_rc is not None:
            try:
                rc = RC(str(raw_rc))
            except ValueError:
                rc = str(raw_rc)
        raw_errors = data.get("errors")
        if isinstance(raw_errors, dict):
            errors = {str(k): redact(str(v), call.secrets) for k, v in raw_errors.items()}
        if not message and not errors:
            message = excerpt(_text_of(response, body), _EXCERPT_LEN)
    else:
        text = excerpt(_text_of(response, body), _EXCERPT_LEN) if raw else ""
        message = (
            f"{response.reason_phrase or 'Error'} (not JSON): {text}" if text else response.reason_phrase
        )
    cls = error_class_for_status(status)
    return cls(
        redact(message, call.secrets),
        status_code=status,
        rc=rc,
        errors=errors,
        method=call.method,
        url=call.url,
        horde_node=response.headers.get("Horde-Node"),
        retry_after=_retry_after_of(response),
        outcome_unknown=call.changes_data and status >= 500,
    )


def _invalid(call: Call, response: Head, message: str) -> InvalidResponseError:
    return InvalidResponseError(
        redact(message, call.secrets),
        status_code=response.status_code,
        method=call.method,
        url=call.url,
        horde_node=response.headers.get("Horde-Node"),
        outcome_unknown=call.changes_data,
    )


def parse_response(call: Call, response: Head, body: bytes | None = None) -> HordeResponseTypes:
    """The success model for ``response``, or raise its typed ``HordeAPIError``.

    ``body`` is the body the client read (``response.content`` when None: then ``response`` must be an
    ``httpx.Response``). A success body must hold
    what its response needs (see ``_missing``), else ``InvalidResponseError``: a body of the wrong
    shape must not pass as a user with every field empty. No error raised here chains pydantic's
    (its text would show the body, which may hold a passkey).
    """
    status = response.status_code
    if not 200 <= status < 300:
        raise error_from_response(call, response, body)
    response_type = _response_type(type(call.model), status)
    raw = _body_of(response, body)
    problem = ""
    try:
        # pydantic's own JSON parser: about 1.7x faster than json.loads + model_validate.
        result = response_type.model_validate_json(raw)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            text = excerpt(_text_of(response, body), _EXCERPT_LEN) if raw else "an empty body"
            problem = f"expected a JSON {response_type.__name__} but the body is not JSON: {text}"
        else:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()[:5]
            )
            problem = f"the body is not a valid {response_type.__name__}: {problems}"
    if problem:  # raised here, outside the except block, so pydantic's error is not its context
        raise _invalid(call, response, problem)
    missing = _missing(result)
    if missing:
        raise _invalid(call, response, f"the body is not a valid {response_type.__name__}: {missing}")
    return result


@functools.lru_cache(maxsize=256)
def _response_type(model: type[BaseAIHordeRequest], status: int) -> type[HordeResponseTypes]:
    """The success model of ``status`` for a request model (both are class methods: kept per class)."""
    pairs = {int(k): v for k, v in model.get_success_status_response_pairs().items()}
    return pairs.get(status) or model.get_default_success_response_type()


_MODIFY_REPLY_FIELDS = frozenset(ModifyUserReply.model_fields)


def _missing(result: HordeResponseTypes) -> str:
    """What a parsed success lacks to be that response (empty when nothing): pydantic fills in defaults.

    A user needs its ``id`` and ``username``; a modify reply at least one key of an operation that ran;
    a delete reply its ``message``.
    """
    if isinstance(result, UserDetailsResponse):
        return _user_missing(result)
    if isinstance(result, ListUsersDetailsResponse):
        for index, user in enumerate(result.root):
            missing = _user_missing(user)
            if missing:
                return f"user {index}: {missing}"
        return ""
    if isinstance(result, ModifyUserResponse):
        if not result.model_fields_set & _MODIFY_REPLY_FIELDS:
            return "it names no change that ran"
        return ""
    if isinstance(result, DeleteUserResponse) and "message" not in result.model_fields_set:
        return "it has no message"
    return ""


def _user_missing(user: UserDetailsResponse) -> str:
    if user.id_ is None or user.username is None:
        return "a user needs an id and a username"
    return ""


# --- reading the body ------------------------------------------------------------------------


def attempt_timeout(call: Call) -> float | None:
    """How long one attempt may take as a whole: the largest of the request's timeouts (None: no bound)."""
    return call.time_limit


class BodyReader:
    """Collects a response body as it streams in, within a size cap and the attempt's deadline.

    httpx bounds each read, not the whole answer: a server sending a byte every half second would keep
    a call alive forever. The clients feed each chunk to ``add``; past the deadline it raises
    ``httpx.ReadTimeout`` (handled like any timeout: retried when safe), and past ``limit`` bytes
    (declared or received) ``InvalidResponseError``.
    """

    __slots__ = ("_call", "_chunks", "_clock", "_deadline", "_limit", "_response", "_size")

    def __init__(
        self,
        call: Call,
        response: Head,
        *,
        started: float,
        limit: int = MAX_RESPONSE_BYTES,
        clock: Callable[[], float] = time.monotonic,
        declared: str | None = None,
    ) -> None:
        """``declared``: the ``Content-Length`` header's value as ``response.headers`` gives it ("" when
        absent), for a transport that knows it without reading all the headers; else it is looked up."""
        self._call = call
        self._response = response
        self._limit = limit
        self._clock = clock
        timeout = attempt_timeout(call)
        self._deadline = None if timeout is None else started + timeout
        self._chunks: list[bytes] = []
        self._size = 0
        if declared is None:
            declared = response.headers.get("Content-Length", "")
        declared = declared.strip()
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(f"{int(declared)} bytes")
        self.check_time()

    def add(self, chunk: bytes) -> None:
        """Take one chunk; raise when the body grows too large or the deadline has passed."""
        self._size += len(chunk)
        if self._size > self._limit:
            raise self._too_large(f"more than {self._limit} bytes")
        self._chunks.append(chunk)
        self.check_time()

    def check_time(self) -> None:
        """Raise ``httpx.ReadTimeout`` when the attempt's deadline has passed."""
        if self._deadline is not None and self._clock() > self._deadline:
            raise _late(self._call)

    @property
    def body(self) -> bytes:
        """Everything read so far."""
        return b"".join(self._chunks)

    def _too_large(self, size: str) -> InvalidResponseError:
        return _too_large(self._call, self._response, size, self._limit)


def whole_body(
    call: Call,
    response: Head,
    body: bytes,
    *,
    started: float,
    limit: int = MAX_RESPONSE_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """``body``, which arrived whole with its head, once it passes ``BodyReader``'s checks (size, deadline).

    For a transport that finds the whole answer already received: no reader is needed for one chunk.
    """
    if len(body) > limit:
        raise _too_large(call, response, f"{len(body)} bytes", limit)
    timeout = attempt_timeout(call)
    if timeout is not None and clock() > started + timeout:
        raise _late(call)
    return body


def _too_large(call: Call, response: Head, size: str, limit: int) -> InvalidResponseError:
    return _invalid(
        call,
        response,
        f"the answer is {size}, more than the {limit} bytes this client reads"
        " (the users API never sends that much)",
    )


def _late(call: Call) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(
        f"the whole answer did not arrive within {attempt_timeout(call):g} s", request=call.request
    )


def safe_cause(call: Call, exc: BaseException) -> BaseException | None:
    """``exc`` when neither it nor its own causes show a key in their traceback text, else None."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return None if any(secret in text for secret in call.secrets) else exc


def error_from_transport(call: Call, exc: httpx.RequestError) -> HordeConnectionError:
    """The ``HordeConnectionError`` for a failure to get any answer at all."""
    sent = not _before_sending(exc)
    cls = HordeTimeoutError if isinstance(exc, httpx.TimeoutException) else HordeConnectionError
    what = type(exc).__name__
    detail = redact(str(exc), call.secrets)
    message = f"{what}: {detail}" if detail else what
    if not sent:
        message += " (the request was not sent)"
    return cls(
        message,
        method=call.method,
        url=call.url,
        outcome_unknown=sent and call.changes_data,
        request_sent=sent,
    )


def _before_sending(exc: httpx.RequestError) -> bool:
    """Whether the failure happened before any byte of the request could reach the server."""
    return isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    )


# --- retries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What to do after one attempt: retry after ``delay`` seconds, or stop (``delay`` is None)."""

    delay: float | None
    reason: str = ""
    """Why, in a few plain words ("timed out", "rate limited (Retry-After)", "503 Service Unavailable")."""
    retry: bool = field(init=False, repr=False)
    """Whether to retry: ``delay`` is set (an attribute, read after every attempt)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "retry", self.delay is not None)


STOP = Decision(None)


def backoff_delay(retry_number: int, rng: random.Random | None = None) -> float:
    """The wait before retry ``retry_number`` (from 0): 0.5 s doubling, at most 8 s, less 0-25 % jitter."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2.0**retry_number)
    return ceiling * (1.0 - 0.25 * (rng or _RNG).random())


def decide(
    call: Call,
    *,
    retries_done: int,
    max_retries: int,
    response: Head | None = None,
    exc: httpx.RequestError | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """Whether to retry ``call`` after this attempt's ``response`` or transport failure ``exc``.

    - 429: nothing ran, so every method is retried, after ``Retry-After`` (up to 60 s; longer waits stop).
    - failures before sending (connection refused): every method is retried.
    - timeouts, dropped connections, 502/503/504: only requests that are safe to repeat.
    """
    if retries_done >= max_retries:
        return STOP
    source = rng or _RNG
    if exc is not None:
        if _before_sending(exc) or call.repeatable:
            return Decision(backoff_delay(retries_done, rng), _failure_reason(exc))
        return STOP
    if response is None:
        return STOP
    status = response.status_code
    if status == 429 or (status in _RETRYABLE_STATUSES and call.repeatable):
        retry_after = _retry_after_of(response)
        reason = "rate limited" if status == 429 else _status_text(status)
        if retry_after is None:
            return Decision(backoff_delay(retries_done, rng), reason)
        if retry_after > RETRY_AFTER_MAX:
            return STOP
        # Retry-After is approximate (±1 s, docs/users-api.md §4.6): wait up to one second more.
        return Decision(retry_after + source.random(), f"{reason} (Retry-After)")
    return STOP


def _failure_reason(exc: httpx.RequestError) -> str:
    """A short plain reason for a retry log line: the exception's own text may hold anything."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if _before_sending(exc):
        return "could not connect"
    return "connection dropped"


def _status_text(status: int) -> str:
    """``503 Service Unavailable``: the standard phrase, not whatever the server wrote."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


# --- paging ----------------------------------------------------------------------------------


class Pager:
    """Which page ``iter_users`` asks for next, and which users of a page it yields.

    Pages are asked for from ``start_page`` on, until one comes back short (fewer than 25 users: the
    last), ``limit`` users were taken, or past page 10000 (the server's last). ``page`` is None once
    nothing more is to be asked.
    """

    def __init__(self, start_page: int, limit: int | None) -> None:
        self._remaining = limit
        self.page: int | None = start_page if start_page <= MAX_PAGE and limit != 0 else None

    def take(self, batch: Sequence[UserDetailsResponse]) -> Sequence[UserDetailsResponse]:
        """The users of the page just read that are to be yielded; moves ``page`` on (or to None)."""
        if self.page is None:
            return ()
        users = batch if self._remaining is None else batch[: self._remaining]
        if self._remaining is not None:
            self._remaining -= len(users)
        full = len(batch) >= USERS_PER_PAGE
        more = full and self._remaining != 0 and self.page < MAX_PAGE
        self.page = self.page + 1 if more else None
        return users
