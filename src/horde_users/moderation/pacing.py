"""Pacing requests under a server's per-minute limit, and honouring the waits it asks for."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from horde_users.errors import HordeConnectionError, RateLimitError

LIST_LIMIT_PER_MINUTE = 90
"""The real server's published limit for the user list, per client address."""

DEFAULT_RATE_PER_MINUTE = 80.0
"""A little below :data:`LIST_LIMIT_PER_MINUTE`, so a normal run never meets a 429."""


@dataclass
class Pacer:
    """Spaces calls evenly at ``rate_per_minute``; :meth:`wait` sleeps until the next call may go.

    ``clock`` and ``sleep`` are injectable so that tests and benchmarks can drive time themselves.
    """

    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_at: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.rate_per_minute > 0:
            raise ValueError(f"the rate must be above 0 requests a minute, not {self.rate_per_minute}")

    @property
    def interval(self) -> float:
        """Seconds between two calls."""
        return 60.0 / self.rate_per_minute

    def wait(self) -> float:
        """Sleep until the next call may be sent; return the seconds slept."""
        now = self.clock()
        due = now if self._next_at is None else max(now, self._next_at)
        slept = due - now
        if slept > 0:
            self.sleep(slept)
        self._next_at = due + self.interval
        return slept

    def back_off(self, seconds: float) -> None:
        """Push the next call at least ``seconds`` from now (a server's ``Retry-After``)."""
        self._next_at = max(self._next_at or 0.0, self.clock() + max(seconds, 0.0))


RETRY_AFTER_MARGIN = 1.0
"""Seconds added to a server's ``Retry-After`` (its value is approximate, give or take a second)."""
CONNECTION_RETRIES = 3
"""Consecutive connection failures tolerated on one request before giving up."""
MAX_RATE_LIMITED = 10
"""Consecutive 429 answers tolerated on one request before giving up."""

_T = TypeVar("_T")


class PacedCalls:
    """Calls paced by a :class:`Pacer` that honour ``Retry-After`` and retry a few connection failures.

    A 429 (``RateLimitError``) pushes the pacer back by the server's ``Retry-After`` (plus a margin) and
    the call is sent again; a connection failure is retried after a short back-off. ``sent`` and
    ``rate_limited`` count what happened. Only for requests that are safe to repeat (reads).
    """

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        self.sent = 0
        self.rate_limited = 0

    def call(self, fn: Callable[[], _T]) -> _T:
        """``fn()`` once the pacer allows, again after a 429 or a connection failure."""
        limited = failed = 0
        while True:
            self.pacer.wait()
            self.sent += 1
            try:
                return fn()
            except RateLimitError as exc:
                self.rate_limited += 1
                limited += 1
                if limited > MAX_RATE_LIMITED:
                    raise
                self.pacer.back_off((exc.retry_after or 60.0) + RETRY_AFTER_MARGIN)
            except HordeConnectionError:
                failed += 1
                if failed > CONNECTION_RETRIES:
                    raise
                self.pacer.back_off(min(2.0**failed, 30.0))
