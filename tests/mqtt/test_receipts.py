"""Receipts over MQTT: after a batch is committed (or refused) the worker tells the device,
on the device's own topic, exactly what HTTP ingestion would have answered."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from cityshare.mqtt.broker import receipts_topic
from cityshare.mqtt.receipts import RECEIPT_QOS
from cityshare.mqtt.worker import IngestWorker
from cityshare.site import Site
from cityshare.storage.schema import ingest_batches, observations
from cityshare.streams.client import batch_body, mqtt_payload, mqtt_topic
from tests.mqtt.conftest import WAIT, Broker, MqttProbe, wait_for_port
from tests.mqtt.test_worker import (
    Fleet,
    _count,
    _publisher,
    _readings,
    _refusals,
    _wait_until,
    make_fleet,
    running,
)

NOT_AUTHORIZED = 135


@pytest.fixture
def fleet(site: Site, start_broker: Callable[..., Broker]) -> Fleet:
    """Three devices and a broker, on SQLite and on PostgreSQL."""
    return make_fleet(site, start_broker)


@pytest.fixture
def worker(fleet: Fleet) -> Iterator[IngestWorker]:
    """An ingest worker running in a thread."""
    with running(fleet) as started:
        yield started


def _listening(fleet: Fleet, index: int) -> MqttProbe:
    """Device ``index`` connected and subscribed to its own receipts."""
    device = fleet.devices[index]
    probe = _publisher(fleet.broker, device)
    assert [r.value for r in probe.subscribe(receipts_topic(device.uid))] == [1]
    return probe


def _receipts(probe: MqttProbe, count: int) -> list[dict[str, Any]]:
    with probe.lock:
        assert probe.lock.wait_for(lambda: len(probe.received) >= count, timeout=WAIT)
        return [orjson.loads(message.payload) for message in probe.received]


def test_a_stored_batch_gets_the_acknowledgement_http_would_give(
    fleet: Fleet, worker: IngestWorker
) -> None:
    device = fleet.devices[0]
    probe = _listening(fleet, 0)
    body = batch_body(_readings(0, 2), nonce="nonce-1")
    assert probe.publish(mqtt_topic(device.uid), mqtt_payload(device.key, body)).value == 0
    [receipt] = _receipts(probe, 1)
    assert receipt.pop("received_at")
    batch_id = receipt.pop("batch")
    assert receipt == {
        "status": 201,
        "already_stored": False,
        "device": device.uid,
        "nonce": "nonce-1",
        "accepted": 2,
    }
    assert _count(fleet.site, observations) == 2
    assert probe.received[0].topic == receipts_topic(device.uid)
    assert probe.received[0].qos == RECEIPT_QOS == 0
    # The same batch again (a device that did not hear back): stored once, and told so.
    assert probe.publish(mqtt_topic(device.uid), mqtt_payload(device.key, body)).value == 0
    again = _receipts(probe, 2)[1]
    assert again["status"] == 200
    assert again["already_stored"] is True
    assert (again["batch"], again["nonce"], again["accepted"]) == (batch_id, "nonce-1", 2)
    assert _count(fleet.site, ingest_batches) == 1
    assert _refusals(fleet.site) == {}
    probe.close()


def test_a_refused_batch_gets_the_problem_http_would_give(
    fleet: Fleet, worker: IngestWorker
) -> None:
    a, b = fleet.devices[0], fleet.devices[1]
    probe = _listening(fleet, 0)
    topic = mqtt_topic(a.uid)
    forged = batch_body(_readings(0, 1), nonce="forged-1")
    stale = batch_body(
        _readings(10, 1), nonce="stale-1", sent_at=datetime.now(UTC) - timedelta(hours=2)
    )
    replayed = batch_body(_readings(20, 1), nonce="stale-1")  # stored below, then replayed
    for payload in (
        mqtt_payload(b.key, forged),  # signed with another device's key
        mqtt_payload(a.key, stale),
        b"not json",
    ):
        assert probe.publish(topic, payload).value == 0
    receipts = _receipts(probe, 3)
    by_nonce = {receipt["nonce"]: receipt for receipt in receipts}
    assert by_nonce["forged-1"]["status"] == 401
    assert by_nonce["forged-1"]["reason"] == "bad-signature"
    assert by_nonce["forged-1"]["type"] == "https://cityshare.dev/problems/readings-refused"
    assert by_nonce["forged-1"]["detail"]
    assert (by_nonce["stale-1"]["status"], by_nonce["stale-1"]["reason"]) == (400, "stale")
    assert (by_nonce[None]["status"], by_nonce[None]["reason"]) == (400, "malformed")
    assert _count(fleet.site, observations) == 0
    # A nonce reused for other bytes is a replay (409), as over HTTP.
    assert probe.publish(topic, mqtt_payload(a.key, replayed)).value == 0
    assert _receipts(probe, 4)[3]["status"] == 201
    other = batch_body(_readings(30, 1), nonce="stale-1")
    assert probe.publish(topic, mqtt_payload(a.key, other)).value == 0
    last = _receipts(probe, 5)[4]
    assert (last["status"], last["reason"], last["nonce"]) == (409, "replay", "stale-1")
    probe.close()


def test_a_device_reads_only_its_own_receipts_and_cannot_write_them(
    fleet: Fleet, worker: IngestWorker
) -> None:
    a, b = fleet.devices[0], fleet.devices[1]
    owner = _listening(fleet, 0)
    spy = _publisher(fleet.broker, b)
    for pattern in (receipts_topic(a.uid), "cityshare/devices/+/receipts", "#"):
        spy.subscribe(pattern)  # Mosquitto grants it, then filters deliveries by the ACL
    assert owner.publish(receipts_topic(a.uid), b'{"status": 201}').value == NOT_AUTHORIZED
    assert spy.publish(receipts_topic(a.uid), b'{"status": 201}').value == NOT_AUTHORIZED
    body = batch_body(_readings(0, 1))
    assert owner.publish(mqtt_topic(a.uid), mqtt_payload(a.key, body)).value == 0
    assert [r["status"] for r in _receipts(owner, 1)] == [201]
    time.sleep(0.3)
    assert spy.received == []
    assert len(owner.received) == 1  # not the forged receipts
    owner.close()
    spy.close()


def test_the_worker_subscribes_again_within_a_second_of_the_broker_restarting(
    fleet: Fleet, worker: IngestWorker
) -> None:
    broker = fleet.broker
    os.kill(broker.process.pid, signal.SIGKILL)
    broker.process.wait(WAIT)
    _wait_until(lambda: not worker.inbox.subscribed.is_set())
    time.sleep(8.0)  # long enough for a backoff that doubles (1, 2, 4, 8 s) to lag behind
    with (broker.files.folder / "mosquitto.log").open("ab") as log:
        broker.process = subprocess.Popen(
            ["mosquitto", "-c", str(broker.files.config)], stdout=log, stderr=log
        )
    wait_for_port(broker.address.host, broker.address.port, broker.process)
    back = time.monotonic()
    assert worker.inbox.subscribed.wait(WAIT)
    assert time.monotonic() - back < 3.0  # generous: it tries again every second
    device = fleet.devices[0]
    probe = _listening(fleet, 0)
    body = batch_body(_readings(0, 1))
    assert probe.publish(mqtt_topic(device.uid), mqtt_payload(device.key, body)).value == 0
    assert _receipts(probe, 1)[0]["status"] == 201
    probe.close()
