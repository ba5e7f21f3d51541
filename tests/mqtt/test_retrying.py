"""The MQTT worker's retries while the store is busy or unreachable: the batch is kept, and
the log gets one line for a busy store and none for an outage (site.health logs that)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cityshare.errors import StoreBusy
from cityshare.mqtt.batches import Stopped, retrying

LOGGER = "cityshare.mqtt.batches"


def _failing(times: int, error: Exception) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "stored"

    return calls, action


def _unreachable_error(tmp_path: Path) -> Exception:
    """A real SQLAlchemy error of a SQLite file that cannot be opened."""
    engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/store.db")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("opening a file in a missing folder should fail")


def test_an_outage_is_retried_until_the_store_answers_without_a_line_per_try(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls, action = _failing(4, _unreachable_error(tmp_path))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert retrying(action, threading.Event(), "storing") == "stored"
    assert len(calls) == 5
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_a_busy_store_is_logged_once_however_many_tries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, action = _failing(4, StoreBusy("busy"))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert retrying(action, threading.Event(), "storing") == "stored"
    assert len(calls) == 5
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1 and "retrying until it is" in lines[0]


def test_stopping_ends_the_retries_and_other_errors_are_raised(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    _, action = _failing(100, _unreachable_error(tmp_path))
    with pytest.raises(Stopped):
        retrying(action, stop, "storing")
    _, broken = _failing(1, ValueError("a bug"))
    with pytest.raises(ValueError):
        retrying(broken, threading.Event(), "storing")
