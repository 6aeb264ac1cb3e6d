"""Long work (an index sync, a bulk apply) in a background thread, with progress a page can poll.

A page starts a job and redirects to a page that shows its progress; our small script polls
``/jobs/{id}`` and moves the bar, and without JavaScript a plain refresh shows the same numbers.
At most one job of each kind runs at a time (two syncs into one index would only fight).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["running", "finished", "failed", "stopped"]


@dataclass
class Job:
    """One background task and how far it got."""

    kind: str
    title: str
    unit: str = ""
    """What ``done`` and ``total`` count ("pages", "rows")."""
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    status: Status = "running"
    done: int = 0
    total: int | None = None
    message: str = ""
    result: Any = field(default=None, repr=False)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    def report(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Record progress (called from the worker thread)."""
        self.done = done
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message

    @property
    def percent(self) -> int | None:
        """Whole percent done, when the total is known."""
        if not self.total:
            return None
        return max(0, min(100, round(100 * self.done / self.total)))

    @property
    def running(self) -> bool:
        return self.status == "running"

    def as_json(self) -> dict[str, Any]:
        """What the progress endpoint answers (no result objects, only numbers and text)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "unit": self.unit,
            "message": self.message,
        }


class Jobs:
    """The console's jobs, by id; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []

    def start(
        self,
        kind: str,
        title: str,
        work: Callable[[Job], Any],
        unit: str = "",
        describe_failure: Callable[[BaseException], str] = str,
    ) -> Job:
        """Run ``work(job)`` in a thread; return the running job of this kind if there is one."""
        with self._lock:
            for job in self._jobs.values():
                if job.kind == kind and job.running:
                    return job
            job = Job(kind=kind, title=title, unit=unit)
            self._jobs[job.id] = job
            thread = threading.Thread(
                target=self._run, args=(job, work, describe_failure), name=f"console-{kind}", daemon=True
            )
            self._threads.append(thread)
        thread.start()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Job], Any], describe_failure: Callable[[BaseException], str]) -> None:
        try:
            job.result = work(job)
            job.status = "stopped" if job.stop_requested.is_set() else "finished"
        except BaseException as exc:  # the page shows why; the thread must not die silently
            job.message = describe_failure(exc)
            job.status = "failed"
        finally:
            job.finished_at = time.time()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def latest(self, kind: str) -> Job | None:
        """The most recent job of this kind."""
        with self._lock:
            found = [job for job in self._jobs.values() if job.kind == kind]
        return max(found, key=lambda job: job.started_at) if found else None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask every job to stop and wait for the threads a little."""
        with self._lock:
            jobs, threads = list(self._jobs.values()), list(self._threads)
        for job in jobs:
            job.stop_requested.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
