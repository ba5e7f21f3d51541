"""An audit checkpoint that finds its folder's disk full: one log line, no traceback, and
the schedule goes on (the next turn writes it once there is room)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from cityshare.audit.log import Event, record
from cityshare.audit.schedule import CheckpointSchedule
from tests.faults.test_full_disk import fill, small_disk
from tests.world import make_site


def _wait_for_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [r for r in caplog.records if r.name == "cityshare.audit.schedule"]
        if any(words in r.getMessage() for r in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no line saying {words!r}: {[r.getMessage() for r in caplog.records]}")


def test_a_checkpoint_on_a_full_disk_is_one_line_and_the_next_turn_writes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "checkpoints", 1) as folder:
        site = make_site(
            f"sqlite:///{tmp_path / 'store.db'}",
            tmp_path / "data",
            audit_checkpoint_dir=folder,
            audit_checkpoint_seconds=3600,
        )
        record(site, Event("site.view"))
        schedule = CheckpointSchedule(site.settings)
        try:
            ballast = fill(folder)
            with caplog.at_level(logging.INFO, logger="cityshare.audit.schedule"):
                schedule.start()  # its first turn, in its thread, finds the disk full
                lines = _wait_for_lines(caplog, "the disk is full")
            assert all(r.exc_info is None for r in lines)  # no traceback
            assert list(folder.glob("*.json")) == []
            ballast.unlink()
            written = schedule.take()
            assert written is not None and written.parent == folder
        finally:
            schedule.stop()
            site.close()
