"""``HordeUsers`` and ``AsyncHordeUsers``: the users API as typed methods, with safe retries.

Both clients build requests, read responses and decide on retries and paging with the same I/O-free
core (``horde_users._core``); a transport (``horde_users._transport``, or ``horde_users._aiohttp`` for
the async client) makes each attempt. The two clients are twins, method for method: ``make lint``
checks it (``tests/client/twins.py``).

Input is checked before anything is sent: a bad argument, field value, base URL or a malformed API key
raises ``InvalidRequestError`` (a ``HordeError`` and a ``ValueError``), never showing the key.

Logging goes to the ``horde_users`` logger. Each retry is one INFO record, readable and key-free
(``retrying GET https://aihorde.net/api/v2/users/3 in 0.48 s (attempt 2 of 3): 503 Service
Unavailable``), carrying these attributes for handlers and formatters (``extra=``):

- ``retry_delay`` (float): seconds the client waits before the next attempt;
- ``retry_reason`` (str): why, in plain words: ``"rate limited"``, ``"rate limited (Retry-After)"``,
  ``"timed out"``, ``"connection dropped"``, ``"could not connect"``, ``"503 Service Unavailable"``
  (a status may end in ``" (Retry-After)"`` too);
- ``attempt`` (int): the attempt about to be made, counting the first as 1 (so 2 on the first retry);
- ``max_retries`` (int): the client's ``max_retries``.

Each request and its outcome is also logged at DEBUG, with the key shown as ``<redacted>``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import anyio
import httpx
from pydantic import ValidationError

from horde_users import _core
from horde_users._aiohttp import HttpBackend, async_transport
from horde_users._transport import AsyncTransport, HttpxTransport
from horde_users.endpoints import (
    ANON_API_KEY,
    ENV_API_KEY,
    ENV_BASE_URL,
    default_client_agent,
    resolve_api_key,
    resolve_base_url,
)
from horde_users.errors import InvalidRequestError
from horde_users.models.base import BaseAIHordeRequest, HordeResponseTypes
from horde_users.models.find_user import FindUserRequest
from horde_users.models.users import (
    DeleteUserRequest,
    DeleteUserResponse,
    ListUsersDetailsRequest,
    ListUsersDetailsResponse,
    ModifyUser,
    ModifyUserRequest,
    ModifyUserResponse,
    SingleUserDetailsRequest,
    UserDetailsResponse,
)

__all__ = ["AsyncHordeUsers", "HordeUsers"]

logger = logging.getLogger("horde_users")

DEFAULT_TIMEOUT = 30.0
"""Seconds each attempt may take, and each wait within it; a finite default so nothing hangs forever."""
DEFAULT_MAX_RETRIES = 2

Sort = Literal["kudos", "age"]
_R = TypeVar("_R", bound=HordeResponseTypes)
_MODIFY_FIELDS = frozenset(ModifyUser.model_fields)


def _expect(result: HordeResponseTypes, cls: type[_R]) -> _R:
    if not isinstance(result, cls):  # pragma: no cover - the request models map statuses to these types
        raise TypeError(f"expected {cls.__name__}, got {type(result).__name__}")
    return result


class _ClientBase:
    """Configuration and request building shared by both clients (no I/O)."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        client_agent: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError("max_retries must be a whole number, 0 or more")
        if not (
            timeout is None
            or isinstance(timeout, httpx.Timeout)
            or (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0)
        ):
            raise InvalidRequestError("timeout must be a number of seconds above 0, an httpx.Timeout or None")
        if api_key is not None and not isinstance(api_key, str):
            raise InvalidRequestError(f"api_key must be a string, not {type(api_key).__name__}")
        if client_agent is not None and not (
            isinstance(client_agent, str) and client_agent.isascii() and client_agent.isprintable()
        ):
            raise InvalidRequestError("client_agent must be printable ASCII text, like name:version:contact")
        self._key_name = "api_key" if api_key else ENV_API_KEY
        self._api_key = resolve_api_key(api_key)
        url_name = "base_url" if base_url else ENV_BASE_URL
        self._base_url = _core.check_base_url(resolve_base_url(base_url), name=url_name)
        self._client_agent = client_agent or default_client_agent()
        self._timeout = timeout
        self._max_retries = max_retries
        self._key_checked = False
        self._preparer = _core.Preparer(
            base_url=self._base_url, api_key=self._api_key, client_agent=self._client_agent, timeout=timeout
        )

    @property
    def base_url(self) -> str:
        """The base URL requests go to (ends in ``/api``, no trailing slash)."""
        return self._base_url

    @property
    def client_agent(self) -> str:
        """The ``Client-Agent`` header sent with every request."""
        return self._client_agent

    @property
    def max_retries(self) -> int:
        """How many times a failed request may be retried (when retrying is safe)."""
        return self._max_retries

    @property
    def timeout(self) -> float | httpx.Timeout | None:
        """The timeout of every attempt: see the class docstring."""
        return self._timeout

    @property
    def is_anonymous(self) -> bool:
        """Whether the client uses the anonymous key ``0000000000``."""
        return self._api_key == ANON_API_KEY

    def __repr__(self) -> str:
        key = "anonymous" if self.is_anonymous else "<redacted>"
        return f"{type(self).__name__}(base_url={self._base_url!r}, api_key={key!r})"

    # -- request models ------------------------------------------------------------------------

    def _checked_key(self) -> str:
        """The client's key, once its form is checked (every method, before anything is sent)."""
        if not self._key_checked:  # the key never changes: once it has passed, it passes
            _core.check_api_key(self._api_key, name=self._key_name)
            self._key_checked = True
        return self._api_key

    def _refused(self, error: ValidationError) -> InvalidRequestError:
        """Our ``InvalidRequestError`` for pydantic's refusal of a request model (raise it ``from error``)."""
        return _core.invalid_request(error, (self._api_key,))

    def _find_user_request(self) -> FindUserRequest:
        key = self._checked_key()
        try:
            return FindUserRequest(apikey=key)
        except ValidationError as exc:
            raise self._refused(exc) from exc

    def _get_user_request(self, user_id: int | str) -> SingleUserDetailsRequest:
        self._checked_key()
        # No key on the model: the core sends the client's, unless it is a shared key (a 401 here).
        try:
            return SingleUserDetailsRequest(user_id=user_id)
        except ValidationError as exc:
            raise self._refused(exc) from exc

    def _list_request(self, page: int, sort: Sort) -> ListUsersDetailsRequest:
        self._checked_key()
        try:
            return ListUsersDetailsRequest(page=page, sort=sort)
        except ValidationError as exc:
            raise self._refused(exc) from exc

    def _modify_request(
        self, user_id: int | str, changes: ModifyUser | None, fields: dict[str, Any]
    ) -> ModifyUserRequest:
        key = self._checked_key()
        unknown = sorted(set(fields) - _MODIFY_FIELDS)
        if unknown:
            raise InvalidRequestError(f"modify_user() has no field named {', '.join(unknown)}")
        if changes is not None and not isinstance(changes, ModifyUser):
            raise InvalidRequestError("changes must be a ModifyUser")
        values = changes.get_changes() if changes is not None else {}
        values.update(fields)
        try:
            request = ModifyUserRequest(user_id=user_id, apikey=key, **values)
        except ValidationError as exc:
            raise self._refused(exc) from exc
        if not request.get_changes():
            raise InvalidRequestError("modify_user() needs at least one field to change")
        return request

    def _delete_request(self, user_id: int | str) -> DeleteUserRequest:
        key = self._checked_key()
        try:
            return DeleteUserRequest(user_id=user_id, apikey=key)
        except ValidationError as exc:
            raise self._refused(exc) from exc

    @staticmethod
    def _check_iter_args(start_page: int, limit: int | None) -> None:
        if isinstance(start_page, bool) or not isinstance(start_page, int) or start_page < 1:
            raise InvalidRequestError("start_page must be a whole number, 1 or more")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidRequestError("limit must be None or a whole number, 0 or more")

    # -- the shared send loop pieces -----------------------------------------------------------

    def _prepare(self, model: BaseAIHordeRequest) -> _core.Call:
        """The call for a model given to ``submit()`` (the methods' own models are checked as built)."""
        if not isinstance(model, BaseAIHordeRequest):
            raise InvalidRequestError(f"submit() takes a request model, not {type(model).__name__}")
        self._checked_key()
        return self._preparer(model)

    def _decide_on_response(
        self, call: _core.Call, retries_done: int, started: float, response: _core.Head
    ) -> _core.Decision:
        if logger.isEnabledFor(logging.DEBUG):
            self._log_response(call, retries_done, response.status_code, started)
        return _core.decide(call, retries_done=retries_done, max_retries=self._max_retries, response=response)

    def _decide_on_failure(
        self, call: _core.Call, retries_done: int, exc: httpx.RequestError, started: float
    ) -> _core.Decision:
        if logger.isEnabledFor(logging.DEBUG):
            self._log_failure(call, retries_done, exc, started)
        decision = _core.decide(call, retries_done=retries_done, max_retries=self._max_retries, exc=exc)
        if not decision.retry:
            error = _core.error_from_transport(call, exc)
            logger.debug("%s %s failed: %s", call.method, call.url, error)
            # Raised outside any except block, so the only chained exception is a key-free cause.
            raise error from _core.safe_cause(call, exc)
        return decision

    def _attempt_label(self, retries_done: int) -> str:
        return f"attempt {retries_done + 1} of {self._max_retries + 1}"

    def _log_response(self, call: _core.Call, retries_done: int, status: int, started: float) -> None:
        logger.debug(
            "%s %s -> %d in %.1f ms (%s) headers=%s",
            call.method,
            call.request.url,
            status,
            (time.monotonic() - started) * 1000,
            self._attempt_label(retries_done),
            call.log_headers(),
        )

    def _log_failure(self, call: _core.Call, retries_done: int, exc: Exception, started: float) -> None:
        logger.debug(
            "%s %s -> %s after %.1f ms (%s) headers=%s",
            call.method,
            call.request.url,
            type(exc).__name__,
            (time.monotonic() - started) * 1000,
            self._attempt_label(retries_done),
            call.log_headers(),
        )

    def _log_retry(self, call: _core.Call, decision: _core.Decision, retries_done: int) -> None:
        delay = decision.delay or 0.0
        attempt = retries_done + 2
        logger.info(
            "retrying %s %s in %.2f s (attempt %d of %d): %s",
            call.method,
            call.url,
            delay,
            attempt,
            self._max_retries + 1,
            decision.reason,
            extra={
                "retry_delay": delay,
                "retry_reason": decision.reason,
                "attempt": attempt,
                "max_retries": self._max_retries,
            },
        )


