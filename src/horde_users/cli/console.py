"""``horde-users console``: the moderator console, a local web page over the moderation toolkit.

Like Jupyter, it prints an address with a one-time login token; the browser that opens it first gets
the session. The API key (``--api-key`` / ``AI_HORDE_API_KEY``) stays in this process.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from horde_users.cli.common import EXIT_USAGE, err, fail, settings_of


def console(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free port).")] = 7002,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on. Anything but loopback lets others reach the key."),
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in the web browser.")] = False,
    database: Annotated[
        Optional[str],  # noqa: UP045 - typer needs the runtime form on Python 3.10
        typer.Option(
            "--database",
            help="Index and journal: SQLite file or SQLAlchemy URL (env HORDE_USERS_DATABASE).",
            show_default=False,
        ),
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="The key's account is an admin: also offer the admin-only fields.")
    ] = False,
) -> None:
    """Serve the moderator console on this computer until Ctrl-C."""
    settings = settings_of(ctx)
    if not settings.base_url.lower().startswith(("http://", "https://")):
        fail(f"the base URL must start with http:// or https:// (got {settings.base_url!r})", EXIT_USAGE)
    from horde_users.console.context import ConsoleConfig
    from horde_users.console.server import ConsoleServer, is_loopback
    from horde_users.moderation.errors import DatabaseError

    config = ConsoleConfig(
        url=settings.url, api_key=settings.api_key, database=database, timeout=settings.timeout, admin=admin
    )
    if not is_loopback(host):
        err(
            f"warning: listening on {host}, not on loopback: anyone who can reach this address and get the "
            "login token can act with your key"
        )
    try:
        server = ConsoleServer(config, host=host, port=port)
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        server.console.engine  # noqa: B018 - open the database now, so a bad --database fails here
    except DatabaseError as exc:
        server.close()
        fail(str(exc), EXIT_USAGE)
    typer.echo(f"horde-users console for {settings.base_url}")
    typer.echo("Open this address once to log in (Ctrl-C to stop):")
    typer.echo(f"    {server.login_url}", color=False)
    if open_browser:
        import webbrowser

        webbrowser.open(server.login_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err("stopped")
