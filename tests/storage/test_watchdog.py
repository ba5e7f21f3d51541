"""The SQLite watchdog's thread lives only while connections it watches do."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from cityshare.storage import create_store_engine
from cityshare.storage.watchdog import Watchdog

WAIT_SECONDS = 5.0


def _stops(watchdog: Watchdog) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while watchdog.running and time.monotonic() < deadline:
        time.sleep(0.01)
    return not watchdog.running


def test_the_thread_ends_once_its_connections_are_gone() -> None:
    watchdog = Watchdog(tick=0.005)
    connection = sqlite3.connect(":memory:")
    deadline = watchdog.register(connection)
    time.sleep(0.05)  # several ticks: a tick must not keep what it saw alive
    assert watchdog.running
    del deadline
    connection.close()
    assert _stops(watchdog)


def test_the_thread_comes_back_for_a_new_connection() -> None:
    watchdog = Watchdog(tick=0.005)
    watchdog.register(sqlite3.connect(":memory:"))
    assert _stops(watchdog)
    kept = watchdog.register(sqlite3.connect(":memory:"))
    assert watchdog.running
    kept.set(0.0)
    time.sleep(0.05)
    assert kept.passed()


def test_a_disposed_engine_leaves_no_watchdog_behind(tmp_path: Path) -> None:
    """Each test's site once left its watchdog ticking 20 times a second: hundreds of
    them made the whole suite three times slower."""
    before = set(_watchdog_threads())
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("select 1")).scalar_one() == 1
    started = set(_watchdog_threads()) - before
    assert len(started) == 1
    engine.dispose()
    thread = started.pop()
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()


def _watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cityshare-sqlite-watchdog"]
