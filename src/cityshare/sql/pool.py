"""The threads that run SQL statements, apart from those every other request needs.

A statement may run for the whole time limit on a CPU, so the SQL endpoints (native and
CKAN's ``datastore_search_sql``) run theirs in a pool of their own
(``limits.sql_threads``), never in the web framework's shared thread pool. A statement is
admitted only when a thread is free — none waits in a queue — and when its actor runs
fewer than ``limits.sql_per_actor`` (signed in) or its address fewer than
``limits.sql_per_address`` (anonymous) statements already; else it is refused at once
with ``Retry-After`` (a statement ends within the time limit):

- :class:`~cityshare.errors.TooManyRequests` (429) when the actor or address is at its cap;
- :class:`SqlBusy` (503) when every thread is taken.

A slot is given back when the statement's thread finishes, not when the request is
abandoned, so the count is always the work actually running. Usage::

    address = client_address(request.client.host)
    answer = await runtime.sql_pool.run(actor, address, run_sql, runtime.reader, actor, text)
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from cityshare.access import Actor
from cityshare.config import Limits
from cityshare.errors import StoreBusy, TooManyRequests
from cityshare.ratelimit import client_network

T = TypeVar("T")


class SqlBusy(StoreBusy):
    """Every thread of the SQL pool is running a statement (503, ``Retry-After``)."""

    title = "SQL endpoint busy"
    slug = "sql-busy"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class SqlPool:
    """A bounded pool of threads for SQL statements, with caps per actor and address."""

    def __init__(self, limits: Limits) -> None:
        self._threads = limits.sql_threads
        self._per_actor = limits.sql_per_actor
        self._per_address = limits.sql_per_address
        self._retry_after = max(1, math.ceil(limits.query_seconds))
        self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="cityshare-sql")
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self._total = 0

    async def run(
        self,
        actor: Actor,
        address: str | None,
        function: Callable[..., T],
        *args: object,
        **kwargs: object,
    ) -> T:
        """``function(*args, **kwargs)`` on a thread of the pool, if ``actor`` (from
        ``address``) may start one more statement now; else TooManyRequests or SqlBusy."""
        key, cap = self._key(actor, address)
        self._admit(key, cap)
        loop = asyncio.get_running_loop()
        call = partial(function, *args, **kwargs)
        try:
            future = loop.run_in_executor(self._executor, self._running_as, key, call)
        except RuntimeError:  # the pool was shut down: nothing will give the slot back
            self._release(key)
            raise
        return await future

    def shutdown(self) -> None:
        """Stop the threads once their statements end."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _key(self, actor: Actor, address: str | None) -> tuple[str, int]:
        if actor.user_id is not None:
            return f"user:{actor.user_id}", self._per_actor
        if actor.device_id is not None:
            return f"device:{actor.device_id}", self._per_actor
        return f"address:{address or 'unknown'}", self._per_address

    def _admit(self, key: str, cap: int) -> None:
        wait = self._retry_after
        with self._lock:
            if self._running[key] >= cap:
                who = "your address" if key.startswith("address:") else "you"
                raise TooManyRequests(
                    f"Too many SQL statements at once from {who}: at most {cap} run at a "
                    f"time. Try again in {wait} seconds.",
                    retry_after=wait,
                )
            if self._total >= self._threads:
                raise SqlBusy(
                    f"Every thread for SQL is running a statement. Try again in {wait} seconds.",
                    retry_after=wait,
                )
            self._running[key] += 1
            self._total += 1

    def _release(self, key: str) -> None:
        with self._lock:
            self._total -= 1
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]

    def _running_as(self, key: str, call: Callable[[], T]) -> T:
        try:
            return call()
        finally:
            self._release(key)


def client_address(host: str | None) -> str | None:
    """A client's address as the SQL pool counts it (see :func:`client_network`)."""
    return None if host is None else client_network(host)
