"""Streaming a library's ``write(stream)`` export to the browser, without holding the file in memory.

The export runs in a thread and writes into a small bounded queue; the response reads from it. When
the browser goes away the writer's next write raises, so the thread ends instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_DONE = object()
CHUNK = 64 * 1024


class _Aborted(Exception):
    """The reader stopped (the browser closed the download)."""


class _QueueWriter:
    """A text stream whose writes are batched into byte chunks on a queue."""

    def __init__(self, chunks: queue.Queue[Any], aborted: threading.Event) -> None:
        self._chunks = chunks
        self._aborted = aborted
        self._buffer: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._buffer.append(text)
        self._size += len(text)
        if self._size >= CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._put("".join(self._buffer).encode("utf-8"))
            self._buffer, self._size = [], 0

    def _put(self, item: Any) -> None:
        while True:
            if self._aborted.is_set():
                raise _Aborted()
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def stream_export(write: Callable[[Any], Any]) -> Iterator[bytes]:
    """The bytes ``write(stream)`` produces, as an iterator for a streaming response."""
    chunks: queue.Queue[Any] = queue.Queue(maxsize=8)
    aborted = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        writer = _QueueWriter(chunks, aborted)
        try:
            write(writer)
            writer.flush()
        except _Aborted:
            return
        except BaseException as exc:  # shown as a truncated download; the console logs nothing of it
            failure.append(exc)
        with contextlib.suppress(_Aborted):
            writer._put(_DONE)

    thread = threading.Thread(target=run, name="console-export", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                break
            yield item
    finally:
        aborted.set()
        thread.join(5)
    if failure:
        raise RuntimeError("the export failed part way") from failure[0]
