"""The server writes `monthly_kudos.last_received` as RFC 822 (`Fri, 27 Nov 2026 01:17:41 -0000`)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_MONTHS = {"Jan": "01", "Feb": "02", "Mar": "03", "Apr": "04", "May": "05", "Jun": "06"}
_MONTHS.update({"Jul": "07", "Aug": "08", "Sep": "09", "Oct": "10", "Nov": "11", "Dec": "12"})
_SERVER_FORM = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([1-9][0-9]{3}) ((?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}) [-+]0000"
)
"""The form the server writes (UTC, English names), read without `email.utils` in a third of the time.

Anything else goes to `email.utils`: years below 1000 (it reads `0099` as 1999) and hour 24 (which
some Pythons' `fromisoformat` take as the next midnight) among them."""


def _parse_rfc822(value: object) -> object:
    """Parse RFC 822 text; leave anything else (ISO 8601 text, datetimes) to pydantic."""
    if isinstance(value, str) and value[:1].isalpha():
        try:
            match = _SERVER_FORM.fullmatch(value)
            if match is None:
                return parsedate_to_datetime(value)
            day, month, year, clock = match.groups()
            # Same checks as email.utils (a 31 November or a 24:00 is an error), in C.
            return datetime.fromisoformat(f"{year}-{_MONTHS[month]}-{day}T{clock}+00:00")
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
