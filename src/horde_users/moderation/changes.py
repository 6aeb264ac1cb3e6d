"""Journaled changes: modify, delete and undelete a user with an entry written before and after.

Each change runs the same steps: find the actor (the key's own account), insist on a reason when the
target is someone else, read the target's view, record the entry (``pending``), send, read the view
again, and complete the entry (``done``, ``refused`` or ``unknown``). Nothing is sent when any step
before the send fails, and nothing is sent unless its entry was written first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from pydantic import BaseModel, ValidationError

from horde_users._core import invalid_request
from horde_users.errors import HordeError, InvalidRequestError
from horde_users.models.users import DeleteUserResponse, ModifyUser, ModifyUserResponse, UserDetailsResponse
from horde_users.moderation.errors import ModerationError
from horde_users.moderation.journal import Action, Journal, JournalEntry, Outcome

if TYPE_CHECKING:
    from horde_users.client import HordeUsers

ChangeReply = Union[ModifyUserResponse, DeleteUserResponse]  # noqa: UP007 - a runtime alias on 3.10


class ReasonRequired(ModerationError):
    """A change to another account than the caller's own needs a reason; nothing was sent."""


@dataclass(frozen=True)
class Actor:
    """The account that owns the client's key: who the journal says made a change."""

    id: int
    name: str
    moderator: bool

    @classmethod
    def of(cls, client: HordeUsers) -> Actor:
        """Ask the server who owns the client's key (``find_user``)."""
        user = client.find_user()
        return cls(id=user.id_ or 0, name=user.username or f"#{user.id_}", moderator=bool(user.moderator))


@dataclass(frozen=True)
class ChangeResult:
    """A sent change: its completed entry, and the server's reply or the error it raised."""

    entry: JournalEntry
    reply: ChangeReply | None = None
    error: HordeError | None = None

    def unwrap(self) -> ChangeReply:
        """The reply; re-raises the client's error when the change was refused or its outcome is unknown."""
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


CREDENTIALS = frozenset({"proxy_passkey", "sharedkey_ids"})
"""Members of a view or reply that are credentials: never stored in the journal."""


def view_data(model: BaseModel | None) -> dict[str, Any] | None:
    """A view or reply as stored in the journal: wire names, no nulls, no credentials."""
    if model is None:
        return None
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {name: value for name, value in data.items() if name not in CREDENTIALS}


def error_data(error: HordeError) -> dict[str, Any]:
    """What the journal keeps of a failure: status, ``rc``, message and field errors (already redacted)."""
    return {
        "status": getattr(error, "status_code", None),
        "rc": getattr(error, "rc_name", None),
        "message": error.message,
        "errors": getattr(error, "errors", None),
        "type": type(error).__name__,
    }


def require_reason(actor: Actor, user_id: int, reason: str | None) -> str | None:
    """The reason, stripped; :class:`ReasonRequired` when it is missing for someone else's account."""
    text = (reason or "").strip() or None
    if text is None and user_id != actor.id:
        raise ReasonRequired(
            f"a reason is required to change another account than your own ({actor.name}): give --reason"
        )
    return text


def send_change(
    client: HordeUsers,
    journal: Journal,
    user_id: int | str,
    action: Action,
    changes: ModifyUser | dict[str, Any] | None = None,
    *,
    reason: str | None,
    actor: Actor | None = None,
    undoes: int | None = None,
    bulk_key: str | None = None,
) -> ChangeResult:
    """Send one change, journaled; the result holds the completed entry and the reply or error.

    Raises before anything is sent (and before anything is journaled): ``InvalidRequestError`` (a
    ``ValueError``) for invalid or empty changes, :class:`ReasonRequired`, the client's error when
    the actor or the target cannot be read, :class:`DatabaseError` when the journal cannot be
    written. A refusal or an unknown outcome is not raised here: it is in the result (``error``)
    and in the entry.
    """
    uid = int(user_id)
    body: dict[str, Any] = {}
    if action == "modify":
        body = _modify_body(changes)
    elif action == "undelete":
        body = {"undelete": True}
    actor = actor or Actor.of(client)
    text = require_reason(actor, uid, reason)
    before = client.get_user(uid)
    entry = journal.begin(
        action=action,
        actor_id=actor.id,
        actor=actor.name,
        user_id=uid,
        user_name=before.username,
        reason=text,
        changes=body,
        before=view_data(before),
        undoes=undoes,
        bulk_key=bulk_key,
    )
    try:
        reply: ChangeReply = (
            client.delete_user(uid) if action == "delete" else client.modify_user(uid, **body)
        )
    except HordeError as error:
        outcome: Outcome = "unknown" if error.outcome_unknown else "refused"
        done = journal.complete(entry.id, outcome, after=_read_after(client, uid), error=error_data(error))
        return ChangeResult(done, error=error)
    except BaseException:
        journal.complete(entry.id, "unknown", error={"message": "interrupted before the answer came"})
        raise
    after = None
    try:
        after = _read_after(client, uid)
    finally:
        done = journal.complete(entry.id, "done", reply=view_data(reply), after=after)
    return ChangeResult(done, reply=reply)


def _modify_body(changes: ModifyUser | dict[str, Any] | None) -> dict[str, Any]:
    """The PUT body of ``changes``; ``InvalidRequestError`` naming each problem, or when it is empty."""
    try:
        payload = changes if isinstance(changes, ModifyUser) else ModifyUser.model_validate(changes or {})
    except ValidationError as error:
        raise invalid_request(error) from error
    body = payload.get_changes()
    if not body:
        raise InvalidRequestError("a change needs at least one field")
    return body


def _read_after(client: HordeUsers, uid: int) -> dict[str, Any] | None:
    """The view after a change, or None when it cannot be read (a wiped user answers 404)."""
    try:
        view: UserDetailsResponse = client.get_user(uid)
    except HordeError:
        return None
    return view_data(view)


def apply_change(
    client: HordeUsers,
    journal: Journal,
    user_id: int | str,
    changes: ModifyUser | dict[str, Any],
    *,
    reason: str | None,
    actor: Actor | None = None,
) -> JournalEntry:
    """Send a PUT of ``changes`` (ModifyUser fields), journaled; returns the completed entry."""
    return send_change(client, journal, user_id, "modify", changes, reason=reason, actor=actor).entry


def delete_user(
    client: HordeUsers,
    journal: Journal,
    user_id: int | str,
    *,
    reason: str | None,
    actor: Actor | None = None,
) -> JournalEntry:
    """Delete a user, journaled (a second delete of an inactive deleted user wipes it for good)."""
    return send_change(client, journal, user_id, "delete", reason=reason, actor=actor).entry


def undelete_user(
    client: HordeUsers,
    journal: Journal,
    user_id: int | str,
    *,
    reason: str | None,
    actor: Actor | None = None,
) -> JournalEntry:
    """Undelete a soft-deleted user, journaled."""
    return send_change(client, journal, user_id, "undelete", reason=reason, actor=actor).entry
