"""A local AI Horde users server that behaves like the real one (docs/users-api.md), for tests and demos.

``with Sandbox() as sb:`` runs it on a free loopback port; ``sb.url`` is the base URL for a client and
``sb.create_user(...)`` seeds it. ``create_app(...)`` gives the ASGI app, ``serve(...)`` runs it in the
foreground, ``SandboxStore`` is its database.

Importing this package is cheap: FastAPI, uvicorn and SQLAlchemy load on first use of a name (PEP 562),
so the pytest plugin, registered for every pytest session, costs nothing until a fixture is used. They
need the ``sandbox`` extra: without it, the first use raises :class:`horde_users.MissingExtraError`
(an ImportError) naming ``pip install 'horde-users[sandbox]'``, and the plugin still loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from horde_users._extras import require

if TYPE_CHECKING:
    from horde_users.sandbox.app import create_app
    from horde_users.sandbox.server import Sandbox, serve
    from horde_users.sandbox.store import SandboxStore, SeededUser

__all__ = ["Sandbox", "SandboxStore", "SeededUser", "create_app", "serve"]

_WHERE = {
    "Sandbox": "horde_users.sandbox.server",
    "serve": "horde_users.sandbox.server",
    "create_app": "horde_users.sandbox.app",
    "SandboxStore": "horde_users.sandbox.store",
    "SeededUser": "horde_users.sandbox.store",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("sandbox")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
