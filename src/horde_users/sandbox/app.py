"""The sandbox's HTTP application: the users API routes of docs/users-api.md under ``/api``.

Endpoints are short: they read the request, check its body (:mod:`~horde_users.sandbox.validation`),
let :mod:`~horde_users.sandbox.service` carry it out on the store and answer through the app's
:class:`~horde_users.sandbox.render.UserRenderer`. They are registered from the one route table of
:mod:`~horde_users.sandbox.routes`, which the edge middleware reads too.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from horde_users._version import __version__
from horde_users.endpoints import USERS_PER_PAGE
from horde_users.sandbox import routes, rules, service, validation
from horde_users.sandbox.clock import MovableClock
from horde_users.sandbox.devtools import DevTools, TestDoubleMiddleware
from horde_users.sandbox.domain import Clock, utcnow
from horde_users.sandbox.middleware import install_edge_middleware
from horde_users.sandbox.render import UserRenderer, json_text, render_modify
from horde_users.sandbox.rules import ApiError
from horde_users.sandbox.store import SandboxStore, StoreBusyError
from horde_users.sandbox.texts import ProfanityFilter, sanitise

logger = logging.getLogger("horde_users.sandbox")

DEFAULT_LOCK_TIMEOUT = 5.0
"""Seconds a request waits for a SQLite lock held by another program before it answers 503."""
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_TRUTHY = frozenset({"1", "true", "yes", "on"})


class RawJSON(str):
    """JSON text already written by :func:`~horde_users.sandbox.render.json_text` (sent as it is)."""


class HordeJSONResponse(Response):
    """JSON as the real server writes it: ``", "``/``": "`` separators and ``charset=utf-8``."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        text = content if isinstance(content, RawJSON) else json_text(content)
        return text.encode("ascii") + b"\n"


def _error_response(error: ApiError) -> HordeJSONResponse:
    return HordeJSONResponse(error.body(), status_code=error.status)


@dataclass
class SandboxContext:
    """What the routes need: the store and the start options."""

    store: SandboxStore
    admins: frozenset[str]
    test_user_endpoint: bool
    profanity: ProfanityFilter
    #: Run the store work of a request on the event loop (SQLite: microseconds per call, and no GIL
    #: hand-over between threads at every call); a server database's round trips go to a worker thread.
    inline: bool
    #: The app's time (Unix seconds): account ages and the 30-day wipe rule (§7).
    clock: Clock
    #: Seconds a request waits for a SQLite lock held by another program before it answers 503.
    lock_timeout: float
    #: Renders user bodies and keeps them for reuse (one per app).
    renderer: UserRenderer

    def now(self) -> datetime:
        """The clock's time, naive UTC."""
        return utcnow(self.clock)

    def admin_set(self) -> set[str]:
        """Start option, ``ADMINS`` (re-read now; malformed counts as empty) and seeded admins (§6.1)."""
        return set(self.admins) | env_admins() | self.store.admin_aliases()

    def test_user_enabled(self) -> bool:
        return self.test_user_endpoint or os.environ.get("HORDE_TEST_APIKEYS", "").strip().lower() in _TRUTHY


def env_admins() -> set[str]:
    """The ``ADMINS`` environment variable as a set of aliases; malformed JSON is logged and ignored."""
    raw = os.environ.get("ADMINS", "").strip()
    if not raw:
        return set()
    try:
        value = json.loads(raw)
    except ValueError:
        logger.warning("ADMINS is not valid JSON; treating it as an empty list")
        return set()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        logger.warning("ADMINS is not a JSON list of strings; treating it as an empty list")
        return set()
    return set(value)


def _ctx(request: Request) -> SandboxContext:
    ctx = request.app.state.sandbox
    assert isinstance(ctx, SandboxContext)
    return ctx


