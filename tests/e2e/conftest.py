"""End-to-end fixtures: the real ``cityshare`` command and a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cityshare_env(data_dir: Path, database_url: str) -> dict[str, str]:
    """The environment of a cityshare process using this store."""
    env = dict(os.environ)
    env.update(
        {
            "CITYSHARE_DATA_DIR": str(data_dir),
            "CITYSHARE_DATABASE_URL": database_url,
            "CITYSHARE_SECRET_KEY": "e2e-secret",
        }
    )
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``cityshare ARGS`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "cityshare", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Server:
    """A running ``cityshare serve``."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Poll ``url`` until it answers or the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def start_server(env: dict[str, str]) -> Server:
    """Start ``cityshare serve`` on a free port and wait until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cityshare", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/api/v1", process)
    except RuntimeError:
        process.kill()
        raise
    return Server(url=url, env=env, process=process)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """``cityshare serve`` on a free port against a fresh store."""
    running = start_server(cityshare_env(tmp_path / "data", database_url))
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(timeout=20)
