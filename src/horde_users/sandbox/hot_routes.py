"""The busiest routes without FastAPI's routing and parameter machinery (about a third of their time).

:class:`HotRoutes` sits just inside the edge middleware. A request for one of its ``(route, method)``
pairs is answered by the route's own endpoint function (:mod:`~horde_users.sandbox.app`), called with
the parameters FastAPI would pass: the path segment, the first ``apikey`` header, the last value of a
query parameter, the body. Every other request, and everything FastAPI adds (405, 404, the OpenAPI
document), goes on to FastAPI unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from horde_users.sandbox import routes

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HotHandler", "HotRoutes", "first_header"]

HotHandler = Callable[[Request, str], Awaitable[Response]]
"""An endpoint's fast form: the request and the route's path parameter (``""`` when it has none)."""


def first_header(request: Request, name: bytes) -> str | None:
    """The first value of header ``name`` (lowercase), as FastAPI reads a ``Header()`` parameter."""
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HotRoutes:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, *, handlers: Mapping[tuple[str, str], HotHandler]) -> None:
        self.app = app
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            route = routes.match(path)
            if route is not None:
                handler = self.handlers.get((route.name, scope["method"]))
                if handler is not None:
                    parameter = path[route.path.index("{") :] if "{" in route.path else ""
                    response = await handler(Request(scope, receive), parameter)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
