"""Signed checkpoints taken by ``cityshare serve``: at start, on a schedule, at clean shutdown.

The schedule runs in the process that starts the server, never in a worker (uvicorn's
workers are its children), so ``serve --workers N`` runs exactly one. It also holds an
exclusive lock on the folder's ``.schedule.lock`` (with its process id written inside): a
second ``cityshare serve`` writing to the same folder skips its turns until the lock is free.

Before signing, the schedule checks the latest checkpoint in the folder against the log; if
the log no longer agrees with it, it signs nothing and logs an error, so the server never
vouches for a history rewritten under it. A head that has not moved since the latest
checkpoint is not signed again.

>>> with checkpoints_alongside(settings):  # doctest: +SKIP
...     uvicorn.run(...)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cityshare import keys
from cityshare.audit.checkpoint import make_checkpoint, site_signing_key
from cityshare.audit.checkpoint_folder import (
    check_checkpoints,
    latest_checkpoint,
    write_checkpoint,
)
from cityshare.config import Settings
from cityshare.site import Site
from cityshare.storage.health import is_unavailable_error
from cityshare.storage.space import is_disk_full

LOCK_FILE = ".schedule.lock"

log = logging.getLogger(__name__)


class CheckpointRefused(Exception):
    """The log no longer agrees with the latest checkpoint: nothing is signed."""


def take_checkpoint(site: Site, folder: Path) -> Path | None:
    """Sign the log's head into a new file in ``folder``; None when the head has not moved
    since the latest checkpoint. Raises :class:`CheckpointRefused` when the log no longer
    agrees with that checkpoint."""
    latest = latest_checkpoint(folder)
    with site.engine.connect() as connection:
        if latest is not None:
            public = keys.public_key_text(site_signing_key(site))
            failed = check_checkpoints(connection, [latest.path], public).failed
            if failed is not None:
                raise CheckpointRefused(f"{failed.path}: {failed.problem}")
        document = make_checkpoint(connection, site_signing_key(site))
    if latest is not None and (latest.seq, latest.document.get("hash")) == (
        document["seq"],
        document["hash"],
    ):
        return None
    return write_checkpoint(folder, document)


class CheckpointSchedule:
    """A thread that takes a checkpoint at start, every ``interval`` seconds, and at stop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._folder = settings.resolved_audit_checkpoint_dir()
        self._interval = settings.audit_checkpoint_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._site: Site | None = None
        self._lock: IO[bytes] | None = None

    def start(self) -> None:
        """Open the store and start taking checkpoints."""
        self._folder.mkdir(parents=True, exist_ok=True)
        self._site = Site.open(self._settings)
        log.info(
            "Signing audit checkpoints every %g s into %s", self._interval, self._folder.resolve()
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the schedule, take the last checkpoint, and release the folder and store."""
        self._stopping.set()
        self._thread.join()
        self.take()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        if self._site is not None:
            self._site.close()

    def take(self) -> Path | None:
        """One turn: a new checkpoint file, or None (nothing new, another schedule holds
        the folder, or a failure, which is logged: the schedule keeps running)."""
        if self._site is None or not self._hold_folder():
            return None
        try:
            path = take_checkpoint(self._site, self._folder)
        except CheckpointRefused as refused:
            log.error(
                "Audit log no longer agrees with its latest checkpoint (%s); not signing it. "
                "Run `cityshare audit verify`.",
                refused,
            )
            return None
        except Exception as error:
            if is_disk_full(error):
                log.warning("Could not take an audit checkpoint: the disk is full (%s)", error)
            elif not is_unavailable_error(error):  # an outage is logged once, by site.health
                log.exception("Could not take an audit checkpoint")
            return None
        if path is not None:
            log.info("Audit checkpoint written: %s", path)
        return path

    def _run(self) -> None:
        self.take()
        while not self._stopping.wait(self._interval):
            self.take()

    def _hold_folder(self) -> bool:
        if self._lock is not None:
            return True
        # Unbuffered: a note that cannot be written on a full disk is dropped at once, not
        # kept in a buffer that fails again when the file is closed.
        handle = (self._folder / LOCK_FILE).open("ab+", buffering=0)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock = handle
        with contextlib.suppress(OSError):  # the pid is a note for people; a full disk
            handle.truncate(0)  # must not stop the checkpoints
            handle.write(f"{os.getpid()}\n".encode())
        return True


@contextmanager
def checkpoints_alongside(settings: Settings) -> Iterator[CheckpointSchedule | None]:
    """Take checkpoints while the block runs, unless ``audit_checkpoint_seconds`` is 0."""
    if settings.audit_checkpoint_seconds <= 0:
        yield None
        return
    schedule = CheckpointSchedule(settings)
    schedule.start()
    try:
        yield schedule
    finally:
        schedule.stop()
