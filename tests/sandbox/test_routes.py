"""The one route table: what the edge matches is what the app serves (docs/users-api.md §1.1, §4.6)."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from horde_users.sandbox import create_app
from horde_users.sandbox.routes import ROUTES, ROUTES_BY_NAME, allow_header, match


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v2/users", "users"),
        ("/api/v2/users/3", "user"),
        ("/api/v2/users/alice#3", "user"),
        ("/api/v2/find_user", "find_user"),
        ("/api/v2/dev/test-user", "test_user"),
        ("/api/v2/status/heartbeat", "heartbeat"),
        ("/api/v2/users/", None),
        ("/api/v2/users/3/x", None),
        ("/api/v2/users3", None),
        ("/api/v2/user", None),
        ("/v2/users", None),
        ("/api/v2/status/heartbeat/", None),
    ],
)
def test_paths_match_their_route(path: str, name: str | None) -> None:
    route = match(path)
    assert (route.name if route is not None else None) == name


def test_allow_headers_list_head_with_get_and_options_always() -> None:
    assert ROUTES_BY_NAME["user"].allow == b"GET, PUT, DELETE, HEAD, OPTIONS"
    assert ROUTES_BY_NAME["test_user"].allow == b"POST, OPTIONS"
    assert allow_header(frozenset()) == "OPTIONS"


def test_rate_limits_count_head_with_get_and_skip_unlimited_routes() -> None:
    assert ROUTES_BY_NAME["users"].limited_methods == {"GET", "HEAD"}
    assert ROUTES_BY_NAME["user"].limited_methods == {"GET", "HEAD", "PUT", "DELETE"}
    assert ROUTES_BY_NAME["heartbeat"].limited_methods == frozenset()


def test_the_app_serves_exactly_the_table() -> None:
    app = create_app(rate_limits=False)
    served = {
        (route.path, method)
        for route in app.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert served == {(spec.path, method) for spec in ROUTES for method in spec.methods}
    for path, _method in served:
        concrete = path.replace("{user_id}", "7")
        assert match(concrete) is not None
