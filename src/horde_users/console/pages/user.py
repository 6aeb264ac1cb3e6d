"""The user page: the privileged view, this user's journal, and changes behind a confirm step.

Every change is two requests: *review* checks the form and shows the diff (nothing is sent), *apply*
re-reads the account, recomputes the same diff and sends it with the reason, journaled. Delete and
undelete have their own confirm page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from horde_users.console import toolkit
from horde_users.console.context import Console, describe_error
from horde_users.console.fields import (
    BY_NAME,
    EditableField,
    FormError,
    allowed_fields,
    current_value,
    encode_changes,
    parse_changes,
)
from horde_users.console.views import entry_rows, show, user_groups
from horde_users.console.web import console_of, render, require_csrf
from horde_users.models import UserDetailsResponse

ResponseT = TypeVar("ResponseT", bound=Response)

router = APIRouter(dependencies=[Depends(require_csrf)])

ACTIONS = ("modify", "delete", "undelete")
REASON_MIN = 3


def _user_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _load(console: Console, user_id: int) -> UserDetailsResponse:
    return console.client.get_user(user_id)


def _editable(console: Console, user: UserDetailsResponse) -> list[EditableField]:
    me = console.me()
    return allowed_fields(moderator=bool(me.moderator), owner=me.id_ == user.id_, admin=console.config.admin)


def _failure(request: Request, console: Console, exc: Exception, user_id: int | None = None) -> HTMLResponse:
    from pydantic import ValidationError

    from horde_users.errors import HordeAPIError, HordeConnectionError, NotFoundError

    title, status = "Something went wrong", 500
    if isinstance(exc, NotFoundError):
        title, status = "No such user", 404
    elif isinstance(exc, HordeAPIError):
        title, status = "The server refused", 502
    elif isinstance(exc, HordeConnectionError):
        title, status = "Cannot reach the server", 503
    elif isinstance(exc, (ValidationError, ValueError)):
        title, status = "Not a valid change", 400
    return render(
        request,
        "message.html",
        {
            "title": title,
            "text": describe_error(console, exc),
            "tone": "error",
            "back": f"/users/{user_id}" if user_id is not None and status != 404 else "/",
        },
        status_code=status,
    )


@router.get("/users", response_class=HTMLResponse)
def go_to_user(request: Request, id: str = "") -> Response:
    """The "open user by id" box: a redirect to that user's page."""
    user_id = _user_id(id.strip().lstrip("#"))
    if user_id is None:
        return _not_found(request)
    return RedirectResponse(f"/users/{user_id}", status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: str, done: str = "") -> HTMLResponse:
    console = console_of(request)
    uid = _user_id(user_id)
    if uid is None:
        return _not_found(request)
    try:
        user = _load(console, uid)
        fields = _editable(console, user)
    except Exception as exc:
        return _failure(request, console, exc, uid)
    return _user_view(request, console, user, fields, done=done if done.isdigit() else "")


