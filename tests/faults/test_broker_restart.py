"""The broker killed (-9) and restarted mid-stream: devices that keep each batch until its
receipt lose nothing, and nothing is stored twice.

A broker's PUBACK is not cityshare's promise: Mosquitto saves its queues only every few
seconds, and a restarted broker acknowledges messages before the ingest worker has
subscribed again. The receipts close that gap end to end: every batch the devices sent
is stored once they have all been receipted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor, initialise
from cityshare.mqtt.worker import IngestWorker, WorkerOptions
from cityshare.site import Site
from cityshare.storage.schema import ingest_batches, observations
from cityshare.streams.client import MqttDevice, Receipt
from tests.mqtt.conftest import WAIT, Broker, mosquitto_binary, wait_for_port
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import make_site

DEVICES = 6
BATCHES = 500  # per device: 3 000 batches in all
READINGS = 2  # per batch
RESEND_AFTER = 3.0
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A SQLite site with an organisation: the broker's faults do not depend on the store."""
    opened = make_site(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "data")
    initialise(opened, "admin")
    organisations.create_organisation(
        opened, console_actor(opened, "admin"), name="city", title="City"
    )
    yield opened
    opened.close()


@pytest.fixture
def worker(site: Site, broker: Broker) -> Iterator[IngestWorker]:
    """An ingest worker in a thread, subscribed."""
    worker = IngestWorker(site, WorkerOptions(broker.address, inflight=200))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    assert worker.inbox.subscribed.wait(WAIT), broker.log()
    yield worker
    stop.set()
    thread.join(WAIT)


@pytest.fixture
def devices(site: Site) -> list[Device]:
    """Devices with one numeric stream each."""
    dataset = add_sensor_dataset(site, "air")
    return [
        add_device(site, f"d{n}", streams={"pm25": ("pm25", "number")}, dataset=dataset)
        for n in range(DEVICES)
    ]


@pytest.fixture
def broker(site: Site, devices: list[Device], start_broker: Callable[..., Broker]) -> Broker:
    """A broker that knows the devices."""
    return start_broker(site)


def test_a_broker_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(
    site: Site, devices: list[Device], broker: Broker, worker: IngestWorker
) -> None:
    clients = [_connected(broker, device) for device in devices]
    sent: list[set[str]] = [set() for _ in devices]
    halfway = threading.Barrier(len(devices) + 1)
    threads = [
        threading.Thread(target=_stream, args=(client, nonces, halfway))
        for client, nonces in zip(clients, sent, strict=True)
    ]
    for thread in threads:
        thread.start()
    halfway.wait(WAIT)  # every device is publishing
    _kill_and_restart(broker)
    for thread in threads:
        thread.join(WAIT * 4)
    receipts: dict[str, Receipt] = {}
    try:
        for client in clients:
            receipts |= client.wait_for_receipts(timeout=WAIT * 4)
    finally:
        resent = sum(client.resent for client in clients)
        for client in clients:
            client.close()
    every_nonce = set().union(*sent)
    assert len(every_nonce) == DEVICES * BATCHES
    assert set(receipts) == every_nonce  # each batch was receipted ...
    assert all(receipt.stored for receipt in receipts.values())  # ... as stored
    stored = _stored_nonces(site)
    assert stored == every_nonce  # every batch sent, and so every receipted one, is stored
    assert _count(site, ingest_batches) == DEVICES * BATCHES  # none twice
    assert _count(site, observations) == DEVICES * BATCHES * READINGS
    print(f"resent {resent} batches; {worker.stats.duplicates} duplicates recognised")


def _connected(broker: Broker, device: Device) -> MqttDevice:
    client = MqttDevice(
        device.uid,
        device.mqtt_password,
        device.key,
        broker.address.host,
        broker.address.port,
        resend_after=RESEND_AFTER,
    )
    client.connect(WAIT)
    return client


def _stream(client: MqttDevice, nonces: set[str], halfway: threading.Barrier) -> None:
    """Publish BATCHES batches, a few ms apart; meet the others a third of the way."""
    for number in range(BATCHES):
        if number == BATCHES // 3:
            halfway.wait(WAIT)
        moments = [START + timedelta(seconds=number * READINGS + n) for n in range(READINGS)]
        nonces.add(client.send([("pm25", moment, float(number)) for moment in moments]))
        time.sleep(0.004)


def _kill_and_restart(broker: Broker) -> None:
    """SIGKILL the broker, then start it again with the same files and port 2 s later."""
    os.kill(broker.process.pid, signal.SIGKILL)
    broker.process.wait(WAIT)
    time.sleep(2.0)
    with (broker.files.folder / "mosquitto.log").open("ab") as log:
        broker.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(broker.files.config)], stdout=log, stderr=log
        )
    wait_for_port(broker.address.host, broker.address.port, broker.process)


def _stored_nonces(site: Site) -> set[str]:
    with site.engine.connect() as connection:
        return set(connection.execute(select(ingest_batches.c.nonce)).scalars())


def _count(site: Site, table: object) -> int:
    with site.engine.connect() as connection:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int(connection.execute(query).scalar_one())
