"""The I/O-free core shared by both clients: build requests, read responses, decide retries.

Nothing here sends, receives or sleeps; the clients add the I/O around these functions, so the
sync and the async client cannot drift apart.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from horde_users.errors import (
    REDACTED,
    HordeAPIError,
    HordeConnectionError,
    HordeTimeoutError,
    InvalidResponseError,
    error_class_for_status,
    excerpt,
    redact,
)
from horde_users.models.base import BaseAIHordeRequest, HordeResponseTypes, is_shared_key
from horde_users.models.errors import RC
from horde_users.models.users import SingleUserDetailsRequest

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "RETRY_AFTER_MAX",
    "SAFE_PUT_FIELDS",
    "Call",
    "Decision",
    "backoff_delay",
    "build_request",
    "decide",
    "error_from_response",
    "error_from_transport",
    "is_shared_key",
    "parse_response",
    "parse_retry_after",
    "prepare",
    "retry_safe",
]

BACKOFF_BASE = 0.5
"""The first backoff delay in seconds; it doubles on each retry."""
BACKOFF_MAX = 8.0
"""The longest backoff delay in seconds."""
RETRY_AFTER_MAX = 60.0
"""The longest ``Retry-After`` the clients wait for; beyond it the error is raised at once."""

SAFE_PUT_FIELDS = frozenset(
    {
        "concurrency",
        "usage_multiplier",
        "worker_invited",
        "moderator",
        "public_workers",
        "trusted",
        "flagged",
        "customizer",
        "vpn",
        "service",
        "education",
        "special",
        "reset_suspicion",
        "admin_comment",
        "username",
        "contact",
        "filtered",
    }
)
"""PUT body members that set absolute values, so sending them twice changes nothing more (users-api.md §11).

Everything else (``kudos`` and ``monthly_kudos`` are deltas, ``generate_proxy_passkey`` issues a new passkey
each time, ``undelete`` fails when repeated) makes a PUT unsafe to repeat after an ambiguous failure.
"""

_RETRYABLE_STATUSES = frozenset({502, 503, 504})
_RNG = random.Random()
_EXCERPT_LEN = 200


@dataclass(frozen=True)
class Call:
    """One request ready to send, with what the client needs to retry it and to read its answer."""

    request: httpx.Request
    model: BaseAIHordeRequest
    secrets: tuple[str, ...]
    """Every key that was or could be sent; redacted from all messages."""
    repeatable: bool
    """Whether an ambiguous failure (timeout, dropped connection, 502/503/504) may be retried."""
    changes_data: bool = field(default=False)
    """PUT and DELETE: an ambiguous failure leaves the outcome unknown."""

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def url(self) -> str:
        """The URL without its query string (page and sort are not worth repeating in errors)."""
        return str(self.request.url.copy_with(query=None))

    def log_headers(self) -> dict[str, str]:
        """The request headers with the key shown as ``<redacted>``: safe to log."""
        return {
            name: (REDACTED if name.lower() == "apikey" else redact(value, self.secrets))
            for name, value in self.request.headers.items()
        }


def retry_safe(model: BaseAIHordeRequest, json_body: Mapping[str, Any] | None) -> bool:
    """Whether ``model`` may be sent again after an ambiguous failure (users-api.md §11).

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
    return _build(model, base_url=base_url, api_key=api_key, client_agent=client_agent, timeout=timeout)[0]


