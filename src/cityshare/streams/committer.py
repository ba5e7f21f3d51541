"""Group commit: batches from concurrent requests share one durable transaction.

Every acknowledged reading must be on disk, so each commit waits for an fsync. One
thread per process takes every batch that arrived while the previous commit was
running and stores them together (:func:`cityshare.streams.ingest.commit`), so the
cost of an fsync is shared instead of paid per request. Once it holds the writer's turn
(on SQLite other processes take it too) it adds to the group whatever arrived while it
waited, which so joins this commit instead of waiting for the next. Each caller
still gets its own
outcome, only after the transaction holding its batch has committed; the outcomes of a
group reach each event loop in one hand-over, not one wake-up per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from cityshare.background import BatchingThread
from cityshare.storage.health import is_unavailable_error
from cityshare.streams.ingest import (
    Acknowledgement,
    Ingestion,
    IngestRefused,
    PreparedBatch,
    commit_in_turn,
    writer_turn,
)

log = logging.getLogger(__name__)

MAX_GROUP = 256  # batches per transaction

Outcome = Acknowledgement | IngestRefused
_Answer = asyncio.Future[Outcome]
_Waiting = tuple[PreparedBatch, asyncio.AbstractEventLoop, _Answer]
_Delivery = tuple[_Answer, Outcome | Exception]  # an outcome, or why the commit failed


class GroupCommitter(BatchingThread[_Waiting]):
    """A writer thread that commits queued batches in groups."""

    def __init__(self, ingestion: Ingestion, *, channel: str = "http") -> None:
        super().__init__("ingest-commit", max_batch=MAX_GROUP)
        self._ingestion = ingestion
        self._channel = channel

    async def store(self, batch: PreparedBatch) -> Outcome:
        """Queue ``batch`` and wait until it is durably stored (or refused)."""
        loop = asyncio.get_running_loop()
        answer: _Answer = loop.create_future()
        self.put((batch, loop, answer))
        return await answer

    def handle(self, batch: list[_Waiting]) -> None:
        """Commit one group (holding the writer's turn) and answer every request in it."""
        by_loop: defaultdict[asyncio.AbstractEventLoop, list[_Delivery]] = defaultdict(list)
        try:
            with writer_turn(self._ingestion):
                batch += self.take_queued(MAX_GROUP - len(batch))  # arrived while waiting
                batches = [item for item, _, _ in batch]
                outcomes = commit_in_turn(self._ingestion, batches, channel=self._channel)
        except Exception as error:  # every waiting request must hear back
            if not is_unavailable_error(error):  # an outage is logged once, by site.health
                log.warning("ingest commit failed: %s", type(error).__name__)
            for _, loop, answer in batch:
                by_loop[loop].append((answer, error))
        else:
            for (_, loop, answer), outcome in zip(batch, outcomes, strict=True):
                by_loop[loop].append((answer, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_answer_all, answers)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                log.warning("ingest outcomes for a closed event loop dropped")


def _answer_all(answers: list[_Delivery]) -> None:
    """On the waiting loop: resolve every request's future (skipping cancelled ones)."""
    for answer, outcome in answers:
        if answer.done():  # the request was cancelled (its client went away)
            continue
        if isinstance(outcome, Acknowledgement | IngestRefused):
            answer.set_result(outcome)
        else:
            answer.set_exception(outcome)
