"""``horde-users sandbox serve|create-user|create-shared-key|users|log``: the local users-API server.

The sandbox (FastAPI, uvicorn, SQLAlchemy) is imported inside each command, never at start-up.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from horde_users.cli.common import EXIT_UNREACHABLE, EXIT_USAGE, fail, settings_of

sandbox_app = typer.Typer(
    help="Run and seed a local sandbox server.", no_args_is_help=True, rich_markup_mode=None
)

DEFAULT_DATABASE = "horde-users-sandbox.db"
"""Shared by ``serve`` and the seeding commands, so users created from another terminal are served."""

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database",
        help="SQLite file path, or a SQLAlchemy URL (sqlite:// alone is in memory; postgresql+psycopg://...).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@sandbox_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free port).")] = 7001,
    database: DatabaseOption = DEFAULT_DATABASE,
    admin: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--admin", help="Alias (name#id) to treat as admin; repeatable.", show_default=False),
    ] = None,
    rate_limits: Annotated[
        bool, typer.Option("--rate-limits/--no-rate-limits", help="Apply the real server's rate limits.")
    ] = True,
    enable_test_user_endpoint: Annotated[
        bool, typer.Option("--enable-test-user-endpoint", help="Serve POST /api/v2/dev/test-user (loopback).")
    ] = False,
    profanity_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--profanity-file", help="Word list, one per line.", show_default=False),
    ] = None,
    enable_dev_endpoints: Annotated[
        bool,
        typer.Option(
            "--enable-dev-endpoints",
            help="Serve /api/v2/dev/ (faults, request log, clock, reset/snapshot/restore, users, test-user; "
            "loopback clients only).",
        ),
    ] = False,
    seed: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--seed", help="Seed file (JSON) whose users are created at start.", show_default=False),
    ] = None,
) -> None:
    """Serve the sandbox until Ctrl-C (rate limits on, as on the real server)."""
    typer.echo(f"database: {_describe(database)}", err=True)
    words = _read_words(profanity_file) if profanity_file is not None else None
    if not _is_loopback(host):
        typer.echo(
            f"warning: listening on {host}, not only this machine: other hosts can reach the sandbox "
            "(no TLS; its users and keys are test data)",
            err=True,
        )
    if enable_dev_endpoints:
        typer.echo(
            "notice: the development endpoints under /api/v2/dev/ are enabled (loopback clients only)",
            err=True,
        )
    elif enable_test_user_endpoint:
        typer.echo(
            "notice: POST /api/v2/dev/test-user is enabled (creates users with keys; loopback clients only)",
            err=True,
        )
    from horde_users.sandbox.server import serve as run_server

    try:
        run_server(
            host=host,
            port=port,
            database=database,
            admins=tuple(admin or ()),
            rate_limits=rate_limits,
            test_user_endpoint=enable_test_user_endpoint,
            profanity_words=words,
            dev_endpoints=enable_dev_endpoints,
            seed=seed,
        )
    except KeyboardInterrupt:  # a Ctrl-C before the server took the signal over
        pass
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)  # a local problem
    except ValueError as exc:  # a bad seed file
        fail(f"--seed: {exc}", EXIT_USAGE)
    except Exception as exc:
        _database_failure(database, exc)
    except SystemExit as exc:  # uvicorn exits when it cannot bind (it has logged why)
        if exc.code not in (0, None):
            fail(f"cannot serve on {host}:{port} (address in use or not available)", EXIT_USAGE)
        raise
    typer.echo("stopped", err=True)


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to any interface


def _read_words(path: Path) -> list[str]:
    from horde_users.sandbox.texts import read_word_file

    try:
        return read_word_file(path)
    except OSError as exc:
        fail(f"--profanity-file: cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)


def _describe(database: str) -> str:
    """The database for messages: a URL without its credentials, or the absolute file path."""
    if "://" in database:
        return _describe_text(database)
    return str(Path(database).expanduser().resolve())


def _is_local(database: str) -> bool:
    """A SQLite file (a path or a ``sqlite`` URL): failing to open it is local, not an unreachable server."""
    return "://" not in database or database.lower().startswith("sqlite")


def _database_failure(database: str, exc: Exception) -> NoReturn:
    """A database that cannot be opened: a bad URL, a missing driver or a local file (2); a server (3)."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    if isinstance(exc, ImportError):  # a driver that is not installed
        fail(f"--database: {exc} (PostgreSQL needs: pip install 'horde-users[postgres]')", EXIT_USAGE)
    if not isinstance(exc, SQLAlchemyError):
        raise exc
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    code = EXIT_USAGE if isinstance(exc, ArgumentError) or _is_local(database) else EXIT_UNREACHABLE
    fail(f"--database: cannot open {_describe(database)}: {_describe_text(first)}", code)


