"""A queue drained in batches by one lazily started thread (group commit, audit appends)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Generic, TypeVar

Item = TypeVar("Item")
_STOP = object()


class BatchingThread(Generic[Item]):
    """Items queued from any thread, handled by one thread in batches of up to ``max_batch``.

    The thread starts on the first :meth:`put`. A batch is everything queued while the
    previous one was handled (after waiting ``linger`` seconds for more, if set).
    :meth:`close` handles what is queued, then stops the thread; the next :meth:`put`
    starts a new one, so whoever holds the object may keep it across a close.
    """

    def __init__(self, name: str, *, max_batch: int, linger: float = 0.0) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._name = name
        self._thread = self._new_thread()
        self._max_batch = max_batch
        self._linger = linger
        self._lock = threading.Lock()
        self._started = False

    def put(self, item: Item) -> None:
        """Queue ``item`` for the thread; returns at once."""
        if not self._started:  # checked again under the lock: one thread starts it
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True
        self._queue.put(item)

    def close(self, timeout: float = 60) -> None:
        """Handle everything queued, then stop (until the next :meth:`put`)."""
        with self._lock:
            if not self._started:
                return
            self._queue.put(_STOP)
            self._thread.join(timeout=timeout)
            if not self._thread.is_alive():
                self._thread = self._new_thread()
                self._started = False

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name=self._name, daemon=True)

    def handle(self, batch: list[Item]) -> None:
        """Handle one batch (subclasses)."""
        raise NotImplementedError

    def take_queued(self, most: int) -> list[Item]:
        """Up to ``most`` more queued items, without waiting: :meth:`handle` may add to its
        batch what arrived while it waited for something (a lock, say)."""
        taken: list[Item] = []
        while len(taken) < most:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # the loop stops after this batch
                break
            taken.append(item)  # type: ignore[arg-type]
        return taken

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if self._linger:
                time.sleep(self._linger)
            self.handle([first, *self.take_queued(self._max_batch - 1)])  # type: ignore[list-item]
