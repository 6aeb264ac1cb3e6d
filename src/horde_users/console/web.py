"""What every page shares: the session and CSRF checks (as FastAPI dependencies) and template rendering.

Templates are Jinja2 with autoescaping on for every file, so usernames, contacts and comments (all
user-controlled) always reach the page as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from horde_users.console.context import Console
from horde_users.console.security import CSRF_FIELD, SAFE_METHODS, Session
from horde_users.console.views import show

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

TEMPLATES.env.globals["show"] = show


class NotLoggedIn(Exception):
    """No valid session: the page explains how to log in."""


class LoginRedirect(Exception):
    """A login token was presented: drop it from the address (and set the cookie when it was valid)."""

    def __init__(self, session_id: str | None, target: str) -> None:
        super().__init__("login redirect")
        self.session_id = session_id
        self.target = target


class CsrfRefused(Exception):
    """A state-changing request without this session's CSRF token, or from another origin."""


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def require_session(request: Request) -> Session:
    """The caller's session; redeems a ``?token=`` on the way (then redirects to the clean address)."""
    gatekeeper = console_of(request).gatekeeper
    session_id = request.cookies.get(gatekeeper.cookie_name)
    session = gatekeeper.session(session_id)
    token = request.query_params.get("token")
    if token is not None:
        new_session = gatekeeper.redeem(token) if request.method == "GET" else None
        if new_session is not None or session is not None:
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            raise LoginRedirect(new_session, target)
    if session is None:
        raise NotLoggedIn()
    request.state.session = session
    return session


async def require_csrf(request: Request, session: Session = Depends(require_session)) -> None:  # noqa: B008
    """For POSTs: same-origin only, and the form's CSRF token must be this session's."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CsrfRefused()
    # With Referrer-Policy no-referrer, browsers send "Origin: null" for our own forms: no information.
    origin = request.headers.get("origin")
    allowed = console_of(request).gatekeeper.allowed_hosts()
    if origin and origin != "null" and urlsplit(origin).netloc.lower() not in allowed:
        raise CsrfRefused()
    form = await request.form()
    value = form.get(CSRF_FIELD)
    if not isinstance(value, str) or not session.csrf_matches(value):
        raise CsrfRefused()


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` with the shared context (CSRF token, the key's account, the current page)."""
    console = console_of(request)
    session: Session | None = getattr(request.state, "session", None)
    values: dict[str, Any] = {
        "request": request,
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token if session else "",
        "me": _me(console),
        "admin": console.config.admin,
        "section": "",
    }
    values.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)


def _me(console: Console) -> Any:
    """The key's account for the page header (None when the server cannot be reached right now)."""
    from horde_users.errors import HordeError

    try:
        return console.me()
    except HordeError:
        return None


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one): paging and sorting."""
    params = dict(request.query_params)
    params.pop("token", None)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"
