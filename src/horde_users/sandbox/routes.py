"""The sandbox's routes (docs/users-api.md §1.1) in one table: the app registers its endpoints from it and
the edge middleware matches paths, answers preflights and applies rate limits (§4.6) from it.

Plain data and string checks, cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

API_PREFIX = "/api"
_METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS")


def ordered(methods: set[str] | frozenset[str]) -> list[str]:
    """The methods in the real server's order (GET, PUT, POST, DELETE, HEAD, OPTIONS)."""
    return [m for m in _METHOD_ORDER if m in methods]


def allow_header(methods: set[str] | frozenset[str]) -> str:
    """An ``Allow`` value: the methods (HEAD with GET, OPTIONS always) in the real server's order."""
    return ", ".join(ordered(set(methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())))


@dataclass(frozen=True)
class RouteSpec:
    """One route: its path (``{name}`` is one non-empty path segment), methods and rate limit."""

    name: str
    path: str
    methods: frozenset[str]
    limit: int | None = None
    """Requests per minute, or None when not rate limited."""
    per_path: bool = False
    """Bucket ``<address>@<METHOD>@<path>`` (``/users/{id}``) instead of one per address and route."""
    allow: bytes = field(init=False)
    """The ``Allow`` header of its preflight."""
    limited_methods: frozenset[str] = field(init=False)
    """The methods counted by the rate limit (HEAD with GET)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow", allow_header(self.methods).encode("ascii"))
        counted = self.methods | ({"HEAD"} if "GET" in self.methods else set())
        limited = frozenset(counted) if self.limit is not None else frozenset()
        object.__setattr__(self, "limited_methods", limited)

    @property
    def serves_get(self) -> bool:
        """Whether the route answers GET (and so HEAD)."""
        return "GET" in self.methods


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("users", "/api/v2/users", frozenset({"GET"}), 90),
    RouteSpec("user", "/api/v2/users/{user_id}", frozenset({"GET", "PUT", "DELETE"}), 60, per_path=True),
    RouteSpec("find_user", "/api/v2/find_user", frozenset({"GET"}), 90),
    RouteSpec("test_user", "/api/v2/dev/test-user", frozenset({"POST"}), 90),
    RouteSpec("heartbeat", "/api/v2/status/heartbeat", frozenset({"GET"})),
)
ROUTES_BY_NAME = {route.name: route for route in ROUTES}

_STATIC = {route.path: route for route in ROUTES if "{" not in route.path}
#: Routes ending in one parameter segment, by the path before it (``/api/v2/users/``).
_ONE_PARAMETER = {route.path[: route.path.index("{")]: route for route in ROUTES if "{" in route.path}
if any(path.count("{") > 1 or not path.endswith("}") for path in (r.path for r in _ONE_PARAMETER.values())):
    raise RuntimeError("a route parameter must be the path's one last segment")


def match(path: str) -> RouteSpec | None:
    """The route a (percent-decoded) path belongs to, if any; plain string checks, no regex."""
    route = _STATIC.get(path)
    if route is not None:
        return route
    for prefix, candidate in _ONE_PARAMETER.items():
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            if rest and "/" not in rest:
                return candidate
    return None
