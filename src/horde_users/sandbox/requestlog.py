"""The request log: every request the sandbox answered, oldest first, bounded in memory."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from horde_users.sandbox.faults import resolve_path

__all__ = ["REDACTED", "SECRET_HEADERS", "RequestLog", "RequestRecord", "redacted_headers", "select_records"]

DEFAULT_MAX_ENTRIES = 10_000
REDACTED = "<redacted>"
SECRET_HEADERS = frozenset({"apikey", "proxy-authorization", "authorization", "cookie"})
"""Headers whose values the log never keeps (API keys, proxy passkeys, credentials)."""


def redacted_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names (lowercase) and values, secret ones replaced by :data:`REDACTED`; repeats joined."""
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = REDACTED if name in SECRET_HEADERS else value_bytes.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@dataclass(frozen=True)
class RequestRecord:
    """One answered request. ``status`` is None when the connection was dropped without an answer."""

    time: float
    """When it arrived, in the sandbox's clock (Unix seconds)."""
    method: str
    path: str
    """The path as the server saw it, ``/api`` included."""
    query: str
    status: int | None
    duration: float
    """Seconds from arrival to the end of the answer."""
    raw_headers: tuple[tuple[bytes, bytes], ...] = field(repr=False)
    """The request's headers as received (secrets included): read :attr:`headers` instead."""
    body_size: int
    """Request body bytes."""
    fault: int | None = None
    """The id of the fault that answered it, if any."""

    @property
    def headers(self) -> dict[str, str]:
        """Request headers (lowercase names), API keys and passkeys redacted (made on each read, so
        logging a request costs no work on the hot path)."""
        return redacted_headers(self.raw_headers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "duration": self.duration,
            "headers": self.headers,
            "body_size": self.body_size,
            "fault": self.fault,
        }


class RequestLog:
    """The last ``max_entries`` answered requests (a deque), oldest first; thread-safe."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._entries: deque[RequestRecord] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._total = 0

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._entries.append(record)
            self._total += 1

    @property
    def total(self) -> int:
        """Requests logged since the start (or the last clear), including those the bound dropped."""
        return self._total

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0

    def all(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._entries)

    def since(self, seen: int) -> tuple[list[RequestRecord], int]:
        """The records logged after the first ``seen`` ones (by :attr:`total`), and the new total."""
        with self._lock:
            new = min(self._total - seen, len(self._entries)) if self._total >= seen else len(self._entries)
            entries = list(self._entries)[len(self._entries) - new :] if new > 0 else []
            return entries, self._total

    def filter(
        self, *, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> list[RequestRecord]:
        """The records with this method, path (a pattern such as ``/v2/users/{id}`` or a concrete path;
        ``/api`` may be left out) and status; None matches anything."""
        return select_records(self.all(), method=method, path=path, status=status)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._entries[index]


def select_records(
    records: list[RequestRecord], *, method: str | None, path: str | None, status: int | None
) -> list[RequestRecord]:
    """The records matching :meth:`RequestLog.filter`'s criteria (ValueError for a path not served)."""
    pattern = resolve_path(path) if path is not None else None
    wanted = method.upper() if method is not None else None
    return [
        r
        for r in records
        if (wanted is None or r.method == wanted)
        and (pattern is None or pattern.matches(r.path))
        and (status is None or r.status == status)
    ]
