"""Where the API lives: base URL, paths, HTTP methods and the constants every request needs."""

from __future__ import annotations

import os
from enum import Enum

from horde_users._version import __version__

DEFAULT_BASE_URL = "https://aihorde.net/api"
"""The public AI Horde server, including the `/api` prefix."""

ANON_API_KEY = "0000000000"
"""The well-known key of the built-in Anonymous user (id 0)."""

PROJECT_URL = "https://pypi.org/project/horde-users/"
"""Where people can find this package; the contact part of the default Client-Agent."""

ENV_BASE_URL = "AI_HORDE_URL"
ENV_API_KEY = "AI_HORDE_API_KEY"

MAX_USER_ID = 2147483647
"""The largest user id the server accepts (a signed 32-bit integer)."""

USERS_PER_PAGE = 25
"""How many users one page of `GET /v2/users` holds."""

MAX_PAGE = 10000
"""Pages above this are always empty: the server answers `[]` without looking."""


class HTTPMethod(str, Enum):
    """The HTTP methods (verbs) of the users API."""

    GET = "GET"
    PUT = "PUT"
    POST = "POST"
    DELETE = "DELETE"


class AI_HORDE_API_ENDPOINT_SUBPATH(str, Enum):
    """Paths of the users API, relative to the base URL (which ends in `/api`)."""

    v2_users_all = "/v2/users"
    v2_users_single = "/v2/users/{user_id}"
    v2_find_user = "/v2/find_user"


def default_client_agent() -> str:
    """The `Client-Agent` sent when the caller sets none: `name:version:contact`."""
    return f"horde-users:{__version__}:{PROJECT_URL}"


def resolve_base_url(explicit: str | None = None) -> str:
    """The base URL to use: the argument, else `AI_HORDE_URL`, else the public server; no trailing slash."""
    url = explicit or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(explicit: str | None = None) -> str:
    """The API key to use: the argument, else `AI_HORDE_API_KEY`, else the anonymous key."""
    return explicit or os.environ.get(ENV_API_KEY) or ANON_API_KEY
