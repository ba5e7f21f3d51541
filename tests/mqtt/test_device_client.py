"""The device side over MQTT: MqttDevice keeps each batch until its receipt, and
``cityshare device send --mqtt`` waits for the receipt and says what it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from cityshare import keys
from cityshare.cli.devices import device_app
from cityshare.site import Site
from cityshare.storage.schema import ingest_batches, observations
from cityshare.streams.client import MqttDevice, Receipt
from tests.mqtt.conftest import WAIT, Broker
from tests.mqtt.test_worker import Fleet, _count, _readings, make_fleet, running


@pytest.fixture
def fleet(site: Site, start_broker: Callable[..., Broker]) -> Fleet:
    """Three devices and a broker, on SQLite and on PostgreSQL."""
    return make_fleet(site, start_broker)


def test_a_batch_without_a_receipt_is_resent_unchanged_until_one_comes(fleet: Fleet) -> None:
    device = fleet.devices[0]
    client = MqttDevice(
        device.uid,
        device.mqtt_password,
        device.key,
        fleet.broker.address.host,
        fleet.broker.address.port,
        resend_after=0.5,
    )
    client.connect(WAIT)
    # No worker has ever subscribed: the broker acknowledges, then drops the message.
    nonce = client.send(_readings(0, 2))
    with running(fleet):
        receipts = client.wait_for_receipts(timeout=WAIT)
    client.close()
    assert client.resent >= 1
    assert receipts[nonce].stored
    assert receipts[nonce].document["accepted"] == 2
    assert client.pending == 0
    assert _count(fleet.site, ingest_batches) == 1
    assert _count(fleet.site, observations) == 2


def test_a_long_running_device_takes_its_receipts_in_a_callback(fleet: Fleet) -> None:
    device = fleet.devices[1]
    heard: list[Receipt] = []
    client = MqttDevice(
        device.uid,
        device.mqtt_password,
        device.key,
        fleet.broker.address.host,
        fleet.broker.address.port,
        on_receipt=heard.append,
    )
    client.connect(WAIT)
    with running(fleet):
        nonces = {client.send(_readings(offset, 1)) for offset in (0, 10, 20)}
        assert client.wait_for_receipts(timeout=WAIT) == {}  # nothing kept
    client.close()
    assert {receipt.nonce for receipt in heard} == nonces
    assert all(receipt.status == 201 for receipt in heard)


def test_device_send_over_mqtt_prints_the_receipt(fleet: Fleet, tmp_path: Path) -> None:
    device = fleet.devices[0]
    key_file = tmp_path / "device.pem"
    key_file.write_bytes(keys.private_key_pem(device.key))
    broker = f"mqtt://{fleet.broker.address.host}:{fleet.broker.address.port}"
    arguments = ["send", device.uid, "--key", str(key_file), "--mqtt", "--broker", broker]
    runner = CliRunner()
    env = {"CITYSHARE_DEVICE_MQTT_PASSWORD": device.mqtt_password}
    with running(fleet):
        stored = runner.invoke(
            device_app, [*arguments, "--stream", "pm25", "--value", "4.5"], env=env
        )
        refused = runner.invoke(
            device_app, [*arguments, "--stream", "nope", "--value", "1"], env=env
        )
        wrong = runner.invoke(
            device_app,
            [*arguments, "--stream", "pm25", "--value", "1", "--timeout", "5"],
            env={"CITYSHARE_DEVICE_MQTT_PASSWORD": "not-the-password"},
        )
    assert stored.exit_code == 0, stored.output
    receipt = orjson.loads(stored.stdout)
    assert (receipt["status"], receipt["accepted"], receipt["device"]) == (201, 1, device.uid)
    assert refused.exit_code == 1
    problem = orjson.loads(refused.stdout)
    assert (problem["status"], problem["reason"]) == (400, "unknown-stream")
    assert wrong.exit_code == 1
    assert "refused" in wrong.output
    assert _count(fleet.site, observations) == 1
