"""Group commit: batches from concurrent requests share one durable transaction.

Every acknowledged reading must be on disk, so each commit waits for an fsync. One
thread per process takes every batch that arrived while the previous commit was
running and stores them together (:func:`cityshare.streams.ingest.commit`), so the
cost of an fsync is shared instead of paid per request. Each caller still gets its own
outcome, only after the transaction holding its batch has committed.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from cityshare.background import BatchingThread
from cityshare.site import Site
from cityshare.streams.ingest import Acknowledgement, IngestRefused, PreparedBatch, commit

log = logging.getLogger(__name__)

MAX_GROUP = 256  # batches per transaction

Outcome = Acknowledgement | IngestRefused
_Waiting = tuple[PreparedBatch, Future[Outcome]]


class GroupCommitter(BatchingThread[_Waiting]):
    """A writer thread that commits queued batches in groups."""

    def __init__(self, site: Site, *, channel: str = "http") -> None:
        super().__init__("ingest-commit", max_batch=MAX_GROUP)
        self._site = site
        self._channel = channel

    def submit(self, batch: PreparedBatch) -> Future[Outcome]:
        """Queue ``batch``; the future resolves once it is durably stored (or refused)."""
        future: Future[Outcome] = Future()
        self.put((batch, future))
        return future

    def handle(self, batch: list[_Waiting]) -> None:
        """Commit one group and answer every request in it."""
        try:
            outcomes = commit(self._site, [item for item, _ in batch], channel=self._channel)
        except Exception as error:  # every waiting request must hear back
            log.warning("ingest commit failed: %s", type(error).__name__)
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)
