"""Signed HTTP ingestion: what is accepted, stored and acknowledged, and every refusal."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from cityshare import keys
from cityshare.accounts.console import console_actor
from cityshare.site import Site
from cityshare.storage.schema import ingest_batches, ingest_refusals, observations
from cityshare.streams import devices
from cityshare.streams.client import batch_body, http_headers
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import World

NOW = datetime.now(UTC)


@pytest.fixture
def station(world: World) -> Device:
    """A device feeding a number, a boolean, a string and an object stream."""
    add_sensor_dataset(world.site, "air-live")
    return add_device(
        world.site,
        "kirkgate",
        dataset="air-live",
        streams={
            "no2": ("no2", "number"),
            "open": ("door_open", "boolean"),
            "status": ("status", "string"),
            "diag": ("diagnostics", "object"),
        },
    )


def post(client: TestClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/api/v1/ingest", content=body, headers=headers)


def stored(site: Site) -> int:
    with site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(observations)).scalar_one())


def refusals(site: Site, device: str) -> dict[str, int]:
    with site.engine.connect() as connection:
        rows = connection.execute(
            select(ingest_refusals.c.reason, ingest_refusals.c.count).where(
                ingest_refusals.c.device == device
            )
        ).all()
    return {reason: int(count) for reason, count in rows}


def refused(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["reason"] == reason
    assert "Traceback" not in response.text and "SELECT" not in response.text
    return problem


def test_a_signed_batch_is_stored_with_provenance(
    client: TestClient, site: Site, station: Device
) -> None:
    readings = [
        ("no2", NOW - timedelta(minutes=1), 41.5),
        ("open", NOW - timedelta(minutes=1), True),
        ("status", NOW - timedelta(minutes=1), "ok"),
        ("diag", NOW - timedelta(minutes=1), {"battery": 0.93, "rssi": -71}),
    ]
    body, headers = station.signed(readings)
    response = post(client, body, headers)
    assert response.status_code == 201, response.text
    ack = response.json()
    assert ack["accepted"] == 4 and ack["device"] == station.uid
    with site.engine.connect() as connection:
        rows = connection.execute(select(observations).order_by(observations.c.stream_id)).all()
        batch = connection.execute(select(ingest_batches)).one()
    assert [row.stream_id for row in rows] == sorted(station.streams.values())
    assert {(row.device_id, row.key_id, row.batch_id, row.verified) for row in rows} == {
        (batch.device_id, batch.key_id, ack["batch"], True)
    }
    assert batch.nonce == ack["nonce"] and batch.readings == 4 and batch.channel == "http"
    page = client.get(f"/api/v1/streams/{station.streams['diag']}/observations").json()
    reading = page["observations"][0]
    assert reading["value"] == {"battery": 0.93, "rssi": -71}
    assert reading["key_id"] == keys.key_id(keys.public_key_text(station.key))
    assert reading["verified"] is True and reading["device"] == station.uid


def test_the_same_batch_again_gets_the_original_acknowledgement(
    client: TestClient, site: Site, station: Device
) -> None:
    body, headers = station.signed([("no2", NOW, 1.0), ("no2", NOW - timedelta(seconds=5), 2.0)])
    first = post(client, body, headers)
    again = post(client, body, headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert stored(site) == 2


def test_a_reused_nonce_with_other_bytes_is_a_replay(
    client: TestClient, site: Site, station: Device
) -> None:
    body, headers = station.signed([("no2", NOW, 1.0)], nonce="n-1")
    assert post(client, body, headers).status_code == 201
    other, other_headers = station.signed([("no2", NOW - timedelta(seconds=1), 9.0)], nonce="n-1")
    refused(post(client, other, other_headers), 409, "replay")
    assert stored(site) == 1
    assert refusals(site, station.uid) == {"replay": 1}


def test_forged_and_altered_batches_are_refused(
    client: TestClient, site: Site, station: Device
) -> None:
    body = batch_body([("no2", NOW, 1.0)])
    forger = keys.generate_private_key()
    refused(post(client, body, http_headers(station.uid, forger, body)), 401, "bad-signature")
    _, headers = station.signed([("no2", NOW, 1.0)])
    altered = batch_body([("no2", NOW, 999.0)])
    refused(post(client, altered, headers), 401, "bad-signature")
    for signature in ("", "not base64!", "AAAA"):
        bad = {**http_headers(station.uid, station.key, body), "X-Signature": signature}
        refused(post(client, body, bad), 401, "bad-signature")
    assert stored(site) == 0
    assert refusals(site, station.uid) == {"bad-signature": 5}  # an empty header counts too


def test_stale_batches_are_refused_and_fresh_ones_taken(
    client: TestClient, site: Site, station: Device
) -> None:
    now = datetime.now(UTC)
    for offset in (timedelta(seconds=-301), timedelta(seconds=301), timedelta(days=-3)):
        body, headers = station.signed(
            [("no2", now - timedelta(days=3), 1.0)], sent_at=now + offset
        )
        refused(post(client, body, headers), 400, "stale")
    body, headers = station.signed([("no2", now, 1.0)], sent_at=now - timedelta(seconds=200))
    assert post(client, body, headers).status_code == 201
    assert refusals(site, station.uid) == {"stale": 3}


def test_unknown_and_revoked_devices_and_keys_are_refused(
    client: TestClient, site: Site, station: Device
) -> None:
    body, headers = station.signed([("no2", NOW, 1.0)])
    refused(
        post(client, body, {**headers, "X-Device-Id": "dev-nonexistent"}), 401, "unknown-device"
    )
    refused(post(client, body, {**headers, "X-Device-Id": ""}), 401, "unknown-device")
    assert refusals(site, "(unknown)") == {"unknown-device": 2}
    admin = console_actor(site, "admin")
    devices.revoke_key(site, admin, station.uid, keys.key_id(keys.public_key_text(station.key)))
    refused(post(client, body, headers), 401, "revoked-key")
    devices.revoke_device(site, admin, station.uid)
    refused(post(client, *station.signed([("no2", NOW, 2.0)])), 401, "revoked-device")
    assert stored(site) == 0


def test_key_rotation_keeps_the_old_key_valid_until_its_time(
    client: TestClient, site: Site, station: Device
) -> None:
    admin = console_actor(site, "admin")
    new_key = keys.generate_private_key()
    until = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    devices.add_key(
        site, admin, station.uid, keys.public_key_text(new_key), old_keys_valid_until=until
    )
    old_body, old_headers = station.signed([("no2", NOW, 1.0)])
    assert post(client, old_body, old_headers).status_code == 201
    new_body = batch_body([("no2", NOW - timedelta(seconds=1), 2.0)])
    assert post(client, new_body, http_headers(station.uid, new_key, new_body)).status_code == 201
    devices.add_key(site, admin, station.uid, keys.public_key_text(keys.generate_private_key()))
    refused(
        post(client, *station.signed([("no2", NOW - timedelta(seconds=2), 3.0)])),
        401,
        "revoked-key",
    )
    assert stored(site) == 2


def test_a_batch_is_all_or_nothing(client: TestClient, site: Site, station: Device) -> None:
    other = add_device(site, "elsewhere", dataset="air-live", streams={"pm10": ("pm10", "number")})
    body, headers = station.signed([("no2", NOW, 1.0), ("pm10", NOW, 2.0)])
    problem = refused(post(client, body, headers), 400, "unknown-stream")
    assert problem["reading"] == 1
    assert stored(site) == 0
    assert other.streams  # the stream exists, but it is another device's


@pytest.mark.parametrize(
    ("stream", "value"),
    [
        ("no2", "41.5"),
        ("no2", True),
        ("no2", None),
        ("no2", [1, 2]),
        ("open", 1),
        ("status", 3),
        ("status", "x" * 10_001),
        ("diag", [1]),
        ("diag", "text"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(
    client: TestClient, site: Site, station: Device, stream: str, value: Any
) -> None:
    body, headers = station.signed([("no2", NOW - timedelta(seconds=9), 1.0), (stream, NOW, value)])
    problem = refused(post(client, body, headers), 400, "wrong-type")
    assert problem["reading"] == 1
    assert stored(site) == 0


READING = '{"stream": "no2", "time": "NOW", "value": 1}'


def envelope(readings: str, *, nonce: str = '"n"', sent_at: str = '"NOW"') -> bytes:
    """A batch body written by hand, so that it can be wrong in any way."""
    return f'{{"sent_at": {sent_at}, "nonce": {nonce}, "readings": [{readings}]}}'.encode()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"not json", "malformed"),
        (b"[]", "malformed"),
        (b"\xff\xfe\x00garbage", "malformed"),
        (envelope(READING)[:-1] + b', "extra": 1}', "malformed"),
        (b'{"sent_at": "NOW", "readings": [' + READING.encode() + b"]}", "malformed"),
        (envelope(READING, nonce='""'), "malformed"),
        (envelope(READING, nonce="7"), "malformed"),
        (envelope(READING, sent_at='"2026-11-28T08:00:00"'), "malformed"),
        (envelope(""), "malformed"),
        (envelope('{"stream": "no2", "time": "NOW"}'), "malformed"),
        (envelope(READING[:-1] + ', "x": 2}'), "malformed"),
        (envelope(READING.replace("1}", "NaN}")), "malformed"),
        (envelope(READING.replace('"NOW"', '"yesterday"')), "bad-time"),
        (envelope(READING.replace('"NOW"', '"2999-01-01T00:00:00Z"')), "bad-time"),
        (envelope(READING.replace('"no2"', "7")), "unknown-stream"),
        (envelope(f"{READING}, {READING}"), "duplicate-reading"),
    ],
)
def test_malformed_bodies_are_refused_and_counted(
    client: TestClient, site: Site, station: Device, document: bytes, reason: str
) -> None:
    # The time now, not at import: a long run must not make these batches stale.
    body = document.replace(b"NOW", datetime.now(UTC).isoformat().encode())
    status = 409 if reason == "duplicate-reading" else 400
    refused(post(client, body, http_headers(station.uid, station.key, body)), status, reason)
    assert stored(site) == 0
    assert refusals(site, station.uid) == {reason: 1}


def test_too_many_readings_are_refused_whole(
    client: TestClient, site: Site, station: Device
) -> None:
    limit = site.settings.limits.max_readings_per_batch
    readings = [("no2", NOW - timedelta(seconds=i), float(i)) for i in range(limit + 1)]
    body, headers = station.signed(readings)
    refused(post(client, body, headers), 413, "too-many-readings")
    body, headers = station.signed(readings[:limit])
    assert post(client, body, headers).json()["accepted"] == limit


def test_a_reading_already_stored_is_a_conflict(
    client: TestClient, site: Site, station: Device
) -> None:
    assert post(client, *station.signed([("no2", NOW, 1.0)])).status_code == 201
    refused(post(client, *station.signed([("no2", NOW, 2.0)])), 409, "duplicate-reading")
    page = client.get(f"/api/v1/streams/{station.streams['no2']}/observations").json()
    assert [reading["value"] for reading in page["observations"]] == [1.0]


def test_refusals_are_shown_on_the_device(
    client: TestClient, world: World, station: Device
) -> None:
    body = batch_body([("no2", NOW, 1.0)])
    post(client, body, http_headers(station.uid, keys.generate_private_key(), body))
    post(client, b"{}", http_headers(station.uid, station.key, b"{}"))
    shown = client.get(f"/api/v1/devices/{station.uid}", headers=world.headers("member")).json()
    assert shown["refusals"] == {"bad-signature": 1, "malformed": 1}


def test_concurrent_batches_are_all_stored_exactly_once(
    client: TestClient, site: Site, station: Device
) -> None:
    def send(index: int) -> Any:
        readings = [("no2", NOW - timedelta(seconds=index * 10 + i), float(i)) for i in range(10)]
        return post(client, *station.signed(readings))

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, range(64)))
    assert [response.status_code for response in responses] == [201] * 64
    assert len({response.json()["batch"] for response in responses}) == 64
    assert stored(site) == 640


def test_a_bearer_token_does_not_replace_the_signature(
    client: TestClient, world: World, station: Device
) -> None:
    body = orjson.dumps({"sent_at": NOW.isoformat(), "nonce": "x", "readings": []})
    headers = {**world.headers("siteadmin"), "X-Device-Id": station.uid}
    refused(post(client, body, headers), 401, "bad-signature")