class HordeUsers(_ClientBase):
    """The AI Horde users API, synchronously.

    ``api_key`` and ``base_url`` default to the ``AI_HORDE_API_KEY`` and ``AI_HORDE_URL`` environment
    variables (read now), then to the anonymous key and ``https://aihorde.net/api``. An ``http_client``
    you pass in is used as given and not closed by this client; ``timeout`` still applies to each request
    (pass ``timeout=None`` to keep that client's own). ``sleep`` replaces ``time.sleep`` between retries.

    ``timeout`` (seconds, or an ``httpx.Timeout`` whose largest value counts) bounds each wait (connect,
    send, each read) and each attempt as a whole: past it, an answer still arriving is abandoned as a
    timeout (retried when safe); the check runs as each chunk of the body arrives, so the status line
    and headers are bounded per read only. Bodies over 2 MiB are refused (``InvalidResponseError``).
    Arguments after ``api_key`` are keyword-only; bad ones raise ``InvalidRequestError``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        client_agent: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if timeout is None and http_client is not None:
            timeout = http_client.timeout
        super().__init__(api_key, base_url, client_agent, timeout, max_retries)
        self._transport: HttpxTransport = HttpxTransport(http_client, timeout)
        self._sleep = sleep or time.sleep

    def __enter__(self) -> HordeUsers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections this client opened (an injected ``http_client`` stays open)."""
        self._transport.close()

    # -- API -----------------------------------------------------------------------------------

    def find_user(self) -> UserDetailsResponse:
        """The user that owns this client's key (own view; a shared key gives its owner's public view)."""
        return _expect(self._send(self._preparer(self._find_user_request())), UserDetailsResponse)

    def get_user(self, user_id: int | str) -> UserDetailsResponse:
        """One user by numeric id; the privileged view when the key is the owner's or a moderator's."""
        return _expect(self._send(self._preparer(self._get_user_request(user_id))), UserDetailsResponse)

    def list_users(self, page: int = 1, sort: Sort = "kudos") -> ListUsersDetailsResponse:
        """One page of 25 users (public view), by kudos (highest first) or age (oldest first)."""
        return _expect(self._send(self._preparer(self._list_request(page, sort))), ListUsersDetailsResponse)

    def iter_users(
        self, sort: Sort = "kudos", start_page: int = 1, limit: int | None = None
    ) -> Iterator[UserDetailsResponse]:
        """Every user, page after page, until a short or empty page (never past page 10000).

        One page is held at a time, so memory stays flat. ``limit`` caps how many users are yielded.
        """
        self._check_iter_args(start_page, limit)
        self._list_request(start_page, sort)  # validate sort now, not at the first next()
        return self._iter_users(sort, start_page, limit)

    def _iter_users(self, sort: Sort, start_page: int, limit: int | None) -> Iterator[UserDetailsResponse]:
        pager = _core.Pager(start_page, limit)
        while pager.page is not None:
            batch = self.list_users(page=pager.page, sort=sort)
            yield from pager.take(batch.root)

    def modify_user(
        self, user_id: int | str, changes: ModifyUser | None = None, **fields: Any
    ) -> ModifyUserResponse:
        """Change a user: ModifyUser fields as keywords (or a ``ModifyUser``), validated before sending.

        Raises ``InvalidRequestError`` for invalid values and unknown fields, before anything is sent.
        """
        request = self._modify_request(user_id, changes, fields)
        return _expect(self._send(self._preparer(request)), ModifyUserResponse)

    def delete_user(self, user_id: int | str) -> DeleteUserResponse:
        """Soft-delete a user (a second DELETE of an inactive deleted user wipes it for good)."""
        return _expect(self._send(self._preparer(self._delete_request(user_id))), DeleteUserResponse)

    def undelete_user(self, user_id: int | str) -> ModifyUserResponse:
        """Restore a soft-deleted user (``PUT {"undelete": true}``)."""
        return self.modify_user(user_id, undelete=True)

    @overload
    def submit(self, request: ListUsersDetailsRequest) -> ListUsersDetailsResponse: ...
    @overload
    def submit(self, request: SingleUserDetailsRequest | FindUserRequest) -> UserDetailsResponse: ...
    @overload
    def submit(self, request: ModifyUserRequest) -> ModifyUserResponse: ...
    @overload
    def submit(self, request: DeleteUserRequest) -> DeleteUserResponse: ...
    @overload
    def submit(self, request: BaseAIHordeRequest) -> HordeResponseTypes: ...

    def submit(self, request: BaseAIHordeRequest) -> HordeResponseTypes:
        """Send any request model. Its own ``apikey`` / ``Client-Agent`` win; unset ones use the client's."""
        return self._send(self._prepare(request))

    # -- I/O -----------------------------------------------------------------------------------

    def _send(self, call: _core.Call) -> HordeResponseTypes:
        retries_done = 0
        while True:
            started = time.monotonic()
            decide = functools.partial(self._decide_on_response, call, retries_done, started)
            failure: httpx.RequestError | None = None
            try:
                response, decision, body = self._transport.exchange(call, started, decide)
            except httpx.RequestError as exc:
                failure = exc
            if failure is not None:
                decision = self._decide_on_failure(call, retries_done, failure, started)
            elif not decision.retry:
                return _core.parse_response(call, response, body)
            self._log_retry(call, decision, retries_done)
            self._sleep(decision.delay or 0.0)
            retries_done += 1


