"""Writing indexed users out: JSON lines (each user as the API shaped it) or CSV (one flat row each)."""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from horde_users.moderation.index import IndexedUser


class ExportFormat(str, enum.Enum):
    """The export formats."""

    csv = "csv"
    jsonl = "jsonl"


CSV_COLUMNS = (
    "id",
    "username",
    "kudos",
    "concurrency",
    "worker_count",
    "moderator",
    "trusted",
    "flagged",
    "service",
    "education",
    "customizer",
    "deleted",
    "pseudonymous",
    "account_age",
    "created_at",
    "gone",
    "gone_since",
    "listed_at",
    "suspicious",
)
"""The CSV header; times are ISO 8601 UTC, ``account_age`` is as listed at the last sync.

A username a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'``;
JSON lines keep it as it is."""


def csv_row(user: IndexedUser) -> dict[str, Any]:
    """One user as CSV values."""
    return {
        "id": user.id,
        "username": spreadsheet_safe(user.username),
        "kudos": user.kudos,
        "concurrency": user.concurrency,
        "worker_count": user.worker_count,
        **{role: str(getattr(user, role)).lower() for role in CSV_COLUMNS[5:13]},
        "account_age": user.account_age,
        "created_at": _iso(user.created_at),
        "gone": str(user.gone).lower(),
        "gone_since": _iso(user.gone_since),
        "listed_at": _iso(user.listed_at),
        "suspicious": user.suspicious,
    }


def spreadsheet_safe(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would run it as a formula (names are user-chosen)."""
    return "'" + value if value[:1] in _FORMULA_STARTS else value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _iso(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def write_users(users: Iterable[IndexedUser], fmt: ExportFormat | str, stream: TextIO) -> int:
    """Write ``users`` to ``stream`` in ``fmt``; returns how many were written."""
    chosen = ExportFormat(fmt)
    count = 0
    if chosen is ExportFormat.jsonl:
        for user in users:
            stream.write(user.public_json)
            stream.write("\n")
            count += 1
        return count
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for user in users:
        writer.writerow(csv_row(user))
        count += 1
    return count


def read_jsonl(stream: TextIO) -> list[dict[str, Any]]:
    """The users of a JSON-lines export (for scripts and tests)."""
    return [json.loads(line) for line in stream if line.strip()]
