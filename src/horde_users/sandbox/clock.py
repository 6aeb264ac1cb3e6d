"""A clock a test can move: the sandbox's time is a base clock plus an offset that only grows.

Account ages, rate-limit windows and the 30-day wipe rule (docs/users-api.md §7, §4.6) all read the
sandbox's one clock, so advancing it ages accounts, reopens rate-limit windows and lets deleted inactive
users be wiped, without waiting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["MovableClock"]


class MovableClock:
    """Unix seconds: ``base()`` plus everything :meth:`advance` added. Call it like ``time.time``."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._base() + self._offset

    @property
    def offset(self) -> float:
        """Seconds added so far."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (a finite number, 0 or more); returns the new time."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError("seconds must be a number")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a finite number, 0 or more (the clock never goes back)")
        with self._lock:
            self._offset += float(seconds)
        return self()

    def __repr__(self) -> str:
        return f"MovableClock(offset={self._offset:g})"
