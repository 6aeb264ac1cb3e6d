"""Background jobs: one of a kind at a time, failures kept as text, a stop request honoured."""

from __future__ import annotations

import threading

from horde_users.console.jobs import Job, Jobs


def wait(job: Job) -> None:
    for _ in range(500):
        if not job.running:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the job did not end")


def test_a_second_job_of_a_kind_joins_the_running_one() -> None:
    jobs = Jobs()
    release = threading.Event()

    def work(job: Job) -> str:
        job.report(1, 4, "first page")
        release.wait(10)
        return "done"

    first = jobs.start("sync", "Sync", work, unit="pages")
    second = jobs.start("sync", "Sync", work, unit="pages")
    assert second is first
    release.set()
    wait(first)
    assert first.status == "finished"
    assert first.result == "done"
    assert first.as_json() == {
        "id": first.id,
        "kind": "sync",
        "status": "finished",
        "done": 1,
        "total": 4,
        "percent": 25,
        "unit": "pages",
        "message": "first page",
    }
    assert jobs.latest("sync") is first
    assert jobs.start("sync", "Sync", lambda job: None) is not first  # a finished one does not block


def test_a_failure_is_kept_as_the_described_text() -> None:
    jobs = Jobs()

    def work(job: Job) -> None:
        raise RuntimeError("secret-key-123 went wrong")

    job = jobs.start("bulk", "Bulk", work, describe_failure=lambda exc: "described: " + type(exc).__name__)
    wait(job)
    assert job.status == "failed"
    assert job.message == "described: RuntimeError"


def test_shutdown_asks_running_jobs_to_stop() -> None:
    jobs = Jobs()

    def work(job: Job) -> None:
        job.stop_requested.wait(10)

    job = jobs.start("sync", "Sync", work)
    jobs.shutdown(timeout=10)
    assert job.status == "stopped"
