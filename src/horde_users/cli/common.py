"""What every command shares: the global settings, the client, and the mapping of failures to exit codes.

Exit codes: 0 success; 1 the server refused (any HTTP error, 429 after the retries included); 2 a usage
error, including values the models reject before anything is sent; 3 the server could not be reached, a
timeout, or an outcome that is unknown. Expected failures print one ``error: ...`` line on stderr (plus,
at most, one ``hint: ...`` line), never a traceback. The API key is never printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from horde_users.client import HordeUsers

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

REDACTED = "<redacted>"
ANONYMOUS_KEY = "0000000000"

_secrets: set[str] = set()
"""Keys this process has been given; every stderr line is scrubbed of them."""


@dataclass
class Settings:
    """The global options, resolved lazily (the key is read from stdin only when a command needs it)."""

    url: str | None = None
    api_key_option: str | None = None
    json: bool = False
    timeout: float = 30.0
    show_secrets: bool = False
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
            if self._api_key and self._api_key != ANONYMOUS_KEY:
                _secrets.add(self._api_key)
        return self._api_key

    @property
    def base_url(self) -> str:
        """The base URL the client will use (for messages)."""
        from horde_users.endpoints import resolve_base_url

        return resolve_base_url(self.url)


def _resolve_api_key(option: str | None) -> str | None:
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
    env = os.environ.get("AI_HORDE_API_KEY", "").strip()
    return env or None


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root callback stored (defaults when a command runs on its own)."""
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    settings = Settings()
    ctx.find_root().obj = settings
    return settings


def redact(text: str) -> str:
    """``text`` with every key this process was given replaced by ``<redacted>`` (longest first)."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def fail(message: str, code: int, hint: str | None = None) -> NoReturn:
    """Print ``error: message`` (and an optional hint) on stderr and exit with ``code``."""
    err(f"error: {message}")
    if hint:
        err(f"hint: {hint}")
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
    with HordeUsers(api_key=settings.api_key, base_url=settings.url, timeout=settings.timeout) as client:
        yield client


def describe_api_error(exc: Any) -> str:
    """``NotModerator (403): <message>``, ``400: field: reason``, ``429: rate limited, retry after N s``."""
    status = getattr(exc, "status_code", None)
    rc = getattr(exc, "rc", None)
    rc_text = getattr(rc, "value", rc)
    message = str(getattr(exc, "message", "") or "").strip()
    errors = getattr(exc, "errors", None)
    retry_after = getattr(exc, "retry_after", None)
    if rc_text:
        text = f"{rc_text} ({status}): {message}"
    elif isinstance(errors, dict) and errors:
        text = f"{status}: " + "; ".join(f"{name}: {reason}" for name, reason in errors.items())
    elif status == 429:
        text = "429: rate limited"
        if retry_after is not None:
            text += f", retry after {_seconds(retry_after)} s"
        if message:
            text += f" ({message})"
    else:
        text = f"{status}: {message or 'no message'}"
    return redact(text)


def _seconds(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def describe_validation_error(exc: Any) -> str:
    """A pydantic ValidationError as ``field: reason; field: reason`` (inputs are never shown)."""
    parts = []
    for item in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "__root__")
        msg = str(item.get("msg", "invalid value"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid value"


@contextmanager
def handle_errors(settings: Settings, *, check: str | None = None) -> Iterator[None]:
    """Turn the client's exceptions into one stderr line and the documented exit code.

    ``check`` says what to look at when the outcome of a change is unknown.
    """
    from pydantic import ValidationError

    from horde_users import errors

    try:
        yield
    except ValidationError as exc:
        fail(describe_validation_error(exc), EXIT_USAGE)
    except errors.HordeError as exc:
        if exc.outcome_unknown:
            what = describe_api_error(exc) if isinstance(exc, errors.HordeAPIError) else exc.message
            fail(f"outcome unknown: {what}", EXIT_UNREACHABLE, check or exc.outcome_hint)
        if isinstance(exc, errors.HordeAPIError):
            fail(describe_api_error(exc), EXIT_REFUSED)
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
            fail("interrupted; the change may or may not have been applied", 130, check)
        fail("interrupted", 130)