def _build(
    model: BaseAIHordeRequest,
    *,
    base_url: str,
    api_key: str | None,
    client_agent: str | None,
    timeout: httpx.Timeout | float | None,
) -> tuple[httpx.Request, dict[str, Any] | None]:
    http = model.build_http_request(base_url)
    headers = dict(http.headers)
    fields_set = model.model_fields_set
    # A shared key is no API key: GET /users/{id} would answer 401, so that read goes without one.
    shared_on_read = (
        isinstance(model, SingleUserDetailsRequest) and bool(api_key) and is_shared_key(api_key or "")
    )
    if api_key and "apikey" in type(model).model_fields and "apikey" not in fields_set and not shared_on_read:
        headers["apikey"] = api_key
    if client_agent and "client_agent" not in fields_set:
        headers["Client-Agent"] = client_agent
    request = httpx.Request(
        http.method,
        http.url,
        params=http.query or None,
        headers=headers,
        json=http.json_body,
    )
    if timeout is not None:
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    return request, http.json_body


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
    request, json_body = _build(
        model, base_url=base_url, api_key=api_key, client_agent=client_agent, timeout=timeout
    )
    secrets = {request.headers.get("apikey"), api_key, *extra_secrets}
    for name in model.get_sensitive_fields():
        value = getattr(model, name, None)
        if isinstance(value, str):
            secrets.add(value)
    method = request.method
    return Call(
        request=request,
        model=model,
        secrets=tuple(sorted(s for s in secrets if s)),
        repeatable=retry_safe(model, json_body),
        changes_data=method in ("PUT", "DELETE"),
    )


# --- responses -------------------------------------------------------------------------------


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


def _read_json(response: httpx.Response) -> tuple[bool, Any]:
    try:
        return True, json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False, None


def _retry_after_of(response: httpx.Response) -> float | None:
    if response.status_code in (429, 503):
        return parse_retry_after(response.headers.get("Retry-After"))
    return None


def error_from_response(call: Call, response: httpx.Response) -> HordeAPIError:
    """The typed error for an error response; the body may be JSON or not (an HTML page from a proxy)."""
    status = response.status_code
    is_json, body = _read_json(response)
    rc: RC | str | None = None
    errors: dict[str, str] | None = None
    if is_json and isinstance(body, dict):
        message = str(body.get("message") or "")
        raw_rc = body.get("rc")
        if raw_rc is not None:
            try:
                rc = RC(str(raw_rc))
            except ValueError:
                rc = str(raw_rc)
        raw_errors = body.get("errors")
        if isinstance(raw_errors, dict):
            errors = {str(k): redact(str(v), call.secrets) for k, v in raw_errors.items()}
        if not message and not errors:
            message = excerpt(response.text, _EXCERPT_LEN)
    else:
        text = excerpt(response.text, _EXCERPT_LEN) if response.content else ""
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


def parse_response(call: Call, response: httpx.Response) -> HordeResponseTypes:
    """The success model for ``response``, or raise its typed ``HordeAPIError``."""
    status = response.status_code
    if not 200 <= status < 300:
        raise error_from_response(call, response)
    pairs = {int(k): v for k, v in call.model.get_success_status_response_pairs().items()}
    response_type = pairs.get(status) or call.model.get_default_success_response_type()

    def invalid(message: str) -> InvalidResponseError:
        return InvalidResponseError(
            redact(message, call.secrets),
            status_code=status,
            method=call.method,
            url=call.url,
            horde_node=response.headers.get("Horde-Node"),
            outcome_unknown=call.changes_data,
        )

    try:
        # pydantic's own JSON parser: about 1.7x faster than json.loads + model_validate.
        return response_type.model_validate_json(response.content)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            text = excerpt(response.text, _EXCERPT_LEN) if response.content else "an empty body"
            raise invalid(
                f"expected a JSON {response_type.__name__} but the body is not JSON: {text}"
            ) from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise invalid(f"the body is not a valid {response_type.__name__}: {problems}") from None


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

    @property
    def retry(self) -> bool:
        return self.delay is not None


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
    response: httpx.Response | None = None,
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
        if _before_sending(exc):
            return Decision(backoff_delay(retries_done, rng), f"{type(exc).__name__} before sending")
        if call.repeatable:
            return Decision(backoff_delay(retries_done, rng), type(exc).__name__)
        return STOP
    if response is None:
        return STOP
    status = response.status_code
    if status == 429 or (status in _RETRYABLE_STATUSES and call.repeatable):
        retry_after = _retry_after_of(response)
        reason = f"status {status}"
        if retry_after is None:
            return Decision(backoff_delay(retries_done, rng), reason)
        if retry_after > RETRY_AFTER_MAX:
            return STOP
        # Retry-After is approximate (±1 s, users-api.md §4.6): wait up to one second more.
        return Decision(retry_after + source.random(), f"{reason}, Retry-After {retry_after:g}")
    return STOP
