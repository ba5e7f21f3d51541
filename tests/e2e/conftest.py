"""End-to-end fixtures: the real ``cityshare`` command and a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import traceback
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


def run_cli_here(
    env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``cityshare ARGS`` in this process, as :func:`run_cli` would in a new one.

    The same command with the same settings, without the second or two a new interpreter
    takes to start: for the setup steps a test is not about. Tests of the command line
    itself use :func:`run_cli`.
    """
    from typer.testing import CliRunner

    from cityshare.cli.app import app

    settings = {key: value for key, value in env.items() if key.startswith("CITYSHARE_")}
    result = CliRunner().invoke(app, list(args), env=settings, input=input)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)


@dataclass
class Server:
    """A running ``cityshare serve``."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]


# Generous: a server with several workers on a busy 2-core CI machine took 45 s to start.
START_SECONDS = 120


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], timeout: float = START_SECONDS
) -> None:
    """Poll ``url`` every 50 ms until it answers, or the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_server(env: dict[str, str], timeout: float = START_SECONDS) -> Server:
    """Start ``cityshare serve`` on a free port and wait until it answers."""
    return start_servers(env, timeout=timeout)[0]


def start_servers(*envs: dict[str, str], timeout: float = START_SECONDS) -> list[Server]:
    """Start one ``cityshare serve`` per environment, each on a free port, all at once (they
    start up side by side), and wait until every one answers. The store must be migrated
    already when two share it (``cityshare init`` does that)."""
    servers = []
    for env in envs:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "cityshare", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers.append(Server(url=f"http://127.0.0.1:{port}", env=env, process=process))
    try:
        for server in servers:
            wait_until_up(f"{server.url}/api/v1", server.process, timeout)
    except RuntimeError:
        for server in servers:
            server.process.kill()
        raise
    return servers


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """``cityshare serve`` on a free port against a fresh store."""
    running = start_server(cityshare_env(tmp_path / "data", database_url))
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(timeout=20)
