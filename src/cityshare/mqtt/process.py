"""Run the ingest worker beside ``cityshare serve``: a child process, restarted if it dies.

The API processes stay stateless; the worker is one more process, exactly what
``cityshare ingest-mqtt`` runs, so scaling out later only means starting more of them.

>>> with ingest_worker_alongside(settings):  # doctest: +SKIP
...     uvicorn.run(...)
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cityshare.config import Settings

FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STOP_SECONDS = 20.0
# Exit statuses of a worker that was asked to stop: it is not restarted.
_ASKED_TO_STOP = {0, -signal.SIGTERM, -signal.SIGINT}

log = logging.getLogger(__name__)


def worker_command() -> list[str]:
    """The command line of one ingest worker: ``cityshare ingest-mqtt``, from its module."""
    return [sys.executable, "-m", "cityshare.cli.mqtt", "ingest-mqtt"]


def worker_environment(settings: Settings) -> dict[str, str]:
    """The child's environment: ours, plus the store and broker the settings name."""
    env = dict(os.environ)
    env["CITYSHARE_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.database_url:
        env["CITYSHARE_DATABASE_URL"] = settings.database_url
    if settings.mqtt_url:
        env["CITYSHARE_MQTT_URL"] = settings.mqtt_url
    return env


class WorkerProcess:
    """``cityshare ingest-mqtt`` as a child process, restarted after a crash."""

    def __init__(self, settings: Settings) -> None:
        self._env = worker_environment(settings)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher = threading.Thread(target=self._watch, name="ingest-watch", daemon=True)

    @property
    def pid(self) -> int | None:
        """The current child's process id."""
        with self._lock:
            return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        """How the current child ended (None while it runs)."""
        with self._lock:
            return self._process.poll() if self._process else None

    def start(self) -> None:
        """Start the worker and watch it."""
        self._spawn()
        self._watcher.start()

    def stop(self) -> None:
        """Ask the worker to stop (SIGTERM), killing it if it does not within 20 s."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._watcher.join(timeout=STOP_SECONDS)

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._process = subprocess.Popen(worker_command(), env=self._env)  # noqa: S603
            log.info("Started the MQTT ingest worker (pid %d)", self._process.pid)

    def _watch(self) -> None:
        delay = FIRST_RESTART_DELAY
        while not self._stopping.is_set():
            with self._lock:
                process = self._process
            if process is None:
                return
            status = process.wait()
            if self._stopping.is_set() or status in _ASKED_TO_STOP:
                return
            log.error("The MQTT ingest worker exited (%d); restarting in %.0f s", status, delay)
            if self._stopping.wait(delay):
                return
            self._spawn()
            delay = min(delay * 2, MAX_RESTART_DELAY)


@contextmanager
def ingest_worker_alongside(settings: Settings) -> Iterator[WorkerProcess | None]:
    """Run an ingest worker while the block runs, when ``CITYSHARE_MQTT_URL`` is set."""
    if not settings.mqtt_url:
        yield None
        return
    worker = WorkerProcess(settings)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
