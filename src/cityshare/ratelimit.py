"""Token-bucket rate limits: in this process, or shared by every process through Redis.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; each
allowed request takes one. Both implementations keep one number per key, the
"theoretical arrival time" of the generic cell rate algorithm (GCRA): the moment the
bucket will be full again. That is exactly a token bucket, with one write per allowed
request and none for a refused one, and a key whose time has passed is a full bucket,
so it can be forgotten (in memory) or expire (in Redis).

Callers name their own keys (``"token:42"``, ``"sign-in:alice"``) and limits::

    decision = site.rate_limiter.hit("sign-in:alice", rate=5 / 60, burst=10)
    if not decision.allowed:
        raise TooManyRequests("…", retry_after=decision.retry_after_seconds)

A rate of 0 or less means no limit. Nothing here imports a web framework.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

log = logging.getLogger("cityshare.ratelimit")

Clock = Callable[[], float]
MAX_KEYS = 100_000  # buckets one process remembers; the least recently used go first
SWEEP_SECONDS = 60.0  # how often full (idle) buckets are forgotten
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_CONNECTIONS = 32  # per process, for the event loop's requests
REDIS_RETRY_SECONDS = 5.0  # after a Redis failure, per-process limits for this long
WARN_EVERY_SECONDS = 60.0

# KEYS[1]: the bucket. ARGV[1]: microseconds per token (1/rate). ARGV[2]: burst.
# Returns {allowed (0/1), remaining tokens, microseconds until a token is free}.
# Redis's own clock (TIME) is the one clock of every process.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now)}
end
local ttl = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, math.floor((now - allow_at) / interval + 0.000001), 0}
"""


class LimitDecision(NamedTuple):
    """The answer to one request against a bucket (a tuple: cheap to make on every request)."""

    allowed: bool
    remaining: int  # tokens left after this request
    retry_after: float  # seconds until one more request would be allowed (0 when allowed)

    @property
    def retry_after_seconds(self) -> int:
        """``retry_after`` as whole seconds, at least 1 (the form of ``Retry-After``)."""
        return max(1, math.ceil(self.retry_after))


class TokenBucketLimiter(Protocol):
    """Where buckets live. ``hit`` is for threads (services), ``ahit`` for the event loop."""

    def hit(self, key: str, rate: float, burst: int) -> LimitDecision:
        """Take one token from ``key``'s bucket of ``burst`` refilled at ``rate``/second."""
        ...

    async def ahit(self, key: str, rate: float, burst: int) -> LimitDecision:
        """:meth:`hit` without blocking the event loop."""
        ...

    async def aclose(self) -> None:
        """Release what :meth:`ahit` holds on the running event loop."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def unlimited(burst: int) -> LimitDecision:
    """The decision when a limit is switched off."""
    return LimitDecision(allowed=True, remaining=burst, retry_after=0.0)


ROUNDING_SLACK = 1e-9  # seconds


class InProcessLimiter:
    """Buckets in this process's memory, behind a lock; at most ``max_keys`` of them."""

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_KEYS,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds
        self._full_at: OrderedDict[str, float] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._full_at)

    def hit(self, key: str, rate: float, burst: int) -> LimitDecision:
        """Take one token from ``key``'s bucket (see :class:`TokenBucketLimiter`)."""
        if rate <= 0:
            return unlimited(burst)
        interval = 1.0 / rate
        now = self._clock()
        buckets = self._full_at
        with self._lock:
            full_at = buckets.get(key, now)
            full_at = (full_at if full_at > now else now) + interval
            allow_at = full_at - burst * interval
            # A nanosecond of slack: (now + interval) - interval can round to just past now.
            if allow_at - now > ROUNDING_SLACK:
                return LimitDecision(False, 0, allow_at - now)
            buckets[key] = full_at
            buckets.move_to_end(key)
            if now >= self._next_sweep or len(buckets) > self._max_keys:
                self._trim(now)
        return LimitDecision(True, int((now - allow_at) * rate + 1e-6), 0.0)

    async def ahit(self, key: str, rate: float, burst: int) -> LimitDecision:
        """:meth:`hit`; it never waits, so it runs on the event loop as it is."""
        return self.hit(key, rate, burst)

    def _trim(self, now: float) -> None:
        """Forget full buckets from the least recently used end, then any over the cap."""
        buckets = self._full_at
        while buckets:
            key, full_at = next(iter(buckets.items()))
            if full_at > now:
                break
            del buckets[key]
        while len(buckets) > self._max_keys:
            buckets.popitem(last=False)
        self._next_sweep = now + self._sweep_seconds

    async def aclose(self) -> None:
        """Nothing to release."""

    def close(self) -> None:
        """Nothing to release."""


