"""Waits and retries on stderr as they happen, and every request with ``-v``.

The client logs each retry at INFO on the ``horde_users`` logger, with ``retry_delay``, ``retry_reason``,
``attempt`` and ``max_retries`` on the record (``extra=``); each request and its answer are DEBUG records.
Under ``--json`` each record is a ``{"log": {...}}`` object on its own line, so stderr stays JSON lines.
Keys never reach these records (the client redacts them) and every line goes through ``common.err``,
which redacts the keys this process was given once more.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from horde_users.cli.common import err, json_errors

LOGGER = "horde_users"


def _delay(seconds: float) -> str:
    """``58`` for long waits, ``1.6`` for short ones."""
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"


def announcement(record: logging.LogRecord) -> str:
    """``<reason>: retrying in <N> s (attempt A of M)`` from the record's retry attributes.

    Records without them (other messages, or a client that does not set them) give their own message.
    """
    delay = getattr(record, "retry_delay", None)
    reason = getattr(record, "retry_reason", None)
    if not isinstance(delay, (int, float)) or not reason:
        return record.getMessage()
    line = f"{reason}: retrying in {_delay(float(delay))} s"
    attempt, most = getattr(record, "attempt", None), getattr(record, "max_retries", None)
    if isinstance(attempt, int) and isinstance(most, int):
        line += f" (attempt {attempt} of {most})"
    return line


def as_json(record: logging.LogRecord) -> str:
    """The record as one JSON object (under ``--json``, so stderr stays one JSON object per line)."""
    entry: dict[str, Any] = {"level": record.levelname.lower(), "message": announcement(record)}
    for name in ("retry_reason", "retry_delay", "attempt", "max_retries"):
        value = getattr(record, name, None)
        if isinstance(value, (str, int, float)):
            entry[name] = value
    return json.dumps({"log": entry}, ensure_ascii=False)


class StderrAnnouncer(logging.Handler):
    """Prints each record of the package's logger as one line on stderr (a JSON object under --json)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err(as_json(record) if json_errors() else announcement(record))
        except Exception:  # a log line must never break a command
            self.handleError(record)


def install(verbose: int) -> Callable[[], None]:
    """Show retries (INFO) on stderr, and with ``verbose`` every request (DEBUG); returns the undo."""
    logger = logging.getLogger(LOGGER)
    level = logging.DEBUG if verbose else logging.INFO
    handler = StderrAnnouncer(level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def uninstall() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    return uninstall
