"""The search page: the index with the filters of ``user find``, sorting, paging, export and "sync now".

Every search is one indexed, paged query (one row more than a page, to know whether a next page
exists; no count over the whole index). The index's size and age come from a cached summary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from horde_users.console import toolkit
from horde_users.console.context import describe_error
from horde_users.console.web import console_of, query_with, render, require_csrf

router = APIRouter(dependencies=[Depends(require_csrf)])

ROLE_FILTERS = (
    ("trusted", "Trusted"),
    ("flagged", "Flagged"),
    ("moderator", "Moderator"),
    ("service", "Service"),
    ("education", "Education"),
    ("customizer", "Customizer"),
    ("pseudonymous", "Pseudonymous"),
    ("deleted", "Deleted"),
    ("has_workers", "Has workers"),
)
SORTS = (("kudos", "Kudos"), ("age", "Oldest"), ("newest", "Newest"), ("name", "Name"), ("id", "Id"))
PAGE_SIZES = (25, 50, 100)


@dataclass
class SearchForm:
    """The search form's values as the browser sent them (strings), plus the parsed filters."""

    values: dict[str, str]
    sort: str
    reverse: bool
    page: int
    per_page: int


def read_form(request: Request) -> SearchForm:
    params = request.query_params
    values = {key: params.get(key, "") for key in toolkit.SEARCH_PARAMS}
    sort = params.get("sort", "kudos")
    if sort not in dict(SORTS):
        sort = "kudos"
    page = _positive(params.get("page"), 1)
    per_page = _positive(params.get("per"), PAGE_SIZES[0])
    return SearchForm(
        values=values,
        sort=sort,
        reverse=params.get("reverse") == "1",
        page=min(page, 100_000),
        per_page=per_page if per_page in PAGE_SIZES else PAGE_SIZES[0],
    )


def _positive(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else default


@dataclass(frozen=True)
class Column:
    """A sortable results column: its link, and how it is sorted now (for ``aria-sort``)."""

    label: str
    href: str
    aria_sort: str | None
    numeric: bool


# column -> (sort key, direction of the column's values under that key unreversed)
_COLUMN_SORTS: dict[str, tuple[tuple[str, str], ...]] = {
    "name": (("name", "ascending"),),
    "id": (("id", "ascending"),),
    "kudos": (("kudos", "descending"),),
    "age": (("age", "descending"), ("newest", "ascending")),  # oldest account first = largest age first
}
_FLIP = {"ascending": "descending", "descending": "ascending"}


def sort_columns(request: Request, form: SearchForm) -> dict[str, Column]:
    """Each sortable column: clicking the active one reverses it, another one sorts by it."""
    columns = {}
    labels = {"name": "Name", "id": "Id", "kudos": "Kudos", "age": "Account age"}
    for name, sorts in _COLUMN_SORTS.items():
        keys = dict(sorts)
        if form.sort in keys:
            direction = keys[form.sort]
            aria: str | None = _FLIP[direction] if form.reverse else direction
            href = query_with(request, sort=form.sort, reverse=None if form.reverse else "1", page=None)
        else:
            aria = None
            href = query_with(request, sort=sorts[0][0], reverse=None, page=None)
        columns[name] = Column(labels[name], href, aria, numeric=name != "name")
    return columns


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    console = console_of(request)
    form = read_form(request)
    error = ""
    rows: list[Any] = []
    has_next = False
    try:
        filters = toolkit.build_filters(form.values)
        found = toolkit.search(console, filters, form.sort, form.reverse, form.page, form.per_page)
        rows, has_next = found[: form.per_page], len(found) > form.per_page
    except toolkit.InputError as exc:
        error = str(exc)
    except Exception as exc:
        error = describe_error(console, exc)
    state = toolkit.index_state(console)
    sync = console.jobs.latest("sync")
    return render(
        request,
        "search.html",
        {
            "title": "Search",
            "section": "search",
            "form": form,
            "rows": rows,
            "has_next": has_next,
            "error": error,
            "state": state,
            "synced_ago": toolkit.ago(state.synced_at) if state and state.synced_at else None,
            "sync": sync,
            "role_filters": ROLE_FILTERS,
            "sorts": SORTS,
            "columns": sort_columns(request, form),
            "filters_active": any(form.values[name] for name in toolkit.SEARCH_PARAMS if name != "q"),
            "page_sizes": PAGE_SIZES,
            "query_with": lambda **changes: query_with(request, **changes),
            "now": time.time(),
        },
        status_code=400 if error and not rows else 200,
    )


@router.get("/export/users.{fmt}")
def export_users(request: Request, fmt: str) -> Response:
    """The current search (all its pages) as CSV or JSON lines."""
    console = console_of(request)
    form = read_form(request)
    if fmt not in ("csv", "jsonl"):
        return Response("unknown format: csv or jsonl", status_code=404, media_type="text/plain")
    try:
        filters = toolkit.build_filters(form.values)
        index = console.index
    except Exception as exc:
        message = str(exc) if isinstance(exc, toolkit.InputError) else describe_error(console, exc)
        return Response(message, status_code=400, media_type="text/plain")
    return StreamingResponse(
        toolkit.export_users(index, filters, fmt, form.sort),
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="horde-users.{fmt}"'},
    )


@router.post("/sync")
def sync_now(request: Request) -> Response:
    """Start a sync of the index in the background (or show the one running) and follow its progress."""
    job = toolkit.start_sync(console_of(request))
    return RedirectResponse(f"/sync/{job.id}", status_code=303)


@router.get("/sync/{job_id}", response_class=HTMLResponse)
def sync_progress(request: Request, job_id: str) -> HTMLResponse:
    job = console_of(request).jobs.get(job_id)
    if job is None or job.kind != "sync":
        return render(
            request,
            "message.html",
            {"title": "No such sync", "text": "That sync is not known.", "tone": "error", "back": "/"},
            status_code=404,
        )
    return render(request, "sync.html", {"title": "Sync", "section": "search", "job": job})
