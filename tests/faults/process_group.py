"""A real ``cityshare serve`` in a process group of its own, so that a test can kill it
the way a crash or an OOM killer would: every process at once (the API workers, the
MQTT ingest worker, the supervisor), with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

STOP_SECONDS = 60.0


@dataclass
class ServeGroup:
    """``cityshare serve`` started with ``start_new_session``: its process group id is
    its own pid, shared by every process it starts."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def group(self) -> int:
        """The process group id."""
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL every process of the group; return once none is left running."""
        os.killpg(self.group, signal.SIGKILL)
        self.process.wait(STOP_SECONDS)
        deadline = time.monotonic() + STOP_SECONDS
        while running_in_group(self.group):
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of group {self.group} outlived SIGKILL")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM the server (a clean stop); SIGKILL the group if that takes too long."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_SECONDS)
        if running_in_group(self.group):
            self.kill()


def start_serve(env: dict[str, str], port: int, workers: int, log: Path) -> ServeGroup:
    """Start ``cityshare serve --workers N`` on ``port`` in a new session; output to ``log``
    (appended to, so that a restart's output follows the first run's)."""
    command = [sys.executable, "-m", "cityshare", "serve"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServeGroup(process, f"http://127.0.0.1:{port}")


def wait_until_ready(server: ServeGroup, timeout: float) -> float:
    """Poll ``GET /api/v1`` every 50 ms until it answers 200; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            raise RuntimeError(f"cityshare serve exited with {server.process.returncode}")
        try:
            if httpx.get(f"{server.url}/api/v1", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"cityshare serve was not ready within {timeout:.0f} s")


def wait_for_output(log: Path, text: str, timeout: float) -> None:
    """Wait until the server's output holds ``text`` (say, the ingest worker's
    "Subscribed to" line)."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"cityshare serve did not log {text!r} within {timeout:.0f} s")
        time.sleep(0.1)


def running_in_group(group: int) -> list[int]:
    """The pids of the processes of ``group`` that still run (zombies excluded), read
    from /proc: a killed server's children are reaped by init, perhaps late."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")"
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry.name))
    return found
