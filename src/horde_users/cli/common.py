"""What every command shares: the global settings, the client, and the mapping of failures to exit codes.

Exit codes (the README's "Command line" section documents the same list):

- ``0`` success, including output cut short by a closed pipe (``horde-users user list --all | head``);
- ``1`` the server refused: any HTTP error status, 429 after the retries included;
- ``2`` a usage or local error: a bad option or value, values the models refuse before anything is sent,
  a ``NAME#ID`` whose name is not the account's current name, a local file or database that cannot be
  opened; nothing was sent that changes anything;
- ``3`` the server could not be reached, timed out, or the outcome of a change is unknown (the message
  says what to check);
- ``4`` a confirmation was declined (or the question could not be asked): nothing was changed;
- ``130`` interrupted (Ctrl-C).

Expected failures print one ``error: ...`` line on stderr (plus, at most, one ``hint: ...`` line), never a
traceback; under ``--json`` they print one JSON object instead,
``{"error": {"status": ..., "rc": ..., "message": ..., "hint": ...}}`` (``status`` and ``rc`` are null
when the failure is not an HTTP error). The API key is never printed.

Commands use ``settings_of`` for the options, ``open_client`` for a client, ``handle_errors`` around the
calls, and ``fail`` for their own refusals; all of them honour ``--json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

from horde_users.endpoints import ANON_API_KEY, resolve_api_key
from horde_users.errors import redact as redact_secrets

if TYPE_CHECKING:
    from pydantic import ValidationError

    from horde_users.client import HordeUsers
    from horde_users.errors import HordeAPIError

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_DECLINED = 4
EXIT_INTERRUPTED = 130

_secrets: set[str] = set()
"""Keys this process has been given; every stderr line is scrubbed of them."""

_active: Settings | None = None
"""The settings of the command that is running (decides whether errors are printed as JSON)."""


DatabaseOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs the runtime form on Python 3.10
    typer.Option(
        "--database",
        help="Index and journal database: a SQLite file or a URL such as postgresql+psycopg://host/db "
        "(env HORDE_USERS_DATABASE; default: moderation.db in your data directory).",
        show_default=False,
    ),
]
"""``--database``, shared by every command that reads or writes the index or the journal."""


@dataclass
class Settings:
    """The global options, resolved lazily (the key is read from stdin only when a command needs it)."""

    url: str | None = None
    api_key_option: str | None = None
    json: bool = False
    timeout: float = 30.0
    show_secrets: bool = False
    max_retries: int | None = None
    """Retries per request (None: the client's default)."""
    verbose: int = 0
    _api_key: str | None = field(default=None, repr=False)
    _key_resolved: bool = field(default=False, repr=False)

    def __repr__(self) -> str:  # never show the key, whatever happens
        return f"Settings(url={self.url!r}, json={self.json}, timeout={self.timeout})"

    @property
    def api_key(self) -> str | None:
        """The key to send: ``--api-key`` (``-`` reads one line from stdin), else ``AI_HORDE_API_KEY``."""
        if not self._key_resolved:
            self._api_key = _resolve_api_key(self.api_key_option)
            self._key_resolved = True
            if self._api_key and self._api_key != ANON_API_KEY:
                _secrets.add(self._api_key)
        return self._api_key

    @property
    def base_url(self) -> str:
        """The base URL the client will use (for messages)."""
        from horde_users.endpoints import resolve_base_url

        return resolve_base_url(self.url)


def _resolve_api_key(option: str | None) -> str:
    """``--api-key`` (``-``: a line from stdin), else the library's rule (``AI_HORDE_API_KEY``, anonymous)."""
    if option == "-":
        line = sys.stdin.readline().strip()
        if not line:
            fail("--api-key -: no API key on standard input", EXIT_USAGE)
        return line
    if option is not None:
        key = option.strip()
        if not key:
            fail("--api-key: the key is empty", EXIT_USAGE)
        return key
    return resolve_api_key()


def activate(settings: Settings | None) -> None:
    """Make ``settings`` the running command's (``None`` at the start of each run)."""
    global _active
    _active = settings


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback stored (defaults when a command runs on its own)."""
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    settings = Settings()
    ctx.find_root().obj = settings
    activate(settings)
    return settings


def redact(text: str) -> str:
    """``text`` with every key this process was given replaced by ``<redacted>``."""
    return redact_secrets(text, _secrets)


def json_errors() -> bool:
    """Whether errors are printed as JSON (``--json`` was given, before or after the command)."""
    return _active is not None and _active.json


def report_error(
    message: str, *, hint: str | None = None, status: int | None = None, rc: str | None = None
) -> None:
    """Print one failure on stderr: ``error:`` and ``hint:`` lines, or one JSON object under ``--json``."""
    if json_errors():
        hint = redact(hint) if hint else None
        error = {"status": status, "rc": rc, "message": redact(message), "hint": hint}
        err(json.dumps({"error": error}, ensure_ascii=False))
        return
    err(f"error: {message}")
    if hint:
        err(f"hint: {hint}")


def fail(
    message: str, code: int, hint: str | None = None, *, status: int | None = None, rc: str | None = None
) -> NoReturn:
    """Report a failure (see ``report_error``) and exit with ``code``."""
    report_error(message, hint=hint, status=status, rc=rc)
    raise typer.Exit(code)


def err(line: str) -> None:
    """One plain line on stderr, keys redacted (no markup: server messages may contain brackets)."""
    try:
        sys.stderr.write(redact(line.replace("\n", " ").rstrip()) + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # stderr gone: nothing useful left to do
        pass


@contextmanager
def open_client(settings: Settings) -> Iterator[HordeUsers]:
    """A sync client configured from the global options."""
    from horde_users.client import HordeUsers

    if not settings.base_url.lower().startswith(("http://", "https://")):
        fail(f"the base URL must start with http:// or https:// (got {settings.base_url!r})", EXIT_USAGE)
    options: dict[str, Any] = {}
    if settings.max_retries is not None:
        options["max_retries"] = settings.max_retries
    with HordeUsers(
        api_key=settings.api_key, base_url=settings.url, timeout=settings.timeout, **options
    ) as client:
        yield client


def describe_api_error(exc: HordeAPIError) -> str:
    """``NotModerator (403): <message>``, ``400: field: reason``, ``429: rate limited, retry after N s``."""
    return redact(_api_error_message(exc, with_status=True))


def _api_error_message(exc: HordeAPIError, *, with_status: bool) -> str:
    """The error's text, with ``RC (status): `` in front when asked (JSON carries those separately)."""
    status, rc = exc.status_code, exc.rc_name
    message = (exc.message or "").strip()
    if rc:
        head, text = f"{rc} ({status})", message
    elif exc.errors:
        head, text = str(status), "; ".join(f"{name}: {reason}" for name, reason in exc.errors.items())
    elif status == 429:
        head, text = "429", "rate limited"
        if exc.retry_after is not None:
            text += f", retry after {_seconds(exc.retry_after)} s"
        if message:
            text += f" ({message})"
    else:
        head, text = str(status), message or "no message"
    return f"{head}: {text}" if with_status else text


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _api_root_hint(exc: HordeAPIError, settings: Settings) -> str | None:
    """A 404 without a return code means no such route: usually a base URL without ``/api``."""
    if exc.status_code != 404 or exc.rc is not None:
        return None
    url = settings.base_url
    if not url.rstrip("/").endswith("/api"):
        return f"no such path on the server: the base URL must end in /api (got {url}; try {url}/api)"
    return f"no such path on the server: check that {url} is the users API (it should end in /api)"


def describe_validation_error(exc: ValidationError, label: Callable[[str], str] | None = None) -> str:
    """A pydantic ValidationError as ``field: reason; field: reason`` (inputs are never shown).

    ``label`` turns a field name into what the person typed (``concurrency`` -> ``--concurrency``).
    """
    from horde_users._plain import plain_problems

    errors = exc.errors(include_input=False, include_url=False)
    return plain_problems(errors, label=label, separator=": ") or "invalid value"


@contextmanager
def moderation_errors() -> Iterator[None]:
    """The moderation toolkit's errors as one line (use it inside ``handle_errors``, which would take
    them for connection failures): refusals exit 1, problems to fix here exit 2."""
    from horde_users.moderation.errors import ModerationError

    try:
        yield
    except ModerationError as exc:
        fail(exc.message, EXIT_REFUSED if exc.refusal else EXIT_USAGE, exc.hint)


@contextmanager
def handle_errors(
    settings: Settings,
    *,
    check: str | None = None,
    refused_hint: str | None = None,
    label: Callable[[str], str] | None = None,
) -> Iterator[None]:
    """Turn the client's exceptions into one report and the documented exit code.

    ``check`` says what to look at when the outcome of a change is unknown; ``refused_hint`` is shown when
    the server refuses; ``label`` names fields in validation errors as the person typed them.
    """
    from pydantic import ValidationError

    from horde_users import errors

    try:
        yield
    except ValidationError as exc:
        fail(describe_validation_error(exc, label), EXIT_USAGE)
    except errors.InvalidRequestError as exc:
        cause = exc.__cause__
        text = describe_validation_error(cause, label) if isinstance(cause, ValidationError) else exc.message
        fail(text, EXIT_USAGE)
    except errors.HordeError as exc:
        api = exc if isinstance(exc, errors.HordeAPIError) else None
        status = api.status_code if api else None
        rc = api.rc_name if api else None
        if exc.outcome_unknown:
            what = _api_error_message(api, with_status=True) if api else exc.message
            fail(
                f"outcome unknown: {what}", EXIT_UNREACHABLE, check or exc.outcome_hint, status=status, rc=rc
            )
        if api is not None:
            text = _api_error_message(api, with_status=not json_errors())
            fail(text, EXIT_REFUSED, _api_root_hint(api, settings) or refused_hint, status=status, rc=rc)
        if isinstance(exc, errors.HordeTimeoutError):
            fail(
                f"timed out talking to {settings.base_url}: {exc.message}",
                EXIT_UNREACHABLE,
                "check the server and the network, or raise --timeout",
            )
        fail(
            f"cannot reach {settings.base_url}: {exc.message}",
            EXIT_UNREACHABLE,
            "check --url / AI_HORDE_URL and that the server is running",
        )
    except KeyboardInterrupt:
        if check:
            fail("interrupted; the change may or may not have been applied", EXIT_INTERRUPTED, check)
        fail("interrupted", EXIT_INTERRUPTED)
