"""A thread per SQLite engine that interrupts statements past their time limit.

SQLite's progress handler runs between virtual-machine steps, so it cannot stop a step
that does not return: a sort, or one call of a C function over long values. The
watchdog calls ``sqlite3.Connection.interrupt()`` from its own thread at the deadline,
which SQLite checks in more places (and which makes the next step fail at once).

Connections are registered once, when they are opened (and forgotten with their
:class:`Deadline`, which the connection's pool record holds); a transaction only moves the
deadline on its :class:`Deadline` (under its lock, so that an interrupt meant for one
transaction never reaches the next one). The thread wakes every :data:`TICK_SECONDS`
while connections are registered (a statement is cut within that of its deadline) and
ends once none is left; the next registration starts it again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from typing import Any

TICK_SECONDS = 0.05


class Deadline:
    """The deadline of the transaction a connection runs (None: no limit)."""

    __slots__ = ("__weakref__", "_connection", "_fired", "_lock", "at")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._fired = False
        self.at: float | None = None

    def set(self, seconds: float | None) -> None:
        """Start a transaction limited to ``seconds`` from now (None: unlimited)."""
        with self._lock:
            self.at = None if seconds is None else time.monotonic() + seconds
            self._fired = False

    def passed(self) -> bool:
        """True when the current transaction has a deadline and it has passed."""
        at = self.at
        return at is not None and time.monotonic() > at

    def interrupt_if_passed(self, now: float) -> None:
        """Interrupt the connection once if its current transaction is past its deadline."""
        with self._lock:
            if self._fired or self.at is None or now <= self.at:
                return
            self._fired = True
            try:
                self._connection.interrupt()
            except sqlite3.ProgrammingError:  # closed: it runs nothing to cut
                return


class Watchdog:
    """Interrupts registered connections past their deadline, from one daemon thread."""

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self._tick = tick
        self._deadlines: weakref.WeakSet[Deadline] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def register(self, connection: Any) -> Deadline:
        """The deadline of ``connection``, watched for as long as it is referenced."""
        deadline = Deadline(connection)
        with self._lock:
            self._deadlines.add(deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="cityshare-sqlite-watchdog", daemon=True
                )
                self._thread.start()
        return deadline

    @property
    def running(self) -> bool:
        """Whether the thread is watching connections now."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            if not self._check():
                return

    def _check(self) -> bool:
        """Interrupt what is past its deadline; False once nothing is left to watch. The
        strong references taken here die with this call: held across the sleep, they
        would keep every deadline (and its connection) alive, and the thread forever."""
        with self._lock:
            deadlines = list(self._deadlines)
            if not deadlines:  # every connection closed: nothing to watch
                self._thread = None
                return False
        now = time.monotonic()
        for deadline in deadlines:
            deadline.interrupt_if_passed(now)
        return True
