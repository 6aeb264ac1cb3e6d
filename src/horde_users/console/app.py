"""The console's FastAPI application: the pages, our own static files, and the security around them.

Every page and asset is served from this package (no CDN), so the console works offline. Pages are
rendered on the server and work without JavaScript; ``static/progress.js`` only makes progress bars
move by themselves.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from horde_users.console.context import Console
from horde_users.console.security import HostAndHeadersMiddleware
from horde_users.console.web import (
    HERE,
    CsrfRefused,
    LoginRedirect,
    NotLoggedIn,
    console_of,
    render,
    require_csrf,
    require_session,
)


def create_app(console: Console) -> FastAPI:
    """The console for ``console`` (its settings, key and database)."""
    from horde_users.console.pages import bulk, journal, search, user

    app = FastAPI(title="horde-users console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (search, user, journal, bulk):
        app.include_router(module.router)

    @app.get("/jobs/{job_id}", dependencies=[Depends(require_session)])
    def job_progress(request: Request, job_id: str) -> Response:
        """A background job's progress, for ``progress.js``."""
        job = console_of(request).jobs.get(job_id)
        if job is None:
            return JSONResponse({"message": "no such job"}, status_code=404)
        return JSONResponse(job.as_json())

    @app.post("/logout", dependencies=[Depends(require_csrf)])
    def logout(request: Request) -> Response:
        gatekeeper = console_of(request).gatekeeper
        gatekeeper.end(request.cookies.get(gatekeeper.cookie_name))
        response = render(
            request,
            "message.html",
            {"title": "Logged out", "text": "Restart the console for a new login address."},
        )
        response.delete_cookie(gatekeeper.cookie_name, path="/")
        return response

    @app.exception_handler(LoginRedirect)
    def login_redirect(request: Request, exc: LoginRedirect) -> Response:
        response = RedirectResponse(exc.target, status_code=303)
        if exc.session_id is not None:
            response.set_cookie(
                console_of(request).gatekeeper.cookie_name,
                exc.session_id,
                httponly=True,
                samesite="strict",
                path="/",
            )
        return response

    @app.exception_handler(NotLoggedIn)
    def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.startswith("/jobs/"):
            return JSONResponse({"message": "not logged in"}, status_code=401)
        return render(request, "login.html", {"title": "Log in"}, status_code=401)

    @app.exception_handler(CsrfRefused)
    def csrf_refused(request: Request, exc: CsrfRefused) -> HTMLResponse:
        return render(
            request,
            "message.html",
            {
                "title": "Refused",
                "text": "This form was not sent from this console's own page (missing or wrong CSRF token). "
                "Nothing was changed; reload the page and try again.",
                "tone": "error",
                "back": "/",
            },
            status_code=403,
        )

    return app


def secure_app(console: Console) -> HostAndHeadersMiddleware:
    """The app wrapped in the Host check and the security headers (what the server actually runs)."""
    return HostAndHeadersMiddleware(create_app(console), console.gatekeeper)
