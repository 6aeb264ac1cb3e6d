"""The journal pages: entries filtered by user, actor, date and outcome; one entry; undo with a confirm.

Undo is planned by the library against the account as it is now; the confirm page shows what would
be sent and, when it cannot be, every reason why. A conflict (the account moved on since the change)
can be overridden on purpose; a refusal cannot.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from horde_users.console import toolkit
from horde_users.console.context import describe_error
from horde_users.console.streaming import stream_export
from horde_users.console.views import entry_rows, show
from horde_users.console.web import console_of, query_with, render, require_csrf

router = APIRouter(dependencies=[Depends(require_csrf)])

PER_PAGE = 50
OUTCOMES = ("done", "refused", "unknown", "pending")
REASON_MIN = 3


class JournalInputError(ValueError):
    """A journal filter that cannot be used."""


def read_filters(request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    """The filter form's values, and the library's keyword filters for them."""
    params = request.query_params
    values = {name: params.get(name, "").strip() for name in ("user", "actor", "since", "outcome")}
    filters: dict[str, Any] = {}
    for name in ("user", "actor"):
        if values[name]:
            raw = values[name].lstrip("#")
            filters[name] = int(raw) if raw.isdigit() and len(raw) < 12 else values[name]
    if values["since"]:
        try:
            day = datetime.strptime(values["since"], "%Y-%m-%d")
        except ValueError:
            raise JournalInputError("Since: a date as YYYY-MM-DD") from None
        filters["since"] = day.replace(tzinfo=timezone.utc)
    if values["outcome"] in OUTCOMES:
        filters["outcome"] = values["outcome"]
    else:
        values["outcome"] = ""
    return values, filters


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


@router.get("/journal", response_class=HTMLResponse)
def journal_page(request: Request) -> HTMLResponse:
    console = console_of(request)
    page = _page(request)
    error, rows, has_next, total = "", [], False, 0
    values: dict[str, str] = {}
    try:
        values, filters = read_filters(request)
        journal = console.journal
        entries = journal.list(**filters, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        has_next, entries = len(entries) > PER_PAGE, entries[:PER_PAGE]
        total = journal.count(**filters)
        rows = entry_rows(entries, toolkit.undone_ids(console, [entry.id for entry in entries]))
    except JournalInputError as exc:
        error = str(exc)
    except Exception as exc:
        error = describe_error(console, exc)
    export_query = query_with(request, page=None)
    return render(
        request,
        "journal.html",
        {
            "title": "Journal",
            "section": "journal",
            "values": values,
            "outcomes": OUTCOMES,
            "entries": rows,
            "filtered": any(values.values()),
            "page": page,
            "has_next": has_next,
            "total": total,
            "pages": max(1, -(-total // PER_PAGE)),
            "error": error,
            "query_with": lambda **changes: query_with(request, **changes),
            "export_query": "" if export_query == "?" else export_query,
        },
        status_code=400 if error else 200,
    )


@router.get("/export/journal.{fmt}")
def export_journal(request: Request, fmt: str) -> Response:
    """The journal entries matching the filters, as CSV or JSON lines (oldest first)."""
    console = console_of(request)
    if fmt not in ("csv", "jsonl"):
        return Response("unknown format: csv or jsonl", status_code=404, media_type="text/plain")
    try:
        _, filters = read_filters(request)
        journal = console.journal
    except Exception as exc:
        message = str(exc) if isinstance(exc, JournalInputError) else describe_error(console, exc)
        return Response(message, status_code=400, media_type="text/plain")
    return StreamingResponse(
        stream_export(lambda out: journal.export(out, fmt, **filters)),  # type: ignore[arg-type]
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="horde-users-journal.{fmt}"'},
    )


@router.get("/journal/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: str) -> HTMLResponse:
    console = console_of(request)
    entry = _entry(request, entry_id)
    if isinstance(entry, HTMLResponse):
        return entry
    rows = entry_rows([entry], toolkit.undone_ids(console, [entry.id]))
    return render(
        request,
        "entry.html",
        {
            "title": f"Journal entry #{entry.id}",
            "section": "journal",
            "entry": entry,
            "row": rows[0],
            "views": _view_rows(entry.before, entry.after),
            "undone_by": console.journal.undone_by(entry.id),
            "done": request.query_params.get("done") == "1",
        },
    )


def _entry(request: Request, entry_id: str) -> Any:
    from horde_users.moderation.journal import EntryNotFound

    console = console_of(request)
    try:
        if not entry_id.isdigit() or len(entry_id) > 12:
            raise EntryNotFound(f"no journal entry {entry_id[:20]!r}")
        return console.journal.get(int(entry_id))
    except Exception as exc:
        return render(
            request,
            "message.html",
            {
                "title": "No such entry",
                "text": describe_error(console, exc),
                "tone": "error",
                "back": "/journal",
            },
            status_code=404 if isinstance(exc, EntryNotFound) else 503,
        )


def _view_rows(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[tuple[str, str, str, bool]]:
    """Every member of the views read around a change: name, before, after, and whether it changed."""
    names: list[str] = list(dict.fromkeys([*(before or {}), *(after or {})]))
    rows = []
    for name in names:
        old = (before or {}).get(name)
        new = (after or {}).get(name)
        rows.append((name, _flat(old), _flat(new), old != new))
    return rows


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_flat(item)}" for key, item in value.items()) or "—"
    if isinstance(value, list):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    return show(value)


@router.get("/journal/{entry_id}/undo", response_class=HTMLResponse)
def undo_review(request: Request, entry_id: str) -> HTMLResponse:
    """What undoing the entry would send, or why it cannot be undone; nothing is sent yet."""
    return _undo_page(request, entry_id)


def _undo_page(
    request: Request, entry_id: str, *, errors: list[str] | None = None, status: int = 200
) -> HTMLResponse:
    console = console_of(request)
    entry = _entry(request, entry_id)
    if isinstance(entry, HTMLResponse):
        return entry
    try:
        plan = toolkit.plan_undo(console, entry.id)
    except Exception as exc:
        return render(
            request,
            "message.html",
            {
                "title": "Cannot plan the undo",
                "text": describe_error(console, exc),
                "tone": "error",
                "back": f"/journal/{entry.id}",
            },
            status_code=502,
        )
    return render(
        request,
        "undo.html",
        {
            "title": f"Undo #{entry.id}",
            "section": "journal",
            "entry": entry,
            "plan": plan,
            "row": entry_rows([entry])[0],
            "sends": toolkit.undo_sends(plan),
            "errors": errors or [],
            "reason_min": REASON_MIN,
        },
        status_code=status,
    )


@router.post("/journal/{entry_id}/undo", response_class=HTMLResponse)
async def undo_apply(request: Request, entry_id: str) -> Response:
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    force = form.get("force") == "yes"
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_undo_apply, request, entry_id, reason, force)


def _undo_apply(request: Request, entry_id: str, reason: str, force: bool) -> Response:
    from horde_users.moderation.undo import UndoRefused

    console = console_of(request)
    if len(reason) < REASON_MIN:
        return _undo_page(
            request, entry_id, errors=[f"Reason: say why, in at least {REASON_MIN} characters."], status=400
        )
    if not entry_id.isdigit() or len(entry_id) > 12:
        return _entry(request, entry_id)  # type: ignore[no-any-return]
    try:
        entry = toolkit.undo(console, int(entry_id), reason, force)
    except UndoRefused as exc:
        return _undo_page(request, entry_id, errors=[describe_error(console, exc)], status=409)
    except Exception as exc:
        return render(
            request,
            "message.html",
            {
                "title": "Undo failed",
                "text": describe_error(console, exc),
                "tone": "error",
                "back": "/journal",
            },
            status_code=502,
        )
    return RedirectResponse(f"/journal/{entry.id}?done=1", status_code=303)
