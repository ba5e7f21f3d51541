"""Repeated refusals are counted, not appended one by one (cityshare.audit.refusals)."""

from __future__ import annotations

import time

from cityshare.access import ANONYMOUS, Actor
from cityshare.audit.events import refused
from cityshare.audit.log import Event
from cityshare.audit.refusals import FURTHER, MAX_KINDS, MAX_REASONS, OVERFLOW, RefusalTally


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


def test_each_actor_and_token_is_a_kind_of_its_own() -> None:
    counter, written, _ = tally()
    for token_id in (1, 2, 1, 2, 2):
        someone = Actor(user_id=5, username="frank", token_id=token_id)
        counter.add(refused(someone, method="GET", path="/x", status=403, reason="No."))
    counter.flush()
    assert [event.actor.token_id for event in written if event.actor] == [1, 2, 1, 2]
    assert [event.detail.get("count") for event in written] == [None, None, 1, 2]


def test_too_many_kinds_at_once_share_one_overflow_kind() -> None:
    counter, written, _ = tally()
    total = MAX_KINDS + 50
    for number in range(total):
        counter.add(refusal(address=f"10.0.{number // 256}.{number % 256}"))
    counter.flush()
    assert len(written) == MAX_KINDS + 2  # every kind's first, the overflow's first, its count
    assert written[-1].detail["reason"] == OVERFLOW and written[-1].detail["count"] == 49
    assert sum(int(event.detail.get("count", 1)) for event in written) == total


def test_flushing_with_nothing_counted_writes_nothing() -> None:
    counter, written, _ = tally()
    counter.flush()
    counter.add(refusal())
    counter.flush()
    assert len(written) == 1 and "count" not in written[0].detail
