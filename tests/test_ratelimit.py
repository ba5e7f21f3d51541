"""Token buckets: the in-process limiter on a fake clock, and the Redis one on a real Redis."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from cityshare.ratelimit import (
    InProcessLimiter,
    LimitDecision,
    RedisLimiter,
    make_limiter,
)
from tests.redis_support import RedisSpace, redis_space

__all__ = ["redis_space"]  # the fixture, imported to be used here


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the decision ----------------------------------------------------------------------


@pytest.mark.parametrize(("wait", "seconds"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, seconds: int) -> None:
    assert LimitDecision(False, 0, wait).retry_after_seconds == seconds


# --- in process ------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_refuses() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(clock=clock)
    decisions = [limiter.hit("token:1", rate=2, burst=5) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert decisions[5].retry_after == pytest.approx(0.5)
    assert decisions[5].retry_after_seconds == 1


@pytest.mark.parametrize("reading", [1000.0, 2036.385693008822])
def test_a_fresh_bucket_allows_its_first_request_whatever_the_clock(reading: float) -> None:
    """At some clock readings (now + 100) - 100 rounds to just past now; one request of a
    burst of 1 must still pass."""
    clock = FakeClock()
    clock.now = reading
    limiter = InProcessLimiter(clock=clock)
    assert [limiter.hit("k", rate=0.01, burst=1).allowed for _ in range(2)] == [True, False]


def test_a_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(clock=clock)
    for _ in range(3):
        assert limiter.hit("k", rate=1, burst=3).allowed
    assert not limiter.hit("k", rate=1, burst=3).allowed
    clock.advance(0.99)
    assert not limiter.hit("k", rate=1, burst=3).allowed
    clock.advance(0.01)
    assert limiter.hit("k", rate=1, burst=3).allowed
    clock.advance(10)  # full again, never more than the burst
    assert [limiter.hit("k", rate=1, burst=3).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_refused_requests_do_not_push_the_wait_further() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(clock=clock)
    limiter.hit("k", rate=0.1, burst=1)
    waits = [limiter.hit("k", rate=0.1, burst=1).retry_after for _ in range(5)]
    assert waits == [pytest.approx(10.0)] * 5


def test_keys_are_independent() -> None:
    limiter = InProcessLimiter(clock=FakeClock())
    assert limiter.hit("token:1", rate=1, burst=1).allowed
    assert not limiter.hit("token:1", rate=1, burst=1).allowed
    assert limiter.hit("token:2", rate=1, burst=1).allowed


def test_a_rate_of_zero_means_no_limit() -> None:
    limiter = InProcessLimiter(clock=FakeClock())
    assert all(limiter.hit("k", rate=0, burst=1).allowed for _ in range(1000))
    assert len(limiter) == 0


def test_full_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(clock=clock, sweep_seconds=60)
    for number in range(100):
        limiter.hit(f"address:{number}", rate=1, burst=10)
    assert len(limiter) == 100
    clock.advance(61)  # every bucket refilled long ago
    limiter.hit("address:new", rate=1, burst=10)
    assert len(limiter) == 1


def test_memory_is_bounded_least_recently_used_first() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(clock=clock, max_keys=50)
    limiter.hit("busy", rate=0.001, burst=2)
    for number in range(200):
        limiter.hit(f"address:{number}", rate=0.001, burst=2)
        limiter.hit("busy", rate=0.001, burst=1000)  # keeps "busy" recently used
    assert len(limiter) <= 50
    assert not limiter.hit("busy", rate=0.001, burst=2).allowed  # remembered


def test_concurrent_hits_never_exceed_the_burst() -> None:
    limiter = InProcessLimiter()
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [limiter.hit("shared", rate=0.001, burst=100).allowed for _ in range(200)]
        with lock:
            allowed.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 100


def test_the_async_hit_is_the_same_bucket() -> None:
    limiter = InProcessLimiter(clock=FakeClock())
    assert limiter.hit("k", rate=1, burst=2).allowed
    assert asyncio.run(limiter.ahit("k", rate=1, burst=2)).allowed
    assert not limiter.hit("k", rate=1, burst=2).allowed


def test_the_site_limiter_follows_the_settings() -> None:
    assert isinstance(make_limiter(None, prefix="p:"), InProcessLimiter)
    limiter = make_limiter("redis://127.0.0.1:1/0", prefix="p:")  # connects on first use
    assert isinstance(limiter, RedisLimiter)
    limiter.close()


# --- Redis -----------------------------------------------------------------------------


def test_redis_bucket_allows_its_burst_then_refuses(redis_space: RedisSpace) -> None:
    limiter = RedisLimiter(redis_space.url, prefix=redis_space.prefix)
    try:
        decisions = [limiter.hit("token:1", rate=1, burst=5) for _ in range(7)]
    finally:
        limiter.close()
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 0.5 < decisions[5].retry_after <= 1.0
    assert decisions[6].retry_after_seconds == 1


def test_redis_bucket_refills(redis_space: RedisSpace) -> None:
    limiter = RedisLimiter(redis_space.url, prefix=redis_space.prefix)
    try:
        assert limiter.hit("k", rate=20, burst=1).allowed
        refused = limiter.hit("k", rate=20, burst=1)
        assert not refused.allowed and 0 < refused.retry_after <= 0.05
        time.sleep(refused.retry_after + 0.005)
        assert limiter.hit("k", rate=20, burst=1).allowed
    finally:
        limiter.close()


def test_two_redis_limiters_share_one_bucket(redis_space: RedisSpace) -> None:
    first = RedisLimiter(redis_space.url, prefix=redis_space.prefix)
    second = RedisLimiter(redis_space.url, prefix=redis_space.prefix)
    try:
        allowed = [
            (first if n % 2 else second).hit("token:7", rate=0.01, burst=6).allowed
            for n in range(20)
        ]
    finally:
        first.close()
        second.close()
    assert sum(allowed) == 6


def test_redis_keys_carry_a_ttl_and_the_prefix(redis_space: RedisSpace) -> None:
    limiter = RedisLimiter(redis_space.url, prefix=redis_space.prefix)
    try:
        limiter.hit("address:203.0.113.9", rate=10, burst=20)
    finally:
        limiter.close()
    key = f"{redis_space.prefix}address:203.0.113.9"
    assert redis_space.stored_keys() == [key.encode()]
    ttl = redis_space.client.pttl(key)
    assert 0 < ttl <= 100  # one token's worth: the bucket is full again 100 ms later


def test_redis_async_hits_share_the_bucket(redis_space: RedisSpace) -> None:
    limiter = RedisLimiter(redis_space.url, prefix=redis_space.prefix)

    async def run() -> list[bool]:
        try:
            return [(await limiter.ahit("k", rate=0.01, burst=3)).allowed for _ in range(5)]
        finally:
            await limiter.aclose()

    try:
        assert limiter.hit("k", rate=0.01, burst=3).allowed
        assert asyncio.run(run()) == [True, True, False, False, False]
    finally:
        limiter.close()


def test_concurrent_redis_hits_never_exceed_the_burst(redis_space: RedisSpace) -> None:
    # A generous timeout: this is about Redis deciding atomically, not about the fallback
    # a busy machine's slow answers would trigger.
    limiter = RedisLimiter(redis_space.url, prefix=redis_space.prefix, timeout=10.0)

    async def run() -> list[bool]:
        try:
            hits = [limiter.ahit("shared", rate=0.001, burst=50) for _ in range(200)]
            return [decision.allowed for decision in await asyncio.gather(*hits)]
        finally:
            await limiter.aclose()

    try:
        allowed = asyncio.run(run())
    finally:
        limiter.close()
    assert sum(allowed) == 50


def test_unreachable_redis_falls_back_to_per_process_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    limiter = RedisLimiter("redis://127.0.0.1:1/0", prefix="p:", clock=clock, timeout=0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="cityshare.ratelimit"):
            decisions = [limiter.hit("k", rate=1, burst=2) for _ in range(4)]
            asyncio.run(limiter.ahit("other", rate=1, burst=2))
    finally:
        limiter.close()
    assert [d.allowed for d in decisions] == [True, True, False, False]
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once, not once per request