def _describe_text(text: str) -> str:
    return re.sub(r"//[^/@\s]*@", "//", text)


def _store(database: str) -> Any:
    from horde_users.sandbox import SandboxStore

    try:
        return SandboxStore(database)
    except Exception as exc:  # a bad URL, a missing driver, an unreachable database
        _database_failure(database, exc)


@sandbox_app.command("create-user")
def create_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Username (without #id).", show_default=False)],
    moderator: Annotated[bool, typer.Option("--moderator", help="Moderator (also trusted).")] = False,
    trusted: Annotated[bool, typer.Option("--trusted")] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Record the alias as an admin.")] = False,
    service: Annotated[bool, typer.Option("--service")] = False,
    education: Annotated[bool, typer.Option("--education")] = False,
    pseudonymous: Annotated[
        bool, typer.Option("--pseudonymous", help="No OAuth identity (floor 14).")
    ] = False,
    kudos: Annotated[float, typer.Option("--kudos", help="Exact starting balance.")] = 0,
    database: DatabaseOption = DEFAULT_DATABASE,
    json_: JsonOption = False,
) -> None:
    """Create a user in a sandbox database; prints id, alias and the API key (shown once)."""
    settings = settings_of(ctx)
    store = _store(database)
    try:
        seeded = store.create_user(
            name,
            moderator=moderator,
            trusted=trusted,
            admin=admin,
            service=service,
            education=education,
            pseudonymous=pseudonymous,
            kudos=kudos,
        )
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    finally:
        _close(store)
    if settings.json or json_:
        from horde_users.cli.output import print_json

        print_json({"id": seeded.id, "alias": seeded.alias, "api_key": seeded.api_key})
        return
    typer.echo(f"id:      {seeded.id}")
    typer.echo(f"alias:   {seeded.alias}")
    typer.echo(f"api key: {seeded.api_key}")
    typer.echo("(the API key is shown only this once)", err=True)


@sandbox_app.command("create-shared-key")
def create_shared_key(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="Owner's alias (name#id).", show_default=False)],
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--name", help="A name for the key.", show_default=False),
    ] = None,
    database: DatabaseOption = DEFAULT_DATABASE,
    json_: JsonOption = False,
) -> None:
    """Create a shared key owned by ALIAS in a sandbox database and print it."""
    settings = settings_of(ctx)
    store = _store(database)
    try:
        key = store.create_shared_key(alias, name)
    except (ValueError, LookupError) as exc:
        fail(str(exc.args[0] if exc.args else exc), EXIT_USAGE)
    finally:
        _close(store)
    if settings.json or json_:
        from horde_users.cli.output import print_json

        print_json({"alias": alias, "name": name, "shared_key": str(key)})
        return
    typer.echo(str(key))


def _close(store: Any) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        close()


# ------------------------------------------------------------------------ the development endpoints

DEFAULT_SANDBOX_URL = "http://127.0.0.1:7001/api"
UrlOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--url",
        help="The sandbox's base URL (default: the global --url, else http://127.0.0.1:7001/api); it must "
        "run with --enable-dev-endpoints.",
        show_default=False,
    ),
]


