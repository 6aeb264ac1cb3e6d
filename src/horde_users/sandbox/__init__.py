"""A local AI Horde users server that behaves like the real one (users-api.md), for tests and demos.

``with Sandbox() as sb:`` runs it on a free loopback port; ``sb.url`` is the base URL for a client and
``sb.create_user(...)`` seeds it. ``create_app(...)`` gives the ASGI app, ``serve(...)`` runs it in the
foreground.
"""

from __future__ import annotations

from horde_users.sandbox.app import create_app
from horde_users.sandbox.server import Sandbox, serve
from horde_users.sandbox.store import SandboxStore, SeededUser

__all__ = ["Sandbox", "SandboxStore", "SeededUser", "create_app", "serve"]
