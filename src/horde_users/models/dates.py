"""The server writes `monthly_kudos.last_received` as RFC 822 (`Fri, 27 Nov 2026 01:17:41 -0000`)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer


def _parse_rfc822(value: object) -> object:
    """Parse RFC 822 text; leave anything else (ISO 8601 text, datetimes) to pydantic."""
    if isinstance(value, str) and value[:1].isalpha():
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"not an RFC 822 or ISO 8601 date: {value!r}") from error
    return value


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC, as the server means them."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def format_rfc822(value: datetime) -> str:
    """Write a datetime the way the server does: UTC with a literal `-0000` zone."""
    return format_datetime(_as_utc(value).replace(tzinfo=None))


ServerDateTime = Annotated[
    datetime,
    BeforeValidator(_parse_rfc822),
    AfterValidator(_as_utc),
    PlainSerializer(format_rfc822, return_type=str, when_used="json"),
]
"""A UTC datetime read from RFC 822 or ISO 8601 and written back in the server's RFC 822 form."""
