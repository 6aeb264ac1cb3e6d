"""The typer application: global options, then one command group per module.

Global options go before the command: ``horde-users --json --url URL --api-key - user show 3``.
Only typer is imported here; the client, rich tables and the sandbox load inside the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup

from horde_users.cli import bulk, console, find, index, journal, sandbox, users
from horde_users.cli.common import (
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Settings,
    activate,
    report_error,
)

HELP = (
    "Look up, list and moderate AI Horde users; run a local sandbox server.\n\n"
    "Configuration: --url or AI_HORDE_URL (default https://aihorde.net/api); "
    "--api-key or AI_HORDE_API_KEY (default: the anonymous key).\n\n"
    "Exit codes: 0 ok (also when a pipe closes early); 1 the server refused; 2 usage or local error "
    "(nothing sent); 3 server unreachable, timeout or unknown outcome; 4 confirmation declined "
    "(nothing changed); 130 interrupted."
)


def _closed_pipe() -> NoReturn:
    """The reader of stdout went away (``| head``): stop quietly with success, as the Python docs advise.

    Python flushes stdout again at exit; pointing it at /dev/null keeps that flush from failing too.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (tests, embedding)
        pass
    sys.exit(EXIT_OK)


class HordeGroup(TyperGroup):
    """The root group: usage errors become one ``error: ...`` line (plus a hint), like server errors."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _closed_pipe()

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        activate(None)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            sys.stdout.flush()
        except BrokenPipeError:
            _closed_pipe()
        except typer.Abort as exc:  # Ctrl-C outside a request, or a prompt that could not be answered
            if isinstance(exc.__cause__, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt):
                report_error("interrupted")
                sys.exit(EXIT_INTERRUPTED)
            report_error("aborted; nothing was changed")
            sys.exit(EXIT_DECLINED)
        except Exception as exc:
            # click's exceptions, recognised by shape: typer vendors click from 0.29 on, uses it before
            code = getattr(exc, "exit_code", None)
            if not isinstance(code, int) or not hasattr(exc, "format_message"):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # a group alone: its help, on stdout
                typer.echo(exc.format_message())
                sys.exit(EXIT_USAGE)
            options = argv[: argv.index("--")] if "--" in argv else argv
            if "--json" in options:
                activate(Settings(json=True))  # the usage error came before the options were read
            ctx = getattr(exc, "ctx", None)
            hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
            report_error(exc.format_message(), hint=hint)
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
    max_retries: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--max-retries",
            min=0,
            help="Retries per request after a 429, a refused connection or (for safe requests) a timeout "
            "or 502/503/504 [default: 2]. Each wait is announced on stderr.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Show each request and retry on stderr.")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Global options (before the command)."""
    from horde_users.cli import logs

    settings = Settings(
        url=url,
        api_key_option=api_key,
        json=json_,
        timeout=timeout,
        show_secrets=show_secrets,
        max_retries=max_retries,
        verbose=verbose,
    )
    ctx.obj = settings
    activate(settings)
    ctx.call_on_close(logs.install(verbose))


def run() -> None:
    """Entry point: run the app as ``horde-users``."""
    app(prog_name="horde-users")
