"""Group commit: batches from concurrent requests share one durable transaction.

Every acknowledged reading must be on disk, so each commit waits for an fsync. One
thread per process takes every batch that arrived while the previous commit was
running and stores them together (:func:`cityshare.streams.ingest.commit`), so the
cost of an fsync is shared instead of paid per request. Each caller still gets its own
outcome, only after the transaction holding its batch has committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from cityshare.site import Site
from cityshare.streams.ingest import Acknowledgement, IngestRefused, PreparedBatch, commit

log = logging.getLogger(__name__)

MAX_GROUP = 256  # batches per transaction
_STOP = None

Outcome = Acknowledgement | IngestRefused


class GroupCommitter:
    """A writer thread that commits queued batches in groups."""

    def __init__(self, site: Site, *, channel: str = "http") -> None:
        self._site = site
        self._channel = channel
        self._queue: queue.SimpleQueue[tuple[PreparedBatch, Future[Outcome]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="ingest-commit", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def submit(self, batch: PreparedBatch) -> Future[Outcome]:
        """Queue ``batch``; the future resolves once it is durably stored (or refused)."""
        self._start()
        future: Future[Outcome] = Future()
        self._queue.put((batch, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = self._drain(group)
            self._commit(group)
            if stop:
                return

    def _drain(self, group: list[tuple[PreparedBatch, Future[Outcome]]]) -> bool:
        while len(group) < MAX_GROUP:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            group.append(item)
        return False

    def _commit(self, group: list[tuple[PreparedBatch, Future[Outcome]]]) -> None:
        try:
            outcomes = commit(self._site, [batch for batch, _ in group], channel=self._channel)
        except Exception as error:  # every waiting request must hear back
            log.warning("ingest commit failed: %s", type(error).__name__)
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), outcome in zip(group, outcomes, strict=True):
            future.set_result(outcome)
