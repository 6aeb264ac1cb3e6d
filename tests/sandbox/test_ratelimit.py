"""The fixed-window limiter behind the sandbox's rate limits (docs/users-api.md §4.6)."""

from __future__ import annotations

import threading

import pytest

from horde_users.sandbox.ratelimit import FixedWindowRateLimiter

# Fri, 27 Nov 2026 01:17:40.3 UTC: the first list request of examples/010 (Reset 1795742321).
T0 = 1795742260.3


class Clock:
    """A settable time source."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_first_request_opens_a_window_with_reset_one_second_past_its_end() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock())
    decision = limiter.hit("list|10.0.0.7", 90)
    assert decision.allowed
    assert (decision.limit, decision.remaining, decision.reset) == (90, 89, 1795742321)
    assert decision.retry_after(T0 + 0.01) == 60


def test_retry_after_counts_down_to_the_same_reset() -> None:
    clock = Clock()
    limiter = FixedWindowRateLimiter(clock=clock)
    limiter.hit("k", 90)
    clock.now = 1795742294.5  # 01:18:14, as in the contract's example
    decision = limiter.hit("k", 90)
    assert (decision.remaining, decision.reset, decision.retry_after(clock.now)) == (88, 1795742321, 26)


def test_retry_after_stays_within_zero_and_sixty() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock(1000.0))
    decision = limiter.hit("k", 60)
    assert decision.reset == 1061
    assert decision.retry_after(1000.0) == 60  # floor(61.0) would say 61
    assert decision.retry_after(1070.0) == 0


def test_the_request_after_the_limit_is_refused_with_nothing_remaining() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock())
    remaining = [limiter.hit("k", 60).remaining for _ in range(60)]
    assert remaining == list(range(59, -1, -1))
    refused = limiter.hit("k", 60)
    assert not refused.allowed
    assert (refused.remaining, refused.reset, refused.message) == (0, 1795742321, "60 per 1 minute")


def test_refusals_do_not_extend_the_window_which_closes_at_t0_plus_60() -> None:
    clock = Clock()
    limiter = FixedWindowRateLimiter(clock=clock)
    for _ in range(3):
        limiter.hit("k", 3)
    clock.now = T0 + 30
    assert not limiter.hit("k", 3).allowed
    clock.now = T0 + 59.999
    assert not limiter.hit("k", 3).allowed
    clock.now = T0 + 60
    fresh = limiter.hit("k", 3)
    assert fresh.allowed
    assert (fresh.remaining, fresh.reset) == (2, 1795742381)


def test_buckets_are_independent() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock())
    assert limiter.hit("a", 1).allowed
    assert not limiter.hit("a", 1).allowed
    assert limiter.hit("b", 1).allowed


def test_expired_windows_are_dropped() -> None:
    clock = Clock()
    limiter = FixedWindowRateLimiter(clock=clock)
    for i in range(100):
        limiter.hit(f"client-{i}", 90)
    assert len(limiter) == 100
    clock.now = T0 + 61
    limiter.hit("late", 90)
    assert len(limiter) == 1


def test_memory_is_bounded_by_forgetting_the_oldest_window() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock(), max_buckets=10)
    assert limiter.hit("first", 1).allowed
    for i in range(10):
        limiter.hit(f"other-{i}", 1)
    assert len(limiter) == 10
    assert limiter.hit("first", 1).allowed  # its window was forgotten


def test_reset_forgets_every_window() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock())
    limiter.hit("k", 1)
    limiter.reset()
    assert limiter.hit("k", 1).allowed


def test_concurrent_hits_allow_exactly_the_limit() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock())
    allowed: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results = [limiter.hit("shared", 90).allowed for _ in range(50)]
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 90
    assert len(allowed) == 400


def test_headers_are_asgi_pairs() -> None:
    decision = FixedWindowRateLimiter(clock=Clock()).hit("k", 90)
    assert dict(decision.headers(T0 + 1)) == {
        b"x-ratelimit-limit": b"90",
        b"x-ratelimit-remaining": b"89",
        b"x-ratelimit-reset": b"1795742321",
        b"retry-after": b"59",
    }


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"max_buckets": 0}])
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        FixedWindowRateLimiter(**kwargs)  # type: ignore[arg-type]


def test_nonsense_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        FixedWindowRateLimiter().hit("k", 0)


def test_purge_drops_expired_windows_without_a_request() -> None:
    clock = Clock()
    limiter = FixedWindowRateLimiter(clock=clock)
    for i in range(50):
        limiter.hit(f"client-{i}", 90)
    clock.now = T0 + 30
    limiter.hit("later", 90)
    assert limiter.purge() == 0
    clock.now = T0 + 60
    assert limiter.purge() == 50
    assert limiter.keys() == ["later"]
    assert limiter.purge(T0 + 90) == 1
    assert len(limiter) == 0


def test_the_default_cap_keeps_a_bounded_number_of_windows() -> None:
    limiter = FixedWindowRateLimiter(clock=Clock())
    for i in range(limiter.max_buckets + 500):
        limiter.hit(f"client-{i}", 90)
    assert len(limiter) == limiter.max_buckets
    assert limiter.keys()[0] == "client-500"  # the oldest windows went first
