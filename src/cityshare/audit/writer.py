"""Recording reads without slowing them: events queue in memory and a thread appends them.

Writes are audited inside their own transaction (:func:`cityshare.audit.log.audit`).
Reads and refused requests happen far more often and change nothing, so a request only
queues its event; one thread per process appends everything queued in one transaction,
a few times a second. :meth:`AuditWriter.close` appends what is left before the process
ends. Repeated refusals are counted rather than appended one by one
(:mod:`cityshare.audit.refusals`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError

from cityshare.audit.log import Event, record
from cityshare.audit.refusals import REFUSED, RefusalTally
from cityshare.background import BatchingThread
from cityshare.clock import utcnow
from cityshare.site import Site
from cityshare.storage.health import is_unavailable_error

log = logging.getLogger(__name__)

MAX_BATCH = 1000
LINGER_SECONDS = 0.25  # gather many events into each transaction
RETRY_SECONDS = 0.5  # the first wait after a failed append; each next one is longer
MAX_RETRY_SECONDS = 5.0
MAX_ATTEMPTS = 20  # for errors other than an unreachable store


class AuditWriter(BatchingThread[Event]):
    """Appends queued events to the audit chain in batches, from one thread."""

    def __init__(self, site: Site, *, retry_seconds: float = RETRY_SECONDS) -> None:
        super().__init__("audit-writer", max_batch=MAX_BATCH, linger=LINGER_SECONDS)
        self._site = site
        self._refusals = RefusalTally(self.put)
        self._retry_seconds = retry_seconds
        self._closing = False

    def submit(self, event: Event) -> None:
        """Queue ``event`` (stamped now) for the chain; returns at once. A refusal is
        queued only when it is the first of its kind for a while; repeats are counted."""
        stamped = event if event.at is not None else replace(event, at=utcnow())
        if stamped.action == REFUSED:
            self._refusals.add(stamped)
        else:
            self.put(stamped)

    def close(self, timeout: float = 60) -> None:
        """Append the refusals still counted and everything queued, then stop. Events that
        wait for an unreachable store are tried until ``timeout``, then given up."""
        self._refusals.flush()
        closing = threading.Timer(timeout / 2, self._give_up_waiting)
        closing.daemon = True
        closing.start()
        try:
            super().close(timeout)
        finally:
            closing.cancel()
            self._closing = False  # a later event starts the thread again

    def _give_up_waiting(self) -> None:
        self._closing = True

    def submit_read(self, event: Event) -> None:
        """Queue the event of a read, unless the site records no reads."""
        if self._site.settings.audit_reads:
            self.submit(event)

    def handle(self, batch: list[Event]) -> None:
        """Append one batch. While the store is unreachable, keep the events and try again
        until it is back (or the writer closes); other errors get ``MAX_ATTEMPTS`` tries."""
        failures = 0
        while True:
            try:
                record(self._site, *batch)
                return
            except Exception as error:  # keep the events: the store may be busy or down
                if not isinstance(error, SQLAlchemyError):  # an event is at fault, not the store
                    self._append_each(batch, error)
                    return
                outage = is_unavailable_error(error)
                failures += 1
                if not outage:  # an outage is logged once, by site.health
                    log.warning("audit append failed (%s), retrying", type(error).__name__)
                if (failures >= MAX_ATTEMPTS and not outage) or (outage and self._closing):
                    break
                time.sleep(min(self._retry_seconds * failures, MAX_RETRY_SECONDS))
        log.error("audit append gave up on %d events", len(batch))

    def _append_each(self, batch: list[Event], error: Exception) -> None:
        """Append the events of a batch one by one, dropping (and logging) only those that
        cannot be appended at all."""
        if len(batch) == 1:
            log.error("an audit event could not be appended and was dropped: %r", error)
            return
        for event in batch:
            self.handle([event])