def _store_work(handler: Callable[..., Response]) -> Callable[..., Awaitable[Response]]:
    """A blocking route (with a ``request`` parameter) as ``async def``, run per ``ctx.inline``.

    A database that stays locked answers 503 and a failed statement 500 shape (d), here. FastAPI
    reads the parameters through ``__wrapped__`` and awaits the wrapper.
    """

    @functools.wraps(handler)
    async def route(**kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        ctx = _ctx(request)
        try:
            if ctx.inline:
                return await _run_inline(ctx, handler, kwargs)
            return await anyio.to_thread.run_sync(functools.partial(handler, **kwargs))
        except StoreBusyError:
            return _database_busy(ctx)
        except SQLAlchemyError as exc:
            return _database_fault(request, exc)

    return route


async def _run_inline(
    ctx: SandboxContext, handler: Callable[..., Response], kwargs: dict[str, Any]
) -> Response:
    """Run ``handler`` on the event loop without ever waiting there for SQLite's lock.

    Its transactions fail fast when another connection holds the lock; every request does its work in
    one transaction, so the handler is simply run again after an asynchronous pause (the loop serves
    other requests meanwhile), until ``ctx.lock_timeout`` has passed: then StoreBusyError.
    """
    store = ctx.store
    deadline: float | None = None
    pause = 0.001
    while True:
        with store.fail_fast():
            try:
                return handler(**kwargs)
            except StoreBusyError:
                pass
        now = anyio.current_time()
        if deadline is None:
            deadline = now + ctx.lock_timeout
        if now >= deadline:
            raise StoreBusyError("the database stayed locked")
        await anyio.sleep(min(pause, deadline - now))
        pause = min(pause * 2, 0.05)


def _database_busy(ctx: SandboxContext) -> Response:
    """503 with ``Retry-After`` (sandbox only): another program held the database's lock too long."""
    return HordeJSONResponse(
        {
            "message": "The sandbox database stayed locked by another connection for "
            f"{ctx.lock_timeout:g} s; nothing was changed. Try again shortly."
        },
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _database_fault(request: Request, exc: SQLAlchemyError) -> Response:
    """500 shape (d) for a failed statement; the exception goes no further (the server would log its
    text). The log line names the error and the statement, never the values bound to it."""
    logger.error("database error on %s %s: %s", request.method, request.url.path, _describe(exc))
    return HordeJSONResponse({"message": "Internal Server Error"}, status_code=500)


def _describe(exc: SQLAlchemyError) -> str:
    """The error class, what the driver says when it cannot quote values (SQLite's messages name
    tables and constraints; PostgreSQL's can quote a value, so only its SQLSTATE), and the statement
    shortened to its start and end."""
    orig = getattr(exc, "orig", None)
    parts = [type(orig if orig is not None else exc).__name__]
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(orig, sqlite3.Error):
        parts.append(f"({orig})")
    elif sqlstate:
        parts.append(f"(SQLSTATE {sqlstate})")
    statement = " ".join(str(getattr(exc, "statement", None) or "").split())
    if statement:
        shown = statement if len(statement) <= 240 else f"{statement[:100]} ... {statement[-120:]}"
        parts.append(f"in: {shown}")
    return " ".join(parts)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


# --------------------------------------------------------------------------------------- routes

_APIKEY_DOC = "The caller's API key."
_USER_ID_DOC = "The numeric user id (`3`, not `alice#3`)."
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request (validation or API error)"},
    401: {"description": "Invalid API key"},
    403: {"description": "Forbidden"},
    404: {"description": "Not found"},
    429: {"description": "Rate limited"},
}


def _responses(model: Any, *codes: int) -> dict[int | str, dict[str, Any]]:
    from horde_users.models import RequestErrorResponse

    out: dict[int | str, dict[str, Any]] = {200: {"model": model}}
    for code in codes:
        out[code] = {**_ERRORS[code], "model": RequestErrorResponse}
    return out


@_store_work
def list_users(
    request: Request,
    page: str | None = Query(None, description="Which page of results to return (integer, default 1)."),
    sort: str | None = Query(None, description="`kudos` (default) or `age`."),
) -> Response:
    pages = request.query_params.getlist("page")
    try:
        number = rules.normalise_page(pages[0] if pages else None)
    except rules.PageError as exc:
        return _error_response(exc.api_error)
    if number is None:
        return HordeJSONResponse([])
    ctx = _ctx(request)
    found = ctx.store.list_users(rules.normalise_sort(sort), (number - 1) * USERS_PER_PAGE, USERS_PER_PAGE)
    return HordeJSONResponse(RawJSON(ctx.renderer.page_json(found, ctx.now())))


@_store_work
def get_user(
    request: Request,
    user_id: str = Path(description=_USER_ID_DOC),
    apikey: str | None = Header(None, description=_APIKEY_DOC),
) -> Response:
    if not rules.is_digit_id(user_id):
        return _error_response(rules.user_not_found(rules.NOT_DIGITS_ID))
    ctx = _ctx(request)
    found = service.view_user(ctx.store, apikey, user_id)
    if isinstance(found, ApiError):
        return _error_response(found)
    target, level = found
    return HordeJSONResponse(ctx.renderer.user(target, level, ctx.now()))


@_store_work
def modify_user(
    request: Request,
    user_id: str = Path(description=_USER_ID_DOC),
    apikey: str | None = Header(None, description="An admin's, a moderator's or the user's API key."),
    body: bytes = Depends(_raw_body),
) -> Response:
    ctx = _ctx(request)
    try:
        parsed = validation.parse_json_body(request.headers.get("content-type"), body)
    except validation.UnreadableBody:
        return _error_response(rules.unreadable_body())
    values = validation.validate_modify_body(parsed, sanitise)
    if isinstance(values, ApiError):
        return _error_response(values)
    outcome = service.modify_user(
        ctx.store, apikey, user_id, values, admins=ctx.admin_set, profanity=ctx.profanity
    )
    if isinstance(outcome, ApiError):
        return _error_response(outcome)
    return HordeJSONResponse(render_modify(outcome))


@_store_work
def delete_user(
    request: Request,
    user_id: str = Path(description=_USER_ID_DOC),
    apikey: str | None = Header(None, description="The moderator's or the user's API key."),
) -> Response:
    if not rules.is_digit_id(user_id):
        return _error_response(rules.user_not_found(rules.NOT_DIGITS_ID))
    ctx = _ctx(request)
    outcome = service.delete_user(ctx.store, apikey, user_id, ctx.now())
    if isinstance(outcome, ApiError):
        return _error_response(outcome)
    return HordeJSONResponse({"message": "OK"})


@_store_work
def find_user(
    request: Request,
    apikey: str | None = Header(None, description="The API key or shared key to look up."),
) -> Response:
    key = service.present_key(apikey)
    if key is None:
        return _error_response(rules.rc_error("InvalidAPIKey"))
    ctx = _ctx(request)
    found = service.find_user(ctx.store, key)
    if isinstance(found, ApiError):
        return _error_response(found)
    user, level, shown_name = found
    return HordeJSONResponse(ctx.renderer.user(user, level, ctx.now(), username=shown_name))


@_store_work
def create_test_user(request: Request, body: bytes = Depends(_raw_body)) -> Response:
    ctx = _ctx(request)
    if not ctx.test_user_enabled():
        return HordeJSONResponse({"message": "Not Found"}, status_code=404)
    peer = request.client.host if request.client is not None else None
    if peer not in LOOPBACK:
        return HordeJSONResponse({"message": "Forbidden"}, status_code=403)
    try:
        parsed = validation.parse_json_body(request.headers.get("content-type"), body)
    except validation.UnreadableBody:
        parsed = {}
    wanted = validation.validate_test_user_body(parsed, sanitise, ctx.profanity.is_profane)
    if isinstance(wanted, ApiError):
        return _error_response(wanted)
    result = ctx.store.upsert_test_user(
        username=wanted.username,
        oauth_id=wanted.oauth_id,
        moderator=wanted.moderator,
        trusted=wanted.trusted,
        kudos=wanted.kudos,
    )
    user = result.user
    payload = {
        "alias": user.alias,
        "api_key": result.api_key,
        "created": result.created,
        "kudos": int(user.kudos),
        "moderator": user.moderator,
        "trusted": user.trusted,
        "user_id": str(user.id),
        "username": user.username,
    }
    return HordeJSONResponse(payload, status_code=201 if result.created else 200)


async def heartbeat() -> Response:
    return HordeJSONResponse({"message": "OK", "version": __version__})


def _endpoints() -> dict[tuple[str, str], tuple[Callable[..., Any], dict[str, Any]]]:
    """Each route's endpoint and OpenAPI options by ``(route name, method)`` (the models load here)."""
    from horde_users.models import (
        DeleteUserResponse,
        ListUsersDetailsResponse,
        ModifyUserResponse,
        UserDetailsResponse,
    )

    return {
        ("users", "GET"): (
            list_users,
            {
                "summary": "List users (25 per page, public view)",
                "responses": _responses(ListUsersDetailsResponse, 400, 429),
                "tags": ["v2"],
            },
        ),
        ("user", "GET"): (
            get_user,
            {
                "summary": "One user; the view depends on who asks",
                "responses": _responses(UserDetailsResponse, 401, 404, 429),
                "tags": ["v2"],
            },
        ),
        ("user", "PUT"): (
            modify_user,
            {
                "summary": "Change a user (admin, moderator or owner)",
                "responses": _responses(ModifyUserResponse, 400, 401, 403, 404, 429),
                "openapi_extra": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": validation.modify_body_json_schema()}},
                    }
                },
                "tags": ["v2"],
            },
        ),
        ("user", "DELETE"): (
            delete_user,
            {
                "summary": "Soft delete a user, or wipe a deleted one",
                "responses": _responses(DeleteUserResponse, 400, 401, 403, 404, 429),
                "tags": ["v2"],
            },
        ),
        ("find_user", "GET"): (
            find_user,
            {
                "summary": "The user that owns the sent API key (or shared key)",
                "responses": _responses(UserDetailsResponse, 401, 404, 429),
                "tags": ["v2"],
            },
        ),
        ("test_user", "POST"): (
            create_test_user,
            {
                "name": "test_user",  # its OpenAPI operationId (a function named test_* looks like a test)
                "summary": "Create or update a user with a known key (test tooling, loopback only)",
                "status_code": 201,
                "responses": {
                    200: {"description": "Existing user updated"},
                    400: {"description": "Bad body"},
                    403: {"description": "Not a loopback caller"},
                    404: {"description": "Endpoint disabled"},
                    429: {"description": "Rate limited"},
                },
                "openapi_extra": {
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": validation.dev_user_body_json_schema()}},
                    }
                },
                "tags": ["dev"],
            },
        ),
        ("heartbeat", "GET"): (
            heartbeat,
            {
                "summary": "Liveness",
                "tags": ["v2"],
            },
        ),
    }


