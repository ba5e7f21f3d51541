"""Signed ingestion (cityshare.streams.ingest), called as the HTTP and MQTT adapters call
it: a batch signed by a device's live key is stored once, all of it; any other batch is
refused as a whole, stores nothing, and is counted against the device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cityshare import keys
from cityshare.storage.schema import devices as devices_table
from cityshare.storage.schema import ingest_batches, ingest_refusals, observations
from cityshare.streams import devices
from cityshare.streams.client import Reading, batch_body
from cityshare.streams.ingest import Acknowledgement, IngestRefused, ingest
from cityshare.streams.models import IngestReceipt
from cityshare.streams.refusals import UNKNOWN_DEVICE
from cityshare.streams.timefmt import parse_rfc3339
from tests.sensors import Device
from tests.streams.support import actor, send, station, stored
from tests.world import World

NO2 = {"no2": ("no2", "number")}


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def refusals(world: World, device: Device) -> dict[str, int]:
    """The device's refused batches per reason, as its members see them."""
    return devices.get_device(world.site, actor(world, "member"), device.uid).refusals


def batches(world: World, device: Device) -> list[Any]:
    """The batches stored from the device, oldest first."""
    with world.site.engine.connect() as connection:
        return list(
            connection.execute(
                select(ingest_batches)
                .join(devices_table, devices_table.c.id == ingest_batches.c.device_id)
                .where(devices_table.c.uid == device.uid)
                .order_by(ingest_batches.c.id)
            ).all()
        )


def refused(world: World, device_uid: str, body: bytes, signature: str, reason: str) -> None:
    with pytest.raises(IngestRefused) as raised:
        ingest(world.runtime.ingestion, device_uid, body, signature)
    assert raised.value.reason == reason


def test_a_signed_batch_is_stored_with_its_provenance(shared: World) -> None:
    device, _ = station(shared, {**NO2, "door": ("door_open", "boolean")})
    readings: list[Reading] = [("no2", ago(2), 41.5), ("no2", ago(1), 40.0), ("door", ago(1), True)]
    body, headers = device.signed(readings)
    ack = ingest(shared.runtime.ingestion, device.uid, body, headers["X-Signature"])
    assert type(ack) is Acknowledgement and not ack.duplicate
    receipt = IngestReceipt.model_validate(ack.as_dict())
    assert (receipt.batch, receipt.device, receipt.accepted) == (ack.batch_id, device.uid, 3)
    assert (
        stored(shared, device.streams["no2"]) == 2 and stored(shared, device.streams["door"]) == 1
    )
    [batch] = batches(shared, device)
    assert (batch.id, batch.nonce, batch.readings, batch.channel) == (
        ack.batch_id,
        receipt.nonce,
        3,
        "http",
    )
    assert batch.received_at == parse_rfc3339(receipt.received_at)
    with shared.site.engine.connect() as connection:
        rows = connection.execute(
            select(observations).where(observations.c.batch_id == ack.batch_id)
        ).all()
    assert {(row.key_id, row.verified, row.received_at) for row in rows} == {
        (batch.key_id, True, batch.received_at)
    }
    assert refusals(shared, device) == {}


def test_the_channel_a_batch_came_by_is_kept(shared: World) -> None:
    device, _ = station(shared, NO2)
    body, headers = device.signed([("no2", ago(1), 1.0)])
    ingest(shared.runtime.ingestion, device.uid, body, headers["X-Signature"], channel="mqtt")
    assert [batch.channel for batch in batches(shared, device)] == ["mqtt"]


def test_a_batch_sent_twice_is_acknowledged_again_and_stored_once(shared: World) -> None:
    device, _ = station(shared, NO2)
    body, headers = device.signed([("no2", ago(2), 1.0), ("no2", ago(1), 2.0)])
    first = ingest(shared.runtime.ingestion, device.uid, body, headers["X-Signature"])
    again = ingest(shared.runtime.ingestion, device.uid, body, headers["X-Signature"])
    assert not first.duplicate and again.duplicate
    assert again.as_dict() == first.as_dict()
    assert stored(shared, device.streams["no2"]) == 2
    assert len(batches(shared, device)) == 1
    assert refusals(shared, device) == {}


def test_a_nonce_used_again_for_other_readings_is_a_replay(shared: World) -> None:
    device, _ = station(shared, NO2)
    send(shared, device, [("no2", ago(2), 1.0)], nonce="n-1")
    body, headers = device.signed([("no2", ago(1), 9.0)], nonce="n-1")
    refused(shared, device.uid, body, headers["X-Signature"], "replay")
    assert stored(shared, device.streams["no2"]) == 1
    assert refusals(shared, device) == {"replay": 1}


def test_a_bad_signature_is_refused_and_stores_nothing(shared: World) -> None:
    device, _ = station(shared, NO2)
    body = batch_body([("no2", ago(1), 1.0)])
    stranger = keys.generate_private_key()
    refused(shared, device.uid, body, keys.sign(stranger, body), "bad-signature")
    refused(shared, device.uid, body, "not a signature", "bad-signature")
    other_body = batch_body([("no2", ago(1), 2.0)])
    refused(shared, device.uid, body, keys.sign(device.key, other_body), "bad-signature")
    assert stored(shared, device.streams["no2"]) == 0 and batches(shared, device) == []
    assert refusals(shared, device) == {"bad-signature": 3}


