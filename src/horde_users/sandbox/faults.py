"""Faults on demand: answers the sandbox gives instead of the real one, for the next matching requests.

A fault is checked before the request reaches the application (and before rate limits), so it never
changes stored data; once it is spent (``times``) or cleared, real behaviour resumes exactly.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from horde_users.sandbox import routes
from horde_users.sandbox.routes import RouteSpec

__all__ = ["DROP_EXTENSION", "Fault", "FaultSet", "PathPattern", "resolve_path"]

DROP_EXTENSION = "horde_users.drop_connection"
"""The ASGI scope extension (a callable) the sandbox's server sets: it closes the request's connection
without an answer (uvicorn's protocol in connections.py sets it)."""

_PARAMETER = re.compile(r"\{[^/{}]*\}")


@dataclass(frozen=True)
class PathPattern:
    """A path the sandbox serves: a route (``/v2/users/{id}``) or one concrete path (``/v2/users/3``)."""

    route: RouteSpec
    exact: str | None
    """The one path matched, or None for every path of the route."""

    def matches(self, path: str) -> bool:
        if self.exact is not None:
            return path == self.exact
        return routes.match(path) is self.route


def resolve_path(path: str) -> PathPattern:
    """The pattern ``path`` names (``/api`` may be left out); ValueError for a path not served."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"a path starts with '/', like /v2/users/{{id}}; got {path!r}")
    full = (
        path
        if path == routes.API_PREFIX or path.startswith(routes.API_PREFIX + "/")
        else routes.API_PREFIX + path
    )
    if "{" in full or "}" in full:
        shape = _PARAMETER.sub("{}", full)
        for route in routes.ROUTES:
            if _PARAMETER.sub("{}", route.path) == shape:
                return PathPattern(route, None)
    else:
        found = routes.match(full)
        if found is not None:
            return PathPattern(found, full)
    served = ", ".join(r.path.removeprefix(routes.API_PREFIX) for r in routes.ROUTES)
    raise ValueError(f"the sandbox does not serve {path!r}; its paths are {served}")


def _check_number(name: str, value: float | None, *, allow_zero: bool = True) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'0 or more' if allow_zero else 'above 0'}")


@dataclass
class Fault:
    """One fault; see :meth:`FaultSet.add`. ``remaining`` is None for "every matching request"."""

    id: int
    method: str
    path: str
    pattern: PathPattern = field(repr=False)
    status: int | None
    body: Any = field(repr=False)
    rc: str | None
    retry_after: float | None
    delay: float | None
    drop: bool
    remaining: int | None
    api_key: str | None = field(default=None, repr=False)
    hits: int = 0
    """Requests this fault has answered so far."""

    def matches(self, method: str, path: str, api_key: str | None) -> bool:
        wanted = "GET" if method == "HEAD" else method
        if self.method != wanted or not self.pattern.matches(path):
            return False
        return self.api_key is None or self.api_key == api_key

    def response(self) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """The status, JSON body and extra headers to answer with, or None to answer normally."""
        import json

        from horde_users.sandbox import rules

        status = self.status
        body: Any = self.body
        if self.rc is not None:
            error = rules.rc_error(self.rc)
            status = status if status is not None else error.status
            body = error.body() if body is None else body
        if status is None and self.retry_after is not None:
            status = 429
        if status is None:
            return None
        if body is None:
            body = {"message": _default_message(status, self.retry_after)}
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode() + b"\n"
        headers = [(b"content-type", b"application/json; charset=utf-8")]
        if self.retry_after is not None:
            headers.append((b"retry-after", f"{self.retry_after:g}".encode()))
        return status, data, headers

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (the API key it is limited to is never shown, only that it is)."""
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "body": self.body,
            "rc": self.rc,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "drop": self.drop,
            "times": self.remaining,
            "for_one_api_key": self.api_key is not None,
            "hits": self.hits,
        }


def _default_message(status: int, retry_after: float | None) -> str:
    from http import HTTPStatus

    if status == 429 and retry_after is not None:
        return "Too many requests; retry after the time in Retry-After"
    try:
        return HTTPStatus(status).phrase or "Injected fault"
    except ValueError:
        return "Injected fault"


class FaultSet:
    """The sandbox's faults, thread-safe: tests add them from their thread, the server reads them."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        body: Any = None,
        rc: str | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int | None = None,
        api_key: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` (None: all) ``method`` requests on ``path`` with a fault.

        ``path``: a route pattern such as ``/v2/users/{id}`` or one concrete path (``/v2/users/3``);
        ``/api`` may be left out; a path the sandbox does not serve is a ValueError. The fault answers
        ``status`` with ``body`` (JSON; a str is sent as it is), or ``rc``'s error (its status and
        message, docs/users-api.md §3.3); ``retry_after`` adds ``Retry-After`` (a 429 when no status is
        given); ``delay`` waits that many seconds first (then answers normally unless a status is
        given); ``drop`` closes the connection without an answer. ``api_key``: only requests sending it.
        """
        from horde_users.sandbox import rules

        pattern = resolve_path(path)
        served = pattern.route.methods | ({"HEAD"} if pattern.route.serves_get else set())
        if not isinstance(method, str) or method.upper() not in served:
            answers = ", ".join(routes.ordered(pattern.route.methods))
            raise ValueError(f"{path!r} answers {answers}, not {method!r}")
        method = "GET" if method.upper() == "HEAD" else method.upper()
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            raise ValueError("status must be an HTTP status code (100 to 599)")
        if rc is not None and (not isinstance(rc, str) or rc not in rules._MESSAGES):
            raise ValueError(f"unknown rc {rc!r}")
        _check_number("retry_after", retry_after)
        _check_number("delay", delay)
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times must be a whole number, 1 or more (None: every matching request)")
        if not isinstance(drop, bool):
            raise ValueError("drop must be true or false")
        if drop and (status is not None or rc is not None or body is not None or retry_after is not None):
            raise ValueError(
                "a dropped connection sends no answer: drop takes no status, body, rc or retry_after"
            )
        if not drop and status is None and rc is None and retry_after is None and delay is None:
            raise ValueError("a fault needs a status, an rc, retry_after, delay or drop")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ValueError("api_key must be a non-empty string")
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                method=method,
                path=path,
                pattern=pattern,
                status=status,
                body=body,
                rc=rc,
                retry_after=retry_after,
                delay=delay,
                drop=drop,
                remaining=times,
                api_key=api_key,
            )
            self._faults.append(fault)
        return fault

    def add_many(self, specs: Any) -> list[Fault]:
        """Add faults given as dicts of :meth:`add`'s arguments or tuples ``(method, path[, options])``."""
        added = []
        for spec in specs:
            if isinstance(spec, Mapping):
                added.append(self.add(**spec))
            elif isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
                options = spec[2] if len(spec) == 3 else {}
                if not isinstance(options, Mapping):
                    raise ValueError("a fault tuple is (method, path) or (method, path, {options})")
                added.append(self.add(spec[0], spec[1], **options))
            else:
                raise ValueError(
                    f"a fault is a dict of add()'s arguments or a (method, path, {{...}}) tuple: {spec!r}"
                )
        return added

    def clear(self) -> None:
        """Remove every fault: real behaviour resumes."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        """The faults not yet spent, oldest first."""
        with self._lock:
            return list(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._faults)

    def take(self, method: str, path: str, api_key: str | None) -> Fault | None:
        """The first fault matching this request, counted as used (a spent one is removed)."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, api_key):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
