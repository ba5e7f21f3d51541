"""`cityshare demo` as a newcomer runs it: sample data, then live signed sensors arriving."""

from __future__ import annotations

import os
import re
import stat
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


def sign_in_to_the_web_pages(url: str, username: str, password: str) -> str:
    """Sign in through the form (CSRF token and all) as a browser would; the account page."""
    with httpx.Client(base_url=url, timeout=10) as browser:
        form = re.search(r'name="csrf" value="([0-9a-f]{64})"', browser.get("/sign-in").text)
        assert form is not None
        fields = {"csrf": form.group(1), "username": username, "password": password}
        signed_in = browser.post("/sign-in", data=fields)
        assert signed_in.status_code == 303, signed_in.text
        account = browser.get("/account")
        assert account.status_code == 200
        return account.text


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
        password_file = tmp_path / "demo" / "demo-editor-password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        account = sign_in_to_the_web_pages(url, "demo-editor", password)
        assert "demo-editor" in account and "northbridge-council" in account
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
            time.sleep(0.2)
        newer = latest_times(url)
        assert newer != first, "no live reading arrived within 30 s"
        newest = max(datetime.fromisoformat(t) for t in newer.values() if t)
        assert datetime.now(UTC) - newest < timedelta(seconds=30)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Admin token (shown once)" in output
    assert "Live sensors: 50 signed devices" in output
    assert f"Sign in at {url}/sign-in as demo-editor with password {password}" in output
