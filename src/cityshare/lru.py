"""A small bounded cache, for results that never go stale or whose users check them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A bounded map, least recently used first out, safe across threads. For results
    that never go stale, such as those computed from a published (immutable) version,
    or whose users check them where it matters (see cityshare.streams.senders).

    A key must hold everything that shapes its value: for answers derived from what one
    reader may see, :func:`cityshare.catalogue.table_reads.view_key` of their view."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The cached value, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key`` and return it."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return value

    def discard(self, key: K) -> None:
        """Forget ``key``, if cached."""
        with self._lock:
            self._items.pop(key, None)
