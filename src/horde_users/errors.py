"""The exceptions raised by the horde-users clients.

```
HordeError
├── InvalidRequestError           bad input, refused before sending (also a ValueError)
├── HordeConnectionError          no usable answer: refused, reset, dropped
│   └── HordeTimeoutError         no answer in time
└── HordeAPIError                 the server answered with an error status
    ├── BadRequestError           400
    ├── AuthenticationError       401
    ├── PermissionDeniedError     403
    ├── NotFoundError             404
    ├── PayloadTooLargeError      413
    ├── RateLimitError            429 (``retry_after``)
    ├── ServerError               5xx
    └── InvalidResponseError      a body that is not the response: wrong shape, not JSON, over 2 MiB
```

Branch on ``status_code`` and ``rc``, never on ``message`` (the real server and the sandbox word
messages differently). Every message is stored with each API key that was sent replaced by
``<redacted>``. ``outcome_unknown`` is true when a change (PUT or DELETE) may or may not have been
applied: read the user before trying again.

This module imports nothing heavy, so ``import horde_users`` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from horde_users.models import RC

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "HordeAPIError",
    "HordeConnectionError",
    "HordeError",
    "HordeTimeoutError",
    "InvalidRequestError",
    "InvalidResponseError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]

REDACTED = "<redacted>"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every occurrence of each non-empty secret replaced by ``<redacted>``.

    Longer secrets are replaced first, so a key that contains another is never half-redacted.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def excerpt(text: str, limit: int = 200) -> str:
    """A short one-line excerpt of a body that is not JSON (HTML tags and runs of blanks removed)."""
    flat = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class HordeError(Exception):
    """Base class of every error raised by horde-users.

    Attributes:
        message: what went wrong (already redacted).
        method: the HTTP method of the request, when there was one.
        url: the request URL (never carries a key: keys travel in a header).
        outcome_unknown: true when the request changed data (PUT or DELETE) and may or may not
            have been applied. Read the user to see whether the change was applied before trying again.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.outcome_unknown = outcome_unknown

    @property
    def path(self) -> str | None:
        """The path of the request URL (``/api/v2/users/3``), or None."""
        return urlsplit(self.url).path if self.url else None

    def _where(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.url else ""
        return where + (" " + self.outcome_hint if self.outcome_unknown else "")

    @property
    def outcome_hint(self) -> str:
        """What to check when ``outcome_unknown`` is true."""
        if self.method == "DELETE":
            return (
                "Outcome unknown: the user may or may not have been deleted. Read the user (get_user) "
                "before deleting again: a repeated DELETE can wipe the account for good."
            )
        return (
            "Outcome unknown: the change may or may not have been applied. Read the user (get_user) "
            "to see whether it was applied before sending it again."
        )

    def __str__(self) -> str:
        return self.message + self._where()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, method={self.method!r}, url={self.url!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes survive pickling (multiprocessing, test runners).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[HordeError], state: dict[str, object]) -> HordeError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class InvalidRequestError(HordeError, ValueError):
    """Bad input (an argument, a field value, a malformed API key), refused before anything is sent.

    It is also a ``ValueError``. When pydantic refused a value, its ``ValidationError`` is the cause;
    the message names the fields in plain words and never shows a key.
    """


class HordeConnectionError(HordeError):
    """No usable answer from the server: the connection was refused, reset or dropped.

    ``request_sent`` is false when the failure happened before the request could reach the server
    (nothing can have changed then).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        outcome_unknown: bool = False,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, method=method, url=url, outcome_unknown=outcome_unknown)
        self.request_sent = request_sent


class HordeTimeoutError(HordeConnectionError):
    """The server did not answer in time."""


class HordeAPIError(HordeError):
    """The server answered with an error status.

    Attributes:
        status_code: the HTTP status.
        rc: the server's return code: an ``RC`` member when known, the raw string when not, None when
            the body has none (validation errors, 429, 5xx, non-JSON bodies).
        errors: field name -> message, for validation failures (400 "Input payload validation failed").
        horde_node: the ``Horde-Node`` response header (which server node answered), if any.
        retry_after: seconds from ``Retry-After`` on a 429 or 503, else None.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        rc: RC | str | None = None,
        errors: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
        horde_node: str | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, method=method, url=url, outcome_unknown=outcome_unknown)
        self.status_code = status_code
        self.rc = rc
        self.errors: dict[str, str] | None = dict(errors) if errors is not None else None
        self.horde_node = horde_node
        self.retry_after = retry_after

    @property
    def rc_name(self) -> str | None:
        """The return code as plain text (``"UserNotFound"``), whether or not it is a known ``RC``."""
        if self.rc is None:
            return None
        value = getattr(self.rc, "value", self.rc)
        return str(value)

    def __str__(self) -> str:
        head = f"{self.status_code} {self.rc_name}" if self.rc_name else str(self.status_code)
        text = f"{head}: {self.message}" if self.message else head
        if self.errors:
            text += " [" + "; ".join(f"{k or '<body>'}: {v}" for k, v in self.errors.items()) + "]"
        return text + self._where()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, rc={self.rc_name!r}, "
            f"message={self.message!r}, method={self.method!r}, url={self.url!r})"
        )


class BadRequestError(HordeAPIError):
    """400: the request was refused as invalid (see ``rc``, or ``errors`` for field validation)."""


class AuthenticationError(HordeAPIError):
    """401: the API key is unknown (or missing where one is required, or a shared key was used)."""


class PermissionDeniedError(HordeAPIError):
    """403: the key is valid but lacks the role for this operation."""


class NotFoundError(HordeAPIError):
    """404: no such user (or no such route)."""


class PayloadTooLargeError(HordeAPIError):
    """413: the request body was too large."""


class RateLimitError(HordeAPIError):
    """429: too many requests. Nothing ran; try again after ``retry_after`` seconds."""


class ServerError(HordeAPIError):
    """5xx: the server, or a proxy in front of it, failed."""


class InvalidResponseError(HordeAPIError):
    """The answer could not be taken as the response.

    A success whose body is not JSON, or lacks what that response needs (a user's ``id`` and
    ``username``, a delete reply's ``message``), or any body larger than the client reads (2 MiB).
    """


_BY_STATUS: dict[int, type[HordeAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_class_for_status(status_code: int) -> type[HordeAPIError]:
    """The exception class for an error status (``HordeAPIError`` for statuses without their own)."""
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, HordeAPIError)
