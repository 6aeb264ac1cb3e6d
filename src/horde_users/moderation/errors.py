"""The moderation toolkit's own errors, all under :class:`horde_users.HordeError`."""

from __future__ import annotations

from horde_users.errors import HordeError


class ModerationError(HordeError):
    """Base class of the moderation toolkit's errors (a local problem, not a server answer).

    ``refusal`` is true for errors that refuse what was asked for good (a key without the role, an
    undo that cannot be done), false for problems the person can fix here (a path, a filter, a
    missing reason); ``hint`` says what to do next, when there is something to say.
    """

    refusal: bool = False
    hint: str | None = None


class DatabaseError(ModerationError):
    """The index and journal database cannot be opened, created or written."""
