"""A server killed with SIGKILL while devices send loses no acknowledged reading, and the
devices' retries after the restart store nothing twice."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor, initialise
from cityshare.storage.schema import observations
from tests.e2e.conftest import cityshare_env, start_server
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import make_site

pytestmark = pytest.mark.e2e
SENDERS = 4
BATCHES = 250  # per sender


def batches(device: Device, sender: int, count: int) -> list[tuple[bytes, dict[str, str]]]:
    """Signed batches of 50 readings with distinct times (built before the server dies)."""
    base = datetime.now(UTC) - timedelta(days=1)
    out = []
    for number in range(count):
        offset = (sender * count + number) * 50
        readings = [("no2", base + timedelta(seconds=offset + i), float(i)) for i in range(50)]
        out.append(device.signed(readings))
    return out


def test_killed_while_ingesting_keeps_every_acknowledged_reading(
    database_url: str, tmp_path: Path
) -> None:
    env = cityshare_env(tmp_path / "data", database_url)
    site = make_site(database_url, tmp_path / "data")
    initialise(site, "admin")
    organisations.create_organisation(site, console_actor(site, "admin"), name="city", title="C")
    add_sensor_dataset(site, "air")
    device = add_device(site, "kirkgate", dataset="air", streams={"no2": ("no2", "number")})
    work = {sender: batches(device, sender, BATCHES) for sender in range(SENDERS)}
    acknowledged: list[bytes] = []
    lock = threading.Lock()
    server = start_server(env)

    def send(sender: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for body, headers in work[sender]:
                try:
                    response = http.post("/api/v1/ingest", content=body, headers=headers)
                except httpx.HTTPError:
                    return  # the server died under us
                assert response.status_code == 201, response.text
                with lock:
                    acknowledged.append(body)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)  # kill once the stream is flowing
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=30)
    assert 0 < len(acknowledged) < SENDERS * BATCHES, "the kill must land mid-stream"

    def stored() -> int:
        with site.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(observations)).scalar_one()
            )

    assert stored() >= 50 * len(acknowledged)  # nothing acknowledged was lost
    restarted = start_server(env)

    def retry(sender: int) -> set[int]:  # every device sends everything again
        with httpx.Client(base_url=restarted.url, timeout=30) as http:
            return {
                http.post("/api/v1/ingest", content=body, headers=headers).status_code
                for body, headers in work[sender]
            }

    try:
        with ThreadPoolExecutor(SENDERS) as pool:
            statuses = set().union(*pool.map(retry, range(SENDERS)))
    finally:
        restarted.process.terminate()
        restarted.process.wait(timeout=20)
    assert 200 in statuses and statuses <= {200, 201}
    assert stored() == 50 * BATCHES * SENDERS  # and nothing twice
    site.close()
