"""BatchingThread: batches of what was queued, and what arrives while a batch waits joins it."""

from __future__ import annotations

import threading

from cityshare.background import BatchingThread


class Gathering(BatchingThread[int]):
    """Handles a batch only once ``gate`` opens, adding what was queued meanwhile."""

    def __init__(self) -> None:
        super().__init__("test-gathering", max_batch=5)
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self.batches: list[list[int]] = []

    def handle(self, batch: list[int]) -> None:
        self.waiting.set()
        assert self.gate.wait(10)
        batch += self.take_queued(5 - len(batch))
        self.batches.append(list(batch))


def test_what_arrives_while_a_batch_waits_joins_it_up_to_the_most() -> None:
    worker = Gathering()
    worker.put(1)
    assert worker.waiting.wait(10)
    for item in range(2, 9):
        worker.put(item)
    worker.gate.set()
    worker.close()
    assert worker.batches == [[1, 2, 3, 4, 5], [6, 7, 8]]


def test_closing_while_a_batch_waits_handles_it_then_stops() -> None:
    worker = Gathering()
    worker.put(1)
    assert worker.waiting.wait(10)
    worker.put(2)
    closing = threading.Thread(target=worker.close)
    closing.start()
    worker.gate.set()
    closing.join(10)
    assert not closing.is_alive()
    assert worker.batches == [[1, 2]]
    assert not worker._thread.is_alive()


def test_a_closed_thread_starts_again_for_the_next_item() -> None:
    """The runtime keeps its writers across ``finish_background_work``: an item queued
    after a close is handled by a new thread, not left in the queue."""
    worker = Gathering()
    worker.gate.set()
    worker.put(1)
    worker.close()
    worker.put(2)
    worker.close()
    worker.put(3)
    worker.close()
    assert worker.batches == [[1], [2], [3]]