def _user_view(
    request: Request,
    console: Console,
    user: UserDetailsResponse,
    fields: list[EditableField],
    *,
    done: str = "",
    errors: list[str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    uid = int(user.id_ or 0)
    me = console.cached_me()
    return render(
        request,
        "user.html",
        {
            "title": user.username or f"User {uid}",
            "section": "search",
            "user": user,
            "groups": user_groups(user),
            "field_groups": _field_groups(user, fields),
            "show": show,
            "form": form or {},
            "errors": errors or [],
            "done": done,
            "entries": _journal_rows(console, uid),
            "can_delete": bool(me and (me.moderator or me.id_ == uid)) and not user.deleted,
            "can_undelete": bool(me and (me.moderator or me.id_ == uid)) and bool(user.deleted),
            "reason_min": REASON_MIN,
        },
        status_code=status_code,
    )


def _journal_rows(console: Console, user_id: int) -> list[Any]:
    entries = toolkit.journal_for_user(console, user_id)
    return entry_rows(entries, toolkit.undone_ids(console, [entry.id for entry in entries]))


def _field_groups(
    user: UserDetailsResponse, fields: list[EditableField]
) -> list[tuple[str, list[tuple[EditableField, Any]]]]:
    """The form's fields in fieldsets: roles, numbers, texts (empty ones left out)."""
    groups: dict[str, list[tuple[EditableField, Any]]] = {"Roles": [], "Limits and kudos": [], "Texts": []}
    for item in fields:
        title = "Roles" if item.kind == "bool" else "Texts" if item.kind == "text" else "Limits and kudos"
        groups[title].append((item, current_value(user, item.name)))
    return [(title, items) for title, items in groups.items() if items]


def _not_found(request: Request) -> HTMLResponse:
    return render(
        request,
        "message.html",
        {"title": "No such user", "text": "A user id is a whole number.", "tone": "error", "back": "/"},
        status_code=404,
    )


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post("/users/{user_id}/review", response_class=HTMLResponse)
async def review(request: Request, user_id: str) -> HTMLResponse:
    """Check the form and show what would be sent; nothing is sent yet."""
    form = await _form(request)
    return await _run_sync(request, _review, user_id, form)


def _review(request: Request, user_id: str, form: dict[str, Any]) -> HTMLResponse:
    console = console_of(request)
    uid = _user_id(user_id)
    if uid is None:
        return _not_found(request)
    action = form.get("action", "modify")
    try:
        user = _load(console, uid)
        fields = _editable(console, user)
    except Exception as exc:
        return _failure(request, console, exc, uid)
    reason = form.get("reason", "").strip()
    errors: list[str] = []
    if action not in ACTIONS:
        errors.append("Unknown action.")
    if len(reason) < REASON_MIN:
        errors.append(f"Reason: say why, in at least {REASON_MIN} characters.")
    changes: dict[str, Any] = {}
    if action == "modify":
        try:
            changes = parse_changes(form, user, fields)
        except FormError as exc:
            errors.append(str(exc))
        if not changes and not errors:
            errors.append("Nothing to change: every value equals what the account holds now.")
    if errors:
        return _user_view(request, console, user, fields, errors=errors, form=form, status_code=400)
    diff = [
        (BY_NAME[name].label, show(current_value(user, name)), show(value), BY_NAME[name].kind)
        for name, value in changes.items()
    ]
    return render(
        request,
        "confirm.html",
        {
            "title": f"Confirm: {user.username}",
            "section": "search",
            "user": user,
            "action": action,
            "diff": diff,
            "hidden": {**encode_changes(changes), "action": action, "reason": reason},
            "reason": reason,
        },
    )


@router.post("/users/{user_id}/apply", response_class=HTMLResponse)
async def apply(request: Request, user_id: str) -> Response:
    """Send the confirmed change (re-checked against the account as it is now), journaled."""
    form = await _form(request)
    return await _run_sync(request, _apply, user_id, form)


def _apply(request: Request, user_id: str, form: dict[str, Any]) -> Response:
    console = console_of(request)
    uid = _user_id(user_id)
    if uid is None:
        return _not_found(request)
    action = form.get("action", "")
    reason = form.get("reason", "").strip()
    if action not in ACTIONS or len(reason) < REASON_MIN:
        return _review(request, user_id, form)
    try:
        user = _load(console, uid)
        fields = _editable(console, user)
        changes: dict[str, Any] | None = None
        if action == "modify":
            changes = parse_changes(form, user, fields)
            if not changes:
                return _review(request, user_id, form)
        outcome = toolkit.send_change(console, uid, action, changes, reason)
    except FormError:
        return _review(request, user_id, form)
    except Exception as exc:
        return _failure(request, console, exc, uid)
    if outcome.error is not None:
        return render(
            request,
            "message.html",
            {
                "title": "Not applied" if outcome.entry.outcome == "refused" else "Outcome unknown",
                "text": f"{describe_error(console, outcome.error)} (journal entry #{outcome.entry.id}).",
                "tone": "error",
                "back": f"/users/{uid}",
            },
            status_code=409 if outcome.entry.outcome == "refused" else 504,
        )
    return RedirectResponse(f"/users/{uid}?done={outcome.entry.id}", status_code=303)


async def _run_sync(
    request: Request,
    func: Callable[[Request, str, dict[str, Any]], ResponseT],
    user_id: str,
    form: dict[str, Any],
) -> ResponseT:
    """Run a blocking page function in the thread pool (the form is read on the event loop first)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, request, user_id, form)