def _dev_get(ctx: typer.Context, url: str | None, name: str, params: dict[str, str]) -> Any:
    """GET ``/v2/dev/<name>`` of the sandbox; one clear line and a non-zero exit on any failure."""
    import httpx

    settings = settings_of(ctx)
    base = (url or settings.url or DEFAULT_SANDBOX_URL).rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        fail(f"--url must start with http:// or https:// (got {base!r})", EXIT_USAGE)
    try:
        response = httpx.get(f"{base}/v2/dev/{name}", params=params, timeout=settings.timeout)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the sandbox at {base}: {type(exc).__name__}", EXIT_UNREACHABLE)
    if response.status_code == 404:
        fail(
            f"{base} does not serve the development endpoints",
            EXIT_USAGE,
            hint="start the sandbox with: horde-users sandbox serve --enable-dev-endpoints",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        message = body.get("message") if isinstance(body, dict) else None
        fail(f"the sandbox answered {response.status_code}: {message or response.reason_phrase}", EXIT_USAGE)
    return body


@sandbox_app.command("users")
def list_users(
    ctx: typer.Context,
    url: UrlOption = None,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help="Show API keys: only those the sandbox knows in plain (created in its process, e.g. by the "
            "test-user endpoint, or from a seed file); the database keeps keys hashed.",
        ),
    ] = False,
    json_: JsonOption = False,
) -> None:
    """List a running sandbox's users (id, alias, kudos, roles)."""
    settings = settings_of(ctx)
    secrets = show_secrets or settings.show_secrets
    users = _dev_get(ctx, url, "users", {"show_secrets": "1"} if secrets else {})
    if settings.json or json_:
        from horde_users.cli.output import print_json

        print_json(users)
        return
    for user in users:
        roles = [name for name in ("moderator", "trusted", "deleted") if user.get(name)]
        line = f"{user['id']:>6}  {user['alias']:<30} kudos {user['kudos']:g}  {' '.join(roles)}".rstrip()
        if secrets:
            line += f"  api key: {user.get('api_key') or '(not known in plain)'}"
        typer.echo(line)
    if not users:
        typer.echo("(no users)", err=True)


def _log_line(entry: dict[str, Any]) -> str:
    from datetime import datetime, timezone

    when = datetime.fromtimestamp(entry["time"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    target = entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
    status = entry["status"] if entry["status"] is not None else "dropped"
    fault = f"  fault #{entry['fault']}" if entry.get("fault") is not None else ""
    took = f"{entry['duration'] * 1000:.1f} ms"
    return f"{when}  {entry['method']:<6} {target}  {status}  {took}  {entry['body_size']} B{fault}"


@sandbox_app.command("log")
def show_log(
    ctx: typer.Context,
    url: UrlOption = None,
    method: Annotated[Optional[str], typer.Option("--method", show_default=False)] = None,  # noqa: UP045
    path: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--path", help="A path or pattern, e.g. /v2/users/{id}.", show_default=False),
    ] = None,
    status: Annotated[Optional[int], typer.Option("--status", show_default=False)] = None,  # noqa: UP045
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new requests until Ctrl-C.")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between polls.")] = 0.5,
    json_: JsonOption = False,
) -> None:
    """Print a running sandbox's request log (oldest first; API keys redacted)."""
    import time

    settings = settings_of(ctx)
    as_json = settings.json or json_
    params = {k: str(v) for k, v in (("method", method), ("path", path), ("status", status)) if v is not None}
    seen = 0
    try:
        while True:
            page = _dev_get(ctx, url, "requests", {**params, "after": str(seen)})
            seen = int(page["total"])
            for entry in page["requests"]:
                if as_json:
                    from horde_users.cli.output import print_json

                    print_json(entry, lines=True)
                else:
                    typer.echo(_log_line(entry))
            if not follow:
                return
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return
