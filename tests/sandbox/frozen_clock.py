"""A sandbox clock that stands still until a test moves it (``Sandbox(clock=...)``)."""

from __future__ import annotations

from datetime import datetime, timedelta


class FrozenClock:
    """Unix seconds, like ``time.time``, fixed at ``at`` (an aware datetime) until :meth:`advance`."""

    def __init__(self, at: datetime) -> None:
        self.seconds = at.timestamp()

    def __call__(self) -> float:
        return self.seconds

    def advance(self, delta: timedelta) -> None:
        self.seconds += delta.total_seconds()
