"""Each process keeps the devices it has read; a change made by another process (a key
revoked, a device revoked, a key or stream added, a dataset deleted) still counts from
the very next batch, and a batch verified just before a revocation is not stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityshare import keys
from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.streams import datastreams, devices
from cityshare.streams.client import batch_body, http_headers
from cityshare.streams.ingest import Acknowledgement, Ingestion, IngestRefused, commit, prepare
from tests.api.test_ingest import post, refused, stored
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import World, make_site


@pytest.fixture
def station(world: World) -> Device:
    add_sensor_dataset(world.site, "air-live")
    return add_device(
        world.site, "kirkgate", dataset="air-live", streams={"no2": ("no2", "number")}
    )


@pytest.fixture
def other_process(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A second Site on the same store, as another worker process would open it."""
    other = make_site(database_url, tmp_path / "other")
    yield other
    other.close()


def minutes_ago(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def key_id(device: Device) -> str:
    return keys.key_id(keys.public_key_text(device.key))


def accepted(client: TestClient, station: Device, minutes: int) -> None:
    """One reading from ``station`` is taken; the device is now kept by the server."""
    response = post(client, *station.signed([("no2", minutes_ago(minutes), 1.0)]))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("change", "reason"), [("revoke-key", "revoked-key"), ("revoke-device", "revoked-device")]
)
def test_a_revocation_by_another_process_is_refused_at_once(
    client: TestClient,
    site: Site,
    runtime: Runtime,
    station: Device,
    other_process: Site,
    change: str,
    reason: str,
) -> None:
    accepted(client, station, 3)
    assert runtime.ingestion.senders.get(station.uid) is not None
    CHANGES[change](other_process, console_actor(other_process, "admin"), station)
    refused(post(client, *station.signed([("no2", minutes_ago(2), 2.0)])), 401, reason)
    refused(post(client, *station.signed([("no2", minutes_ago(1), 3.0)])), 401, reason)
    assert stored(site) == 1


def test_a_key_added_by_another_process_is_taken_and_the_old_one_ends(
    client: TestClient, site: Site, station: Device, other_process: Site
) -> None:
    accepted(client, station, 3)
    new_key = keys.generate_private_key()
    devices.add_key(
        other_process,
        console_actor(other_process, "admin"),
        station.uid,
        keys.public_key_text(new_key),  # the old key ends now
    )
    body = batch_body([("no2", minutes_ago(2), 2.0)])
    assert post(client, body, http_headers(station.uid, new_key, body)).status_code == 201
    refused(post(client, *station.signed([("no2", minutes_ago(1), 3.0)])), 401, "revoked-key")
    assert stored(site) == 2


def test_a_stream_added_by_another_process_takes_readings_at_once(
    client: TestClient, site: Site, station: Device, other_process: Site
) -> None:
    accepted(client, station, 3)
    datastreams.create_stream(
        other_process,
        console_actor(other_process, "admin"),
        "air-live",
        device=station.uid,
        name="pm10",
        observed_property="pm10",
        unit="µg/m³",
        value_type="number",
    )
    response = post(client, *station.signed([("pm10", minutes_ago(2), 9.0)]))
    assert response.status_code == 201, response.text
    assert stored(site) == 2


def test_readings_for_a_deleted_dataset_are_refused(
    client: TestClient, site: Site, station: Device, other_process: Site
) -> None:
    add_sensor_dataset(site, "traffic-live")
    datastreams.create_stream(
        site,
        console_actor(site, "admin"),
        "traffic-live",
        device=station.uid,
        name="cars",
        observed_property="vehicle_count",
        unit="vehicles",
        value_type="number",
    )
    accepted(client, station, 3)
    datasets.delete_dataset(other_process, console_actor(other_process, "admin"), "air-live")
    problem = refused(
        post(
            client, *station.signed([("cars", minutes_ago(2), 4.0), ("no2", minutes_ago(2), 1.0)])
        ),
        400,
        "unknown-stream",
    )
    assert "cars" not in problem["detail"]
    response = post(client, *station.signed([("cars", minutes_ago(1), 5.0)]))
    assert response.status_code == 201, response.text
    assert stored(site) == 2  # the first reading and the last; the deleted stream's are gone


CHANGES = {
    "revoke-key": lambda site, admin, device: devices.revoke_key(
        site, admin, device.uid, key_id(device)
    ),
    "revoke-device": lambda site, admin, device: devices.revoke_device(site, admin, device.uid),
    "rotate-key": lambda site, admin, device: devices.add_key(  # the old key ends now
        site, admin, device.uid, keys.public_key_text(keys.generate_private_key())
    ),
    "delete-dataset": lambda site, admin, device: datasets.delete_dataset(site, admin, "air-live"),
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("revoke-key", "revoked-key"),
        ("revoke-device", "revoked-device"),
        ("rotate-key", "revoked-key"),
        ("delete-dataset", "unknown-stream"),
    ],
)
def test_a_batch_checked_before_a_change_is_not_stored(
    site: Site, station: Device, other_process: Site, change: str, reason: str
) -> None:
    """The race itself: verified and parsed, then another process changes what the batch
    relied on, then the group commits. The other batch of the group, from a device and
    dataset still valid, is stored."""
    add_sensor_dataset(site, "water-live")
    second = add_device(site, "westgate", dataset="water-live", streams={"no2": ("no2", "number")})
    ingestion = Ingestion(site)
    doomed = prepare(ingestion, station.uid, *_signed(station, 2))
    kept = prepare(ingestion, second.uid, *_signed(second, 2))
    CHANGES[change](other_process, console_actor(other_process, "admin"), station)
    refusal, acknowledgement = commit(ingestion, [doomed, kept], channel="http")
    assert isinstance(refusal, IngestRefused) and refusal.reason == reason
    assert isinstance(acknowledgement, Acknowledgement) and acknowledgement.accepted == 1
    assert stored(site) == 1
    assert ingestion.senders.get(station.uid) is None  # read afresh next time
    with pytest.raises(IngestRefused) as raised:
        prepare(ingestion, station.uid, *_signed(station, 1))
    assert raised.value.reason == reason


def _signed(device: Device, minutes: int) -> tuple[bytes, str]:
    body, headers = device.signed([("no2", minutes_ago(minutes), 1.0)])
    return body, headers["X-Signature"]
