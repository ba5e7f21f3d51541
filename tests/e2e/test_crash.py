"""Crash safety: a server killed in the middle of an upload loses nothing acknowledged."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import cityshare_env, run_cli, run_cli_here, start_server

pytestmark = pytest.mark.e2e


def _big_csv(rows: int) -> bytes:
    lines = ["junction,counted_at,cars,speed"]
    lines.extend(
        f"J{i % 97},2024-03-04T{i % 24:02d}:00:00Z,{i % 500},{i % 70}.5" for i in range(rows)
    )
    return ("\n".join(lines) + "\n").encode()


def test_killed_during_upload_keeps_the_acknowledged_version(
    database_url: str, tmp_path: Path
) -> None:
    env = cityshare_env(tmp_path / "data", database_url)
    assert run_cli(env, "org", "create", "city").returncode == 1  # not initialised yet
    token = json.loads(run_cli_here(env, "init", "--json").stdout)["admin_token"]
    assert run_cli_here(env, "org", "create", "city").returncode == 0
    headers = {"Authorization": f"Bearer {token}"}
    server = start_server(env)
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            http.post("/api/v1/datasets", json={"name": "counts", "organisation": "city"})
            first = http.put(
                "/api/v1/datasets/counts/data",
                content=b"junction,counted_at,cars,speed\nJ1,2024-03-04T08:00:00Z,5,30.5\n",
                headers={"Content-Type": "text/csv"},
            )
            assert first.status_code == 201  # acknowledged: version 1

        big = _big_csv(1_500_000)

        def upload_big() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under it
                httpx.put(
                    f"{server.url}/api/v1/datasets/counts/data",
                    content=big,
                    headers={**headers, "Content-Type": "text/csv"},
                    timeout=60,
                )

        uploader = threading.Thread(target=upload_big)
        uploader.start()
        time.sleep(1.0)  # the body is on its way or being loaded
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        uploader.join(timeout=60)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    restarted = start_server(env)
    try:
        with httpx.Client(base_url=restarted.url, headers=headers, timeout=30) as http:
            dataset = http.get("/api/v1/datasets/counts").json()
            assert dataset["current_version"] == 1
            rows = http.get("/api/v1/datasets/counts/rows").json()["rows"]
            assert rows == [
                {"junction": "J1", "counted_at": "2024-03-04T08:00:00Z", "cars": 5, "speed": 30.5}
            ]
            again = http.put(
                "/api/v1/datasets/counts/data",
                content=_big_csv(1000),
                headers={"Content-Type": "text/csv"},
            )
            assert again.status_code == 201 and again.json()["number"] == 2
    finally:
        restarted.process.terminate()
        restarted.process.wait(timeout=20)