class AsyncHordeUsers(_ClientBase):
    """The AI Horde users API, asynchronously (asyncio or trio); the same methods as ``HordeUsers``.

    The same arguments and ``timeout`` as ``HordeUsers``; ``sleep`` replaces ``anyio.sleep`` between retries.

    ``http_backend`` picks the HTTP library: ``"auto"`` (the default) uses aiohttp when it is installed
    (``pip install 'horde-users[fast]'``) and the loop is asyncio's, else httpx; ``"aiohttp"`` or
    ``"httpx"`` insist. Both behave the same (timeouts, the 2 MiB cap, retries, errors); aiohttp takes a
    fraction of httpx's time per call. An ``http_client`` you pass in is an httpx one, so it means httpx.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        client_agent: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        http_backend: HttpBackend = "auto",
    ) -> None:
        if timeout is None and http_client is not None:
            timeout = http_client.timeout
        super().__init__(api_key, base_url, client_agent, timeout, max_retries)
        self._transport: AsyncTransport = async_transport(http_client, timeout, http_backend)
        self._sleep = sleep or anyio.sleep

    async def __aenter__(self) -> AsyncHordeUsers:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections this client opened (an injected ``http_client`` stays open)."""
        await self._transport.close()

    # -- API -----------------------------------------------------------------------------------

    async def find_user(self) -> UserDetailsResponse:
        """The user that owns this client's key (own view; a shared key gives its owner's public view)."""
        return _expect(await self._send(self._preparer(self._find_user_request())), UserDetailsResponse)

    async def get_user(self, user_id: int | str) -> UserDetailsResponse:
        """One user by numeric id; the privileged view when the key is the owner's or a moderator's."""
        return _expect(await self._send(self._preparer(self._get_user_request(user_id))), UserDetailsResponse)

    async def list_users(self, page: int = 1, sort: Sort = "kudos") -> ListUsersDetailsResponse:
        """One page of 25 users (public view), by kudos (highest first) or age (oldest first)."""
        return _expect(
            await self._send(self._preparer(self._list_request(page, sort))), ListUsersDetailsResponse
        )

    def iter_users(
        self, sort: Sort = "kudos", start_page: int = 1, limit: int | None = None
    ) -> AsyncIterator[UserDetailsResponse]:
        """Every user, page after page (``async for``), until a short or empty page (never past 10000).

        One page is held at a time, so memory stays flat. ``limit`` caps how many users are yielded.
        """
        self._check_iter_args(start_page, limit)
        self._list_request(start_page, sort)
        return self._iter_users(sort, start_page, limit)

    async def _iter_users(
        self, sort: Sort, start_page: int, limit: int | None
    ) -> AsyncIterator[UserDetailsResponse]:
        pager = _core.Pager(start_page, limit)
        while pager.page is not None:
            batch = await self.list_users(page=pager.page, sort=sort)
            for user in pager.take(batch.root):
                yield user

    async def modify_user(
        self, user_id: int | str, changes: ModifyUser | None = None, **fields: Any
    ) -> ModifyUserResponse:
        """Change a user: ModifyUser fields as keywords (or a ``ModifyUser``), validated before sending.

        Raises ``InvalidRequestError`` for invalid values and unknown fields, before anything is sent.
        """
        request = self._modify_request(user_id, changes, fields)
        return _expect(await self._send(self._preparer(request)), ModifyUserResponse)

    async def delete_user(self, user_id: int | str) -> DeleteUserResponse:
        """Soft-delete a user (a second DELETE of an inactive deleted user wipes it for good)."""
        return _expect(await self._send(self._preparer(self._delete_request(user_id))), DeleteUserResponse)

    async def undelete_user(self, user_id: int | str) -> ModifyUserResponse:
        """Restore a soft-deleted user (``PUT {"undelete": true}``)."""
        return await self.modify_user(user_id, undelete=True)

    @overload
    async def submit(self, request: ListUsersDetailsRequest) -> ListUsersDetailsResponse: ...
    @overload
    async def submit(self, request: SingleUserDetailsRequest | FindUserRequest) -> UserDetailsResponse: ...
    @overload
    async def submit(self, request: ModifyUserRequest) -> ModifyUserResponse: ...
    @overload
    async def submit(self, request: DeleteUserRequest) -> DeleteUserResponse: ...
    @overload
    async def submit(self, request: BaseAIHordeRequest) -> HordeResponseTypes: ...

    async def submit(self, request: BaseAIHordeRequest) -> HordeResponseTypes:
        """Send any request model. Its own ``apikey`` / ``Client-Agent`` win; unset ones use the client's."""
        return await self._send(self._prepare(request))

    # -- I/O -----------------------------------------------------------------------------------

    async def _send(self, call: _core.Call) -> HordeResponseTypes:
        retries_done = 0
        while True:
            started = time.monotonic()
            decide = functools.partial(self._decide_on_response, call, retries_done, started)
            failure: httpx.RequestError | None = None
            try:
                response, decision, body = await self._transport.exchange(call, started, decide)
            except httpx.RequestError as exc:
                failure = exc
            if failure is not None:
                decision = self._decide_on_failure(call, retries_done, failure, started)
            elif not decision.retry:
                return _core.parse_response(call, response, body)
            self._log_retry(call, decision, retries_done)
            await self._sleep(decision.delay or 0.0)
            retries_done += 1
