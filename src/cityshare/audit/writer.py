"""Recording reads without slowing them: events queue in memory and a thread appends them.

Writes are audited inside their own transaction (:func:`cityshare.audit.log.audit`).
Reads and refused requests happen far more often and change nothing, so a request only
queues its event; one thread per process appends everything queued in one transaction,
a few times a second. :meth:`AuditWriter.close` appends what is left before the process
ends.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from cityshare.audit.log import Event, record
from cityshare.site import Site, utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 1000
LINGER_SECONDS = 0.05  # gather a few events into each transaction
RETRY_SECONDS = 0.5


class AuditWriter:
    """Appends queued events to the audit chain in batches, from one thread."""

    def __init__(self, site: Site) -> None:
        self._site = site
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._lock = threading.Lock()
        self._started = False

    def submit(self, event: Event) -> None:
        """Queue ``event`` (stamped now) for the chain; returns at once."""
        if event.at is None:
            event = Event(
                event.action,
                event.actor,
                event.outcome,
                event.dataset_id,
                event.resource,
                event.detail,
                utcnow(),
            )
        self._start()
        self._queue.put(event)

    def close(self) -> None:
        """Append everything queued, then stop."""
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=60)

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            time.sleep(LINGER_SECONDS)
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._append(batch)

    def _append(self, batch: list[Event]) -> None:
        for attempt in range(20):
            try:
                record(self._site, *batch)
                return
            except Exception as error:  # the store may be briefly busy; keep the events
                log.warning("audit append failed (%s), retrying", type(error).__name__)
                time.sleep(RETRY_SECONDS * (attempt + 1))
        log.error("audit append gave up on %d events", len(batch))
