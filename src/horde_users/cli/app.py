"""The typer application: global options, then one command group per module.

Global options go before the command: ``horde-users --json --url URL --api-key - user show 3``.
Only typer is imported here; the client, rich tables and the sandbox load inside the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from horde_users.cli import bulk, console, find, index, journal, sandbox, users
from horde_users.cli.common import EXIT_USAGE, Settings, err

HELP = (
    "Look up, list and moderate AI Horde users; run a local sandbox server.\n\n"
    "Configuration: --url or AI_HORDE_URL (default https://aihorde.net/api); "
    "--api-key or AI_HORDE_API_KEY (default: the anonymous key).\n\n"
    "Exit codes: 0 ok; 1 the server refused; 2 usage error; "
    "3 server unreachable, timeout or unknown outcome."
)


class HordeGroup(TyperGroup):
    """The root group: usage errors become one ``error: ...`` line (plus a hint), like server errors."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            err("error: aborted")
            sys.exit(1)
        except Exception as exc:
            # click's exceptions, recognised by shape: typer vendors click from 0.29 on, uses it before
            code = getattr(exc, "exit_code", None)
            if not isinstance(code, int) or not hasattr(exc, "format_message"):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # a group alone: its help, on stdout
                typer.echo(exc.format_message())
                sys.exit(EXIT_USAGE)
            err(f"error: {exc.format_message()}")
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                err(f"hint: see '{ctx.command_path} --help'")
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="horde-users",
    cls=HordeGroup,
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("whoami")(users.whoami)
users.user_app.command("find")(find.find)
app.add_typer(users.user_app, name="user")
app.add_typer(index.index_app, name="index")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(journal.journal_app, name="journal")
app.add_typer(bulk.bulk_app, name="bulk")
app.command("console")(console.console)


def _version(value: bool) -> None:
    if value:
        from horde_users._version import __version__

        typer.echo(f"horde-users {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        Optional[str],  # noqa: UP045 - typer needs the runtime form on Python 3.10
        typer.Option(
            "--url", help="Base URL of the API, ending in /api (env AI_HORDE_URL).", show_default=False
        ),
    ] = None,
    api_key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--api-key",
            help="API key; '-' reads it from stdin (env AI_HORDE_API_KEY). Never printed.",
            show_default=False,
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print responses as JSON (by wire name).")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each request.")
    ] = 30.0,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Show proxy passkeys and shared key ids in tables.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Global options (before the command)."""
    ctx.obj = Settings(
        url=url, api_key_option=api_key, json=json_, timeout=timeout, show_secrets=show_secrets
    )


def run() -> None:
    """Entry point: run the app as ``horde-users``."""
    app(prog_name="horde-users")
