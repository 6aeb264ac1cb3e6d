"""The bulk page: upload a CSV or JSON Lines file, read every row error or the plan, apply with progress.

The upload is kept in the console's private folder under a random id, so "apply" sends exactly the
file that was checked; the library re-plans it at apply time (a row done meanwhile is skipped).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from horde_users.console import toolkit
from horde_users.console.context import describe_error
from horde_users.console.web import console_of, render, require_csrf

router = APIRouter(dependencies=[Depends(require_csrf)])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@router.get("/bulk", response_class=HTMLResponse)
def bulk_page(request: Request) -> HTMLResponse:
    jobs = console_of(request).jobs
    return render(
        request, "bulk.html", {"title": "Bulk changes", "section": "bulk", "last": jobs.latest("bulk")}
    )


@router.post("/bulk", response_class=HTMLResponse)
async def bulk_upload(request: Request) -> HTMLResponse:
    """Check an uploaded file: every row error, or the plan (nothing is sent)."""
    form = await request.form()
    upload = form.get("file")
    reason = str(form.get("reason", "")).strip()
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _upload_error(request, "Choose a CSV or JSON Lines file.")
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _upload_error(request, f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    return await run_in_threadpool(_check, request, upload.filename, data, reason)


def _upload_error(request: Request, text: str) -> HTMLResponse:
    return render(
        request,
        "bulk.html",
        {"title": "Bulk changes", "section": "bulk", "upload_error": text},
        status_code=400,
    )


def _check(request: Request, filename: str, data: bytes, reason: str) -> HTMLResponse:
    console = console_of(request)
    try:
        checked = toolkit.check_bulk(console, filename, data, reason)
    except Exception as exc:
        return _upload_error(request, describe_error(console, exc))
    return render(
        request,
        "bulk_plan.html",
        {
            "title": "Bulk plan",
            "section": "bulk",
            "checked": checked,
            "filename": filename,
            "reason": reason,
        },
        status_code=200 if checked.ready else 400,
    )


@router.post("/bulk/{upload_id}/apply")
async def bulk_apply(request: Request, upload_id: str) -> Response:
    """Start sending the checked file's rows in the background and follow the progress."""
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    console = console_of(request)
    try:
        job = await run_in_threadpool(toolkit.start_bulk, console, upload_id, reason)
    except Exception as exc:
        return render(
            request,
            "message.html",
            {"title": "Not started", "text": describe_error(console, exc), "tone": "error", "back": "/bulk"},
            status_code=400,
        )
    return RedirectResponse(f"/bulk/runs/{job.id}", status_code=303)


@router.get("/bulk/runs/{job_id}", response_class=HTMLResponse)
def bulk_run(request: Request, job_id: str) -> HTMLResponse:
    job = console_of(request).jobs.get(job_id)
    if job is None or job.kind != "bulk":
        return render(
            request,
            "message.html",
            {"title": "No such run", "text": "That bulk run is not known.", "tone": "error", "back": "/bulk"},
            status_code=404,
        )
    return render(
        request,
        "bulk_run.html",
        {"title": "Bulk run", "section": "bulk", "job": job, "rows": toolkit.bulk_report_rows(job.result)},
    )