class RedisLimiter:
    """Buckets in Redis, shared by every process that uses the same URL and prefix.

    Each hit is one round trip running :data:`GCRA_SCRIPT` (atomic in Redis). When Redis
    cannot be reached, limits fall back to per-process buckets for a few seconds and a
    warning is logged (at most once a minute): requests are never refused because the
    limiter is down, and never left wholly unlimited either.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        fallback: InProcessLimiter | None = None,
        clock: Clock = time.monotonic,
        timeout: float = REDIS_TIMEOUT_SECONDS,
    ) -> None:
        import redis

        self._url = url
        self._prefix = prefix
        self._timeout = timeout
        self._clock = clock
        self.fallback = fallback or InProcessLimiter(clock=clock)
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._client.register_script(GCRA_SCRIPT)
        self._async: tuple[asyncio.AbstractEventLoop, Any, Any] | None = None
        self._down_until = -math.inf
        self._warned_at = -math.inf

    def hit(self, key: str, rate: float, burst: int) -> LimitDecision:
        """Take one token from ``key``'s bucket in Redis (see :class:`TokenBucketLimiter`)."""
        import redis

        if rate <= 0:
            return unlimited(burst)
        if self._clock() < self._down_until:
            return self.fallback.hit(key, rate, burst)
        try:
            reply = self._script(keys=[self._prefix + key], args=[1e6 / rate, burst])
        except redis.RedisError as error:
            return self._fall_back(error, key, rate, burst)
        return _decision(reply)

    async def ahit(self, key: str, rate: float, burst: int) -> LimitDecision:
        """:meth:`hit` through Redis's asyncio client."""
        import redis

        if rate <= 0:
            return unlimited(burst)
        if self._clock() < self._down_until:
            return self.fallback.hit(key, rate, burst)
        try:
            reply = await self._async_script()(keys=[self._prefix + key], args=[1e6 / rate, burst])
        except redis.RedisError as error:
            return self._fall_back(error, key, rate, burst)
        return _decision(reply)

    def _async_script(self) -> Any:
        """The script on an asyncio client of the running loop (clients are per loop)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            # Requests in flight wait (up to the timeout) for one of a few connections,
            # rather than opening one each.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._url,
                max_connections=REDIS_CONNECTIONS,
                timeout=self._timeout,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
            )
            client = redis.asyncio.Redis.from_pool(pool)
            self._async = (loop, client, client.register_script(GCRA_SCRIPT))
        return self._async[2]

    def _fall_back(self, error: Exception, key: str, rate: float, burst: int) -> LimitDecision:
        now = self._clock()
        self._down_until = now + REDIS_RETRY_SECONDS
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "Redis for rate limits is unreachable (%s): each process limits on its own "
                "until it answers again",
                type(error).__name__,
            )
        return self.fallback.hit(key, rate, burst)

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop, if one was opened."""
        held, self._async = self._async, None
        if held is not None and held[0] is asyncio.get_running_loop():
            await held[1].aclose()

    def close(self) -> None:
        """Close the connections of the blocking client."""
        self._client.close()


def _decision(reply: Any) -> LimitDecision:
    allowed, remaining, wait_us = (int(part) for part in reply)
    return LimitDecision(allowed=bool(allowed), remaining=remaining, retry_after=wait_us / 1e6)


def make_limiter(redis_url: str | None, *, prefix: str) -> TokenBucketLimiter:
    """The limiter for a site: Redis when ``redis_url`` is set, else in this process."""
    if redis_url:
        return RedisLimiter(redis_url, prefix=prefix)
    return InProcessLimiter()


def client_network(host: str) -> str:
    """The address a client is counted by: an IPv6 address's /64 network (one host
    usually holds a whole /64), an IPv4-mapped address as IPv4, any other as given."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))
