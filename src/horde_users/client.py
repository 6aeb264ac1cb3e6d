"""``HordeUsers`` and ``AsyncHordeUsers``: the users API as typed methods, with safe retries.

Both clients build requests and read responses with the same I/O-free core (``horde_users._core``);
they only add sending, waiting and paging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import anyio
import httpx

from horde_users import _core
from horde_users.endpoints import (
    ANON_API_KEY,
    MAX_PAGE,
    USERS_PER_PAGE,
    default_client_agent,
    resolve_api_key,
    resolve_base_url,
)
from horde_users.errors import HordeError
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
"""Seconds to wait for connecting, sending and each read; a finite default so nothing hangs forever."""
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
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self._api_key = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        self._client_agent = client_agent or default_client_agent()
        self._timeout = timeout
        self._max_retries = max_retries

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
        """The timeout applied to every request."""
        return self._timeout

    @property
    def is_anonymous(self) -> bool:
        """Whether the client uses the anonymous key ``0000000000``."""
        return self._api_key == ANON_API_KEY

    def __repr__(self) -> str:
        key = "anonymous" if self.is_anonymous else "<redacted>"
        return f"{type(self).__name__}(base_url={self._base_url!r}, api_key={key!r})"

    # -- request models ------------------------------------------------------------------------

    def _find_user_request(self) -> FindUserRequest:
        return FindUserRequest(apikey=self._api_key)

    @staticmethod
    def _get_user_request(user_id: int | str) -> SingleUserDetailsRequest:
        # No key on the model: the core sends the client's, unless it is a shared key (a 401 here).
        return SingleUserDetailsRequest(user_id=user_id)

    @staticmethod
    def _list_request(page: int, sort: Sort) -> ListUsersDetailsRequest:
        return ListUsersDetailsRequest(page=page, sort=sort)

    def _modify_request(
        self, user_id: int | str, changes: ModifyUser | None, fields: dict[str, Any]
    ) -> ModifyUserRequest:
        unknown = sorted(set(fields) - _MODIFY_FIELDS)
        if unknown:
            raise TypeError(f"modify_user() got unexpected keyword arguments: {', '.join(unknown)}")
        if changes is not None and not isinstance(changes, ModifyUser):
            raise TypeError("changes must be a ModifyUser")
        values = changes.get_changes() if changes is not None else {}
        values.update(fields)
        request = ModifyUserRequest(user_id=user_id, apikey=self._api_key, **values)
        if not request.get_changes():
            raise ValueError("modify_user() needs at least one field to change")
        return request

    def _delete_request(self, user_id: int | str) -> DeleteUserRequest:
        return DeleteUserRequest(user_id=user_id, apikey=self._api_key)

    @staticmethod
    def _check_iter_args(start_page: int, limit: int | None) -> None:
        if isinstance(start_page, bool) or not isinstance(start_page, int) or start_page < 1:
            raise ValueError("start_page must be an integer of at least 1")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError("limit must be None or an integer of at least 0")

    # -- the shared send loop pieces -----------------------------------------------------------

    def _prepare(self, model: BaseAIHordeRequest) -> _core.Call:
        return _core.prepare(
            model,
            base_url=self._base_url,
            api_key=self._api_key,
            client_agent=self._client_agent,
            timeout=self._timeout,
        )

    def _attempt_label(self, retries_done: int) -> str:
        return f"attempt {retries_done + 1} of {self._max_retries + 1}"

    def _log_response(self, call: _core.Call, retries_done: int, status: int, started: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d in %.1f ms (%s) headers=%s",
                call.method,
                call.request.url,
                status,
                (time.perf_counter() - started) * 1000,
                self._attempt_label(retries_done),
                call.log_headers(),
            )

    def _log_failure(self, call: _core.Call, retries_done: int, exc: Exception, started: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s after %.1f ms (%s) headers=%s",
                call.method,
                call.request.url,
                type(exc).__name__,
                (time.perf_counter() - started) * 1000,
                self._attempt_label(retries_done),
                call.log_headers(),
            )

    def _log_retry(self, call: _core.Call, decision: _core.Decision, retries_done: int) -> None:
        logger.info(
            "retrying %s %s in %.2f s (retry %d of %d): %s",
            call.method,
            call.url,
            decision.delay or 0.0,
            retries_done + 1,
            self._max_retries,
            decision.reason,
        )

    def _transport_error(self, call: _core.Call, exc: httpx.RequestError) -> HordeError:
        error = _core.error_from_transport(call, exc)
        logger.debug("%s %s failed: %s", call.method, call.url, error)
        return error


class HordeUsers(_ClientBase):
    """The AI Horde users API, synchronously.

    ``api_key`` and ``base_url`` default to the ``AI_HORDE_API_KEY`` and ``AI_HORDE_URL`` environment
    variables (read now), then to the anonymous key and ``https://aihorde.net/api``. An ``http_client``
    you pass in is used as given and not closed by this client; ``timeout`` still applies to each request
    (pass ``timeout=None`` to keep that client's own). ``sleep`` replaces ``time.sleep`` between retries.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        client_agent: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if timeout is None and http_client is not None:
            timeout = http_client.timeout
        super().__init__(api_key, base_url, client_agent, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep or time.sleep

    def __enter__(self) -> HordeUsers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections this client opened (an injected ``http_client`` stays open)."""
        if self._owns_http:
            self._http.close()

    # -- API -----------------------------------------------------------------------------------

    def find_user(self) -> UserDetailsResponse:
        """The user that owns this client's key (own view; a shared key gives its owner's public view)."""
        return _expect(self._send(self._prepare(self._find_user_request())), UserDetailsResponse)

    def get_user(self, user_id: int | str) -> UserDetailsResponse:
        """One user by numeric id; the privileged view when the key is the owner's or a moderator's."""
        return _expect(self._send(self._prepare(self._get_user_request(user_id))), UserDetailsResponse)

    def list_users(self, page: int = 1, sort: Sort = "kudos") -> ListUsersDetailsResponse:
        """One page of 25 users (public view), by kudos (highest first) or age (oldest first)."""
        return _expect(self._send(self._prepare(self._list_request(page, sort))), ListUsersDetailsResponse)

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
        remaining = limit
        page = start_page
        while page <= MAX_PAGE and remaining != 0:
            batch = self.list_users(page=page, sort=sort)
            for user in batch:
                if remaining is not None:
                    if remaining == 0:
                        return
                    remaining -= 1
                yield user
            if len(batch) < USERS_PER_PAGE:
                return
            page += 1

    def modify_user(
        self, user_id: int | str, changes: ModifyUser | None = None, **fields: Any
    ) -> ModifyUserResponse:
        """Change a user: ModifyUser fields as keywords (or a ``ModifyUser``), validated before sending.

        Raises pydantic's ``ValidationError`` for invalid values and ``TypeError`` for unknown fields.
        """
        request = self._modify_request(user_id, changes, fields)
        return _expect(self._send(self._prepare(request)), ModifyUserResponse)

    def delete_user(self, user_id: int | str) -> DeleteUserResponse:
        """Soft-delete a user (a second DELETE of an inactive deleted user wipes it for good)."""
        return _expect(self._send(self._prepare(self._delete_request(user_id))), DeleteUserResponse)

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
            started = time.perf_counter()
            try:
                response = self._http.send(call.request)
            except httpx.RequestError as exc:
                self._log_failure(call, retries_done, exc, started)
                decision = _core.decide(
                    call, retries_done=retries_done, max_retries=self._max_retries, exc=exc
                )
                if not decision.retry:
                    raise self._transport_error(call, exc) from exc
            else:
                self._log_response(call, retries_done, response.status_code, started)
                decision = _core.decide(
                    call, retries_done=retries_done, max_retries=self._max_retries, response=response
                )
                if not decision.retry:
                    return _core.parse_response(call, response)
            self._log_retry(call, decision, retries_done)
            self._sleep(decision.delay or 0.0)
            retries_done += 1


class AsyncHordeUsers(_ClientBase):
    """The AI Horde users API, asynchronously (asyncio or trio); the same methods as ``HordeUsers``.

    ``sleep`` replaces ``anyio.sleep`` between retries.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        client_agent: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if timeout is None and http_client is not None:
            timeout = http_client.timeout
        super().__init__(api_key, base_url, client_agent, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep or anyio.sleep

    async def __aenter__(self) -> AsyncHordeUsers:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections this client opened (an injected ``http_client`` stays open)."""
        if self._owns_http:
            await self._http.aclose()

    # -- API -----------------------------------------------------------------------------------

    async def find_user(self) -> UserDetailsResponse:
        """The user that owns this client's key (own view; a shared key gives its owner's public view)."""
        return _expect(await self._send(self._prepare(self._find_user_request())), UserDetailsResponse)

    async def get_user(self, user_id: int | str) -> UserDetailsResponse:
        """One user by numeric id; the privileged view when the key is the owner's or a moderator's."""
        return _expect(await self._send(self._prepare(self._get_user_request(user_id))), UserDetailsResponse)

    async def list_users(self, page: int = 1, sort: Sort = "kudos") -> ListUsersDetailsResponse:
        """One page of 25 users (public view), by kudos (highest first) or age (oldest first)."""
        return _expect(
            await self._send(self._prepare(self._list_request(page, sort))), ListUsersDetailsResponse
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
        remaining = limit
        page = start_page
        while page <= MAX_PAGE and remaining != 0:
            batch = await self.list_users(page=page, sort=sort)
            for user in batch:
                if remaining is not None:
                    if remaining == 0:
                        return
                    remaining -= 1
                yield user
            if len(batch) < USERS_PER_PAGE:
                return
            page += 1

    async def modify_user(
        self, user_id: int | str, changes: ModifyUser | None = None, **fields: Any
    ) -> ModifyUserResponse:
        """Change a user: ModifyUser fields as keywords (or a ``ModifyUser``), validated before sending.

        Raises pydantic's ``ValidationError`` for invalid values and ``TypeError`` for unknown fields.
        """
        request = self._modify_request(user_id, changes, fields)
        return _expect(await self._send(self._prepare(request)), ModifyUserResponse)

    async def delete_user(self, user_id: int | str) -> DeleteUserResponse:
        """Soft-delete a user (a second DELETE of an inactive deleted user wipes it for good)."""
        return _expect(await self._send(self._prepare(self._delete_request(user_id))), DeleteUserResponse)

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
            started = time.perf_counter()
            try:
                response = await self._http.send(call.request)
            except httpx.RequestError as exc:
                self._log_failure(call, retries_done, exc, started)
                decision = _core.decide(
                    call, retries_done=retries_done, max_retries=self._max_retries, exc=exc
                )
                if not decision.retry:
                    raise self._transport_error(call, exc) from exc
            else:
                self._log_response(call, retries_done, response.status_code, started)
                decision = _core.decide(
                    call, retries_done=retries_done, max_retries=self._max_retries, response=response
                )
                if not decision.retry:
                    return _core.parse_response(call, response)
            self._log_retry(call, decision, retries_done)
            await self._sleep(decision.delay or 0.0)
            retries_done += 1
