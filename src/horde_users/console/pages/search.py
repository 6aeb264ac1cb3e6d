"""The search page: the index's users with the filters of ``user find``, paging, sorting and sync."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from horde_users.console.web import render, require_csrf

router = APIRouter(dependencies=[Depends(require_csrf)])


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    return render(request, "search.html", {"title": "Search", "section": "search"})
