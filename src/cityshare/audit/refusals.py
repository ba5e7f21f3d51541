"""Repeated refusals counted, not appended one by one: the audit log cannot be flooded.

A refused request (``access.refused``) is written at once the first time its *kind* is
seen in a window: the same actor, from the same client address, refused with the same
status for the same reason. Further refusals of that kind within the window
(:data:`WINDOW_SECONDS` from the first) are only counted; when the window closes, one
more entry records how many there were (``detail.count``, with ``detail.window_seconds``).
Every ``access.refused`` entry therefore stands for ``detail.count`` refusals (1 when
absent). A flood of bad tokens from one address costs two entries a minute, not one per
request.

An actor from one address gets at most :data:`MAX_REASONS` kinds a window; beyond, their
refusals of one status share a single kind ("further reasons"). At most
:data:`MAX_KINDS` kinds are tallied at once; beyond, new kinds share one overflow kind.
What is still counted is written by :meth:`RefusalTally.flush` (when the process stops).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from cityshare.audit.log import Event
from cityshare.clock import utcnow

REFUSED = "access.refused"
WINDOW_SECONDS = 60.0
MAX_REASONS = 10  # kinds per actor and address per window
MAX_KINDS = 10_000  # kinds tallied at once, over every actor and address
FURTHER = "(further reasons, counted together)"
OVERFLOW = "(refusals of too many kinds at once, counted together)"

Kind = tuple[str, str, int, str]  # actor, address, status, reason


@dataclass
class _Tally:
    first: Event
    opened: float  # on the tally's clock
    count: int = 0  # refusals after the first, not yet written


class RefusalTally:
    """Counts repeated refusals; ``emit`` appends an event (it must not block)."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._window = window
        self._clock = clock
        self._tallies: dict[Kind, _Tally] = {}  # oldest window first
        self._reasons: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, event: Event) -> None:
        """Write ``event`` if it is the first of its kind in the window; else count it."""
        now = self._clock()
        with self._lock:
            self._close(now)
            kind = self._kind_of(event)
            tally = self._tallies.get(kind)
            if tally is None:
                self._tallies[kind] = _Tally(event, now)
                self._reasons[kind[:2]] += 1
                self._emit(event)
                return
            tally.count += 1
            self._schedule(now)

    def flush(self) -> None:
        """Write every count still open (the process is stopping)."""
        with self._lock:
            self._close(None)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _kind_of(self, event: Event) -> Kind:
        actor = event.actor
        who = "" if actor is None else f"{actor.username}/{actor.token_id}/{actor.device_id}"
        address = str(event.detail.get("address", ""))
        status = int(event.detail.get("status", 0))
        kind = (who, address, status, str(event.detail.get("reason", "")))
        if kind in self._tallies:
            return kind
        if self._reasons[(who, address)] >= MAX_REASONS:
            kind = (who, address, status, FURTHER)
        if kind not in self._tallies and len(self._tallies) >= MAX_KINDS:
            kind = ("", "", status, OVERFLOW)
        return kind

    def _close(self, now: float | None) -> None:
        """Write and forget the tallies whose window ended by ``now`` (all: None)."""
        while self._tallies:
            kind, tally = next(iter(self._tallies.items()))
            if now is not None and tally.opened + self._window > now:
                break
            del self._tallies[kind]
            self._reasons[kind[:2]] -= 1
            if self._reasons[kind[:2]] <= 0:
                del self._reasons[kind[:2]]
            if tally.count:
                self._emit(self._summary(kind, tally))

    def _summary(self, kind: Kind, tally: _Tally) -> Event:
        detail = {**tally.first.detail, "count": tally.count, "window_seconds": self._window}
        if kind[3] in (FURTHER, OVERFLOW):
            detail["reason"] = kind[3]
        return replace(tally.first, detail=detail, at=utcnow())

    def _schedule(self, now: float) -> None:
        """Make sure a timer closes the oldest window when it ends, even if no other
        refusal comes."""
        if self._timer is not None and self._timer.is_alive():
            return
        oldest = next(iter(self._tallies.values()))
        self._timer = threading.Timer(max(0.0, oldest.opened + self._window - now), self._due)
        self._timer.daemon = True
        self._timer.start()

    def _due(self) -> None:
        now = self._clock()
        with self._lock:
            self._timer = None
            self._close(now)
            if any(tally.count for tally in self._tallies.values()):
                self._schedule(now)
