"""Fixed-window rate limiting with the real AI Horde's numbers and headers (docs/users-api.md §4.6).

A window starts at the first request counted in its bucket (``t0``, a float) and closes at ``t0 + 60``.
Every request inside the window counts; once ``limit`` requests were counted, the rest of the window is
refused (a refusal does not extend the window). Thread-safe, with bounded memory: expired windows are
dropped as time passes (on every hit, and by :meth:`~FixedWindowRateLimiter.purge`, which a server calls
when it is otherwise quiet), and past ``max_buckets`` live windows the oldest is forgotten. Keys are
the caller's to keep short (the edge middleware bounds them).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_BUCKETS", "WINDOW_SECONDS", "FixedWindowRateLimiter", "RateLimitDecision"]

WINDOW_SECONDS = 60.0
"""Length of one window: every limit of the users API is "per 1 minute"."""

DEFAULT_MAX_BUCKETS = 10_000
"""Live windows kept at most: far above a local sandbox's clients, a few MB at the edge's key sizes."""


@dataclass(frozen=True)
class RateLimitDecision:
    """The outcome of counting one request: whether it may proceed, and what its headers say."""

    allowed: bool
    limit: int
    remaining: int
    """What is left after counting this request (``0`` on a refusal)."""
    reset: int
    """``floor(t0) + 61``: a Unix time in whole seconds, one second past the window's end."""

    def retry_after(self, now: float) -> int:
        """``floor(reset - now)``, kept within 0..60 (so a window's first response says 60)."""
        return min(int(WINDOW_SECONDS), max(0, math.floor(self.reset - now)))

    def headers(self, now: float) -> list[tuple[bytes, bytes]]:
        """The ``X-RateLimit-*`` and ``Retry-After`` headers of a response sent at ``now`` (ASGI form)."""
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
            (b"retry-after", str(self.retry_after(now)).encode()),
        ]

    @property
    def message(self) -> str:
        """The text of the 429 body, e.g. ``"60 per 1 minute"``."""
        return f"{self.limit} per 1 minute"


class _Window:
    __slots__ = ("count", "t0")

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.count = 0


class FixedWindowRateLimiter:
    """Counts requests per bucket key in fixed one-minute windows (the real server's scheme)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        window: float = WINDOW_SECONDS,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        if window <= 0 or max_buckets < 1:
            raise ValueError("window must be positive and max_buckets at least 1")
        self._clock = clock
        self._window = window
        self._max_buckets = max_buckets
        self._lock = threading.Lock()
        # Insertion order is window-start order, so expired windows are always at the front.
        self._buckets: OrderedDict[str, _Window] = OrderedDict()

    @property
    def clock(self) -> Callable[[], float]:
        """The time source (Unix seconds) used for windows and headers."""
        return self._clock

    @property
    def max_buckets(self) -> int:
        """How many windows are kept at most (the oldest is forgotten past it)."""
        return self._max_buckets

    def __len__(self) -> int:
        """How many buckets currently hold a window (live or not yet swept)."""
        return len(self._buckets)

    def keys(self) -> list[str]:
        """The keys of the buckets held now, oldest window first."""
        with self._lock:
            return list(self._buckets)

    def purge(self, now: float | None = None) -> int:
        """Drop every expired window now; returns how many were dropped."""
        if now is None:
            now = self._clock()
        with self._lock:
            before = len(self._buckets)
            self._expire(now)
            return before - len(self._buckets)

    def hit(self, key: str, limit: int, now: float | None = None) -> RateLimitDecision:
        """Count one request in bucket ``key`` (limit ``limit`` per window) and decide on it."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if now is None:
            now = self._clock()
        with self._lock:
            self._expire(now)
            window = self._buckets.get(key)
            if window is None or now >= window.t0 + self._window:
                window = _Window(now)
                self._buckets[key] = window
                self._buckets.move_to_end(key)
                if len(self._buckets) > self._max_buckets:
                    self._buckets.popitem(last=False)
            allowed = window.count < limit
            if allowed:
                window.count += 1
            remaining = limit - window.count
            t0 = window.t0
        return RateLimitDecision(
            allowed=allowed, limit=limit, remaining=remaining, reset=math.floor(t0) + int(self._window) + 1
        )

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._buckets.clear()

    def _expire(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            first = next(iter(buckets.values()))
            if first.t0 + self._window > now:
                break
            buckets.popitem(last=False)
