"""`cityshare demo` as a newcomer runs it: sample data, then live signed sensors arriving."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port, wait_until_up

pytestmark = pytest.mark.e2e


def latest_times(url: str) -> dict[int, str]:
    latest = httpx.get(f"{url}/api/v1/datasets/air-quality-live/latest", timeout=10).json()
    return {item["stream"]: item["time"] for item in latest["streams"]}


def test_the_demo_serves_samples_and_live_sensors(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSHARE_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cityshare",
            "--data-dir",
            str(tmp_path / "demo"),
            "demo",
            "--port",
            str(port),
            "--scale",
            "0.02",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/api/v1", process, timeout=120)
        rows = httpx.get(f"{url}/api/v1/datasets/traffic-counts/rows?_limit=5", timeout=10)
        assert rows.status_code == 200 and len(rows.json()["rows"]) == 5
        streams = httpx.get(f"{url}/api/v1/datasets/air-quality-live/streams", timeout=10).json()
        assert len(streams) == 40  # 20 stations × (no2, pm25)
        history = httpx.get(
            f"{url}/api/v1/streams/{streams[0]['id']}/observations?_limit=1000", timeout=10
        ).json()["observations"]
        assert len(history) >= 100  # the backfilled hour
        assert all(reading["verified"] for reading in history)
        first = latest_times(url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and latest_times(url) == first:
            time.sleep(1)
        newer = latest_times(url)
        assert newer != first, "no live reading arrived within 30 s"
        newest = max(datetime.fromisoformat(t) for t in newer.values() if t)
        assert datetime.now(UTC) - newest < timedelta(seconds=30)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Admin token (shown once)" in output
    assert "Live sensors: 50 signed devices" in output
