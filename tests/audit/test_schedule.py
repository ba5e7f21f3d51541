"""The checkpoint schedule of ``cityshare serve`` (cityshare.audit.schedule): a signed
checkpoint at start, none again for a head that has not moved, none while another schedule
holds the folder, and none for a log that no longer agrees with the latest checkpoint."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

import pytest

from cityshare.access import Actor
from cityshare.audit.checkpoint_folder import check_checkpoints, checkpoint_files
from cityshare.audit.log import Event, record
from cityshare.audit.schedule import LOCK_FILE, CheckpointSchedule, checkpoints_alongside
from cityshare.site import Site
from tests.audit.helpers import public_key, run_sql

GRACE = Actor(user_id=6, username="grace")


def folder_of(site: Site) -> Path:
    return site.settings.resolved_audit_checkpoint_dir()


def run_schedule(site: Site) -> None:
    """Start a schedule and stop it: its turn at start, then its last turn at stop."""
    schedule = CheckpointSchedule(site.settings)
    schedule.start()
    schedule.stop()


def test_a_schedule_signs_the_head_once_until_it_moves(site: Site) -> None:
    record(site, Event("dataset.read", GRACE))
    run_schedule(site)
    [first] = checkpoint_files(folder_of(site))
    run_schedule(site)
    assert checkpoint_files(folder_of(site)) == [first]  # the head has not moved
    record(site, Event("dataset.read", GRACE))
    run_schedule(site)
    files = checkpoint_files(folder_of(site))
    assert len(files) == 2 and files[0] == first
    with site.engine.connect() as connection:
        assert check_checkpoints(connection, files, public_key(site)).ok


def test_a_folder_held_by_another_schedule_is_left_alone(site: Site) -> None:
    folder = folder_of(site)
    folder.mkdir(parents=True)
    with (folder / LOCK_FILE).open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another `cityshare serve` does
        run_schedule(site)
        assert checkpoint_files(folder) == []
    run_schedule(site)  # the lock is free again
    assert len(checkpoint_files(folder)) == 1


def test_a_log_rewritten_under_the_schedule_is_not_signed(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    record(site, Event("dataset.read", GRACE), Event("dataset.read", GRACE))
    run_schedule(site)
    [vouched] = checkpoint_files(folder_of(site))
    run_sql(site, "UPDATE audit_log SET hash = :hash WHERE seq = 2", hash="e" * 64)
    record(site, Event("dataset.read", GRACE))
    with caplog.at_level(logging.ERROR, logger="cityshare.audit.schedule"):
        run_schedule(site)
    assert checkpoint_files(folder_of(site)) == [vouched]
    assert "no longer agrees with its latest checkpoint" in caplog.text
    assert vouched.name in caplog.text


def test_no_schedule_runs_when_checkpoints_are_switched_off(site: Site) -> None:
    settings = site.settings.model_copy(update={"audit_checkpoint_seconds": 0})
    with checkpoints_alongside(settings) as schedule:
        assert schedule is None
    assert checkpoint_files(folder_of(site)) == []
