"""The moderation toolkit's own errors, all under :class:`horde_users.HordeError`."""

from __future__ import annotations

from horde_users.errors import HordeError


class ModerationError(HordeError):
    """Base class of the moderation toolkit's errors (a local problem, not a server answer)."""


class DatabaseError(ModerationError):
    """The index and journal database cannot be opened, created or written."""
