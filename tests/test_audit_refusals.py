"""Repeated refusals are counted, not appended one by one (cityshare.audit.refusals)."""

from __future__ import annotations

import time

from cityshare.access import ANONYMOUS
from cityshare.audit.events import refused
from cityshare.audit.log import Event
from cityshare.audit.refusals import FURTHER, MAX_REASONS, RefusalTally


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def refusal(reason: str = "Unknown token.", address: str = "192.0.2.1", status: int = 401) -> Event:
    return refused(
        ANONYMOUS, method="GET", path="/api/v1/me", status=status, reason=reason, address=address
    )


def tally() -> tuple[RefusalTally, list[Event], Clock]:
    written: list[Event] = []
    clock = Clock()
    return RefusalTally(written.append, window=60, clock=clock), written, clock


def test_the_first_refusal_is_written_and_repeats_are_counted() -> None:
    counter, written, clock = tally()
    for _ in range(300):
        counter.add(refusal())
        clock.now += 0.01
    assert len(written) == 1 and "count" not in written[0].detail
    clock.now = 61
    counter.add(refusal())  # a new window: the old one's count, then this one
    assert [event.detail.get("count") for event in written] == [None, 299, None]
    assert written[1].detail["window_seconds"] == 60
    assert written[1].detail["address"] == "192.0.2.1"
    counter.flush()
    assert len(written) == 3  # the new window has no repeats yet


def test_kinds_are_per_address_status_and_reason() -> None:
    counter, written, _ = tally()
    for event in (refusal(), refusal(address="192.0.2.2"), refusal(status=400), refusal("x")):
        counter.add(event)
        counter.add(event)
    assert len(written) == 4
    counter.flush()
    assert [event.detail.get("count") for event in written[4:]] == [1, 1, 1, 1]


def test_varying_reasons_cannot_flood_the_log() -> None:
    counter, written, _ = tally()
    for number in range(1000):
        counter.add(refusal(f"No dataset named d{number}.", status=404))
    counter.flush()
    assert len(written) == MAX_REASONS + 2
    assert written[-1].detail == {
        **written[-1].detail,
        "reason": FURTHER,
        "count": 1000 - MAX_REASONS - 1,
    }
    assert sum(int(event.detail.get("count", 1)) for event in written) == 1000


def test_a_timer_writes_the_count_when_the_window_ends() -> None:
    written: list[Event] = []
    counter = RefusalTally(written.append, window=0.05)
    counter.add(refusal())
    counter.add(refusal())
    for _ in range(200):
        if len(written) == 2:
            break
        time.sleep(0.01)
    assert [event.detail.get("count") for event in written] == [None, 1]
