"""``--dry-run``: what a change would send and which role each part needs, sending nothing that changes.

The roles come from the project's one table of PUT fields (``horde_users.roles.OPERATIONS``, in the
order the server applies them; plain data, no server stack). The request is built by the request models
themselves, so the method, URL and body shown are the ones the client would send. The API key is never
shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from horde_users.cli.common import Settings

DELETE_ROLE = "owner or moderator (a moderator cannot be deleted)"
"""Who may DELETE a user (docs/users-api.md §7)."""


def role_label(role_value: str) -> str:
    """``admin``, ``moderator``, or ``owner or moderator`` (owner fields are open to any moderator)."""
    return "owner or moderator" if role_value == "owner" else role_value


def put_roles(body: Mapping[str, Any]) -> dict[str, str]:
    """Field -> role needed, for the fields of ``body``, in the order the server applies them."""
    from horde_users.roles import OPERATIONS

    return {op.member: role_label(op.role.value) for op in OPERATIONS if op.member in body}


def request_of(model: Any, settings: Settings) -> tuple[str, str, dict[str, Any] | None]:
    """Method, URL and JSON body of a request model (built without a key, so none can leak)."""
    http = model.build_http_request(settings.base_url)
    return http.method, http.url, http.json_body


def show(
    settings: Settings,
    model: Any,
    roles: Mapping[str, str],
    *,
    notes: tuple[str, ...] = (),
    user: str | None = None,
) -> None:
    """Print the preview: a JSON object with ``--json``, else a few lines for people (on stdout)."""
    from urllib.parse import urlsplit

    method, url, body = request_of(model, settings)
    if settings.json:
        from horde_users.cli.output import print_json

        print_json(
            {
                "dry_run": True,
                "method": method,
                "url": url,
                "path": urlsplit(url).path,
                "body": body,
                "user": user,
                "roles": dict(roles),
                "notes": list(notes),
            }
        )
        return
    import json

    import typer

    typer.echo("Dry run: nothing was sent. The request would be:")
    typer.echo(f"  {method} {url}")
    if body is not None:
        typer.echo(f"  body: {json.dumps(body, ensure_ascii=False)}")
    typer.echo("  with the configured API key (not shown)")
    if user:
        typer.echo(f"Target: {user}")
    typer.echo("Roles needed, in the order the server applies them:" if len(roles) > 1 else "Role needed:")
    width = max(len(name) for name in roles)
    for name, role in roles.items():
        typer.echo(f"  {name.ljust(width)}  {role}")
    for note in notes:
        typer.echo(f"Note: {note}")