def test_an_unknown_device_is_refused_and_counted_together(shared: World) -> None:
    device, _ = station(shared, NO2)
    body, headers = device.signed([("no2", ago(1), 1.0)])
    with shared.site.engine.connect() as connection:
        before = connection.execute(
            select(ingest_refusals.c.count).where(ingest_refusals.c.device == UNKNOWN_DEVICE)
        ).scalar()
    refused(shared, "dev-" + "0" * 20, body, headers["X-Signature"], "unknown-device")
    with shared.site.engine.connect() as connection:
        after = connection.execute(
            select(ingest_refusals.c.count).where(ingest_refusals.c.device == UNKNOWN_DEVICE)
        ).scalar()
    assert after == (before or 0) + 1
    assert stored(shared, device.streams["no2"]) == 0


def test_a_revoked_key_is_refused_even_after_the_device_was_kept(shared: World) -> None:
    device, _ = station(shared, NO2)
    send(shared, device, [("no2", ago(3), 1.0)])  # ingestion now keeps the device
    editor = actor(shared, "editor")
    new_key = keys.generate_private_key()
    devices.add_key(shared.site, editor, device.uid, keys.public_key_text(new_key))
    old_id = keys.key_id(keys.public_key_text(device.key))
    devices.revoke_key(shared.site, editor, device.uid, old_id)
    body, headers = device.signed([("no2", ago(2), 2.0)])
    refused(shared, device.uid, body, headers["X-Signature"], "revoked-key")
    assert stored(shared, device.streams["no2"]) == 1
    renewed = Device(device.uid, new_key, device.mqtt_password, device.streams)
    assert send(shared, renewed, [("no2", ago(1), 3.0)]).accepted == 1
    assert refusals(shared, device) == {"revoked-key": 1}


def test_a_revoked_device_sends_nothing_more(shared: World) -> None:
    device, _ = station(shared, NO2)
    send(shared, device, [("no2", ago(2), 1.0)])
    devices.revoke_device(shared.site, actor(shared, "editor"), device.uid)
    body, headers = device.signed([("no2", ago(1), 2.0)])
    refused(shared, device.uid, body, headers["X-Signature"], "revoked-device")
    assert stored(shared, device.streams["no2"]) == 1
    assert refusals(shared, device) == {"revoked-device": 1}


def test_readings_for_another_devices_stream_are_refused(shared: World) -> None:
    device, _ = station(shared, NO2)
    other, _ = station(shared, {"pm10": ("pm10", "number")})
    body, headers = device.signed([("no2", ago(2), 1.0), ("pm10", ago(1), 2.0)])
    refused(shared, device.uid, body, headers["X-Signature"], "unknown-stream")
    # Signed by the other device, the readings name a stream it does not feed.
    body, headers = other.signed([("pm10", ago(2), 1.0), ("no2", ago(1), 2.0)])
    refused(shared, other.uid, body, headers["X-Signature"], "unknown-stream")
    assert stored(shared, device.streams["no2"]) == 0 and stored(shared, other.streams["pm10"]) == 0
    assert refusals(shared, device) == {"unknown-stream": 1}


@pytest.mark.parametrize(
    ("readings", "options", "reason"),
    [
        ([("no2", ago(1), "high")], {}, "wrong-type"),
        ([("no2", ago(1), True)], {}, "wrong-type"),
        ([("no2", ago(-60), 1.0)], {}, "bad-time"),
        ([("no2", "2025-06-01T08:00:00", 1.0)], {}, "bad-time"),
        (
            [("no2", "2025-06-01T08:00:00Z", 1.0), ("no2", "2025-06-01T08:00:00Z", 2.0)],
            {},
            "duplicate-reading",
        ),
        ([("no2", ago(1), 1.0)], {"sent_at": ago(60 * 24)}, "stale"),
    ],
    ids=["text", "boolean", "future", "no-offset", "repeated-time", "stale"],
)
def test_a_batch_with_a_bad_reading_is_refused_as_a_whole(
    shared: World, readings: list[Any], options: dict[str, Any], reason: str
) -> None:
    device, _ = station(shared, NO2)
    good = [("no2", ago(5), 5.0)]
    body, headers = device.signed(good + readings, **options)
    refused(shared, device.uid, body, headers["X-Signature"], reason)
    assert stored(shared, device.streams["no2"]) == 0 and batches(shared, device) == []
    assert refusals(shared, device) == {reason: 1}


def test_a_reading_already_stored_refuses_the_new_batch_it_is_in(shared: World) -> None:
    device, _ = station(shared, NO2)
    when = ago(3)
    send(shared, device, [("no2", when, 1.0)])
    body, headers = device.signed([("no2", ago(1), 2.0), ("no2", when, 1.0)])
    refused(shared, device.uid, body, headers["X-Signature"], "duplicate-reading")
    assert stored(shared, device.streams["no2"]) == 1 and len(batches(shared, device)) == 1