def _add_routes(app: FastAPI) -> None:
    """Register every route of :data:`~horde_users.sandbox.routes.ROUTES` with its endpoints, in the
    table's order (which is the OpenAPI document's)."""
    endpoints = _endpoints()
    for spec in routes.ROUTES:
        for method in routes.ordered(spec.methods):
            endpoint, options = endpoints.pop((spec.name, method))
            app.add_api_route(spec.path, endpoint, methods=[method], response_model=None, **options)
    if endpoints:
        raise RuntimeError(f"endpoints without a route: {sorted(endpoints)}")


# -------------------------------------------------------------------------------- the factory


def _allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405: the methods of the route whose path matches, OPTIONS included."""
    spec = routes.match(request.scope["path"])
    return routes.allow_header(spec.methods if spec is not None else frozenset())


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return HordeJSONResponse({"message": "Not Found"}, status_code=404)
        if exc.status_code == 405:
            headers = dict(exc.headers or {})
            headers["Allow"] = _allowed_methods(request)
            return HordeJSONResponse(
                {"message": "The method is not allowed for the requested URL."},
                status_code=405,
                headers=headers,
            )
        return HordeJSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)

    async def validation_failed(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = [
                str(part) for part in err.get("loc", ()) if part not in ("body", "query", "header", "path")
            ]
            errors[".".join(loc)] = str(err.get("msg", "invalid"))
        return _error_response(rules.validation_error(errors))

    async def server_fault(_request: Request, exc: Exception) -> Response:
        logger.error("unhandled error in the sandbox: %s", type(exc).__name__)
        return HordeJSONResponse({"message": "Internal Server Error"}, status_code=500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(Exception, server_fault)


def _install_openapi(app: FastAPI) -> None:
    """The sandbox's own OpenAPI document, without FastAPI's unused 422 answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if isinstance(operation, dict):
                        operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    *,
    database: str | None = None,
    admins: Sequence[str] = (),
    rate_limits: bool = True,
    test_user_endpoint: bool = False,
    profanity_words: Iterable[str] | None = None,
    store: SandboxStore | None = None,
    clock: Clock | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    dev_endpoints: bool = False,
    devtools: DevTools | None = None,
) -> FastAPI:
    """The sandbox as an ASGI app.

    ``database``: a SQLAlchemy URL or a SQLite file path (None: in memory); ignored when ``store`` is
    given. ``admins``: aliases (``name#id``) that are admins, on top of ``ADMINS`` and seeded admins.
    ``rate_limits``: the real server's limits (§4.6). ``test_user_endpoint``: enable
    ``POST /api/v2/dev/test-user`` (also enabled by ``HORDE_TEST_APIKEYS``). ``profanity_words``:
    replaces the default profanity word list. ``clock``: the time in Unix seconds (account ages, the
    30-day wipe rule, dates the store records, rate-limit windows); default the given store's clock,
    else real time. ``lock_timeout``: seconds a request waits while another program holds a SQLite
    database's lock (other requests are served meanwhile); then it answers 503 with ``Retry-After``.
    ``dev_endpoints``: serve the development endpoints under ``/api/v2/dev/`` (faults, the request log,
    the clock, reset/snapshot/restore, users; the test-user endpoint too), never on by default.
    ``devtools``: the faults, log and clock to use (default new ones); ``app.state.devtools`` either way.
    Without a clock, the sandbox's is a :class:`~horde_users.sandbox.clock.MovableClock` on real time.
    """
    if clock is None:
        clock = store.clock if store is not None else MovableClock()
    the_store = store if store is not None else SandboxStore(database, clock=clock)
    test_user_endpoint = test_user_endpoint or dev_endpoints
    app = FastAPI(
        title="horde-users sandbox",
        version=__version__,
        description="A local stand-in for the AI Horde v2 users API (see docs/users-api.md in horde-users).",
        openapi_url="/api/openapi.json",
        docs_url=None,  # FastAPI's Swagger UI page loads its assets from a CDN; the JSON stays
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.sandbox = SandboxContext(
        store=the_store,
        admins=frozenset(admins),
        test_user_endpoint=test_user_endpoint,
        profanity=ProfanityFilter(profanity_words),
        inline=the_store.dialect == "sqlite",
        clock=clock,
        lock_timeout=lock_timeout,
        renderer=UserRenderer(),
    )
    _add_routes(app)
    _install_error_handlers(app)
    _install_openapi(app)
    install_edge_middleware(
        app,
        rate_limits=rate_limits,
        proxy_passkey_owner_is_service=the_store.proxy_passkey_owner_is_service,
        clock=clock,
    )
    tools = devtools if devtools is not None else DevTools(store=the_store, clock=clock)
    tools.limiter = app.state.rate_limiter
    app.state.devtools = tools
    app.add_middleware(TestDoubleMiddleware, tools=tools, dev_endpoints=dev_endpoints)  # the outermost
    return app
