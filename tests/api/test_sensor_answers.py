"""The answers of the device, stream, observation and ingestion routes are the ones the
OpenAPI document describes (issue 18, part 3): every field its schema names, no other, in
every status and media type they answer with (the hot paths' too, which write their own
bytes and are only described)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from schemathesis.schemas import BaseSchema
from starlette.testclient import TestClient

from cityshare import keys
from tests.api.openapi_support import assert_conforms, openapi_schema
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import OWNER, World

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
DEVICES = f"/api/v1/organisations/{OWNER}/devices"


@pytest.fixture
def station(world: World, client: TestClient) -> Device:
    """A device feeding two streams of ``air-live``, one with readings, one without."""
    add_sensor_dataset(world.site, "air-live")
    device = add_device(
        world.site,
        "kirkgate",
        dataset="air-live",
        streams={"no2": ("no2", "number"), "idle": ("x", "number")},
    )
    readings = [("no2", START + timedelta(minutes=i), float(i)) for i in range(30)]
    body, headers = device.signed(readings)
    assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 201
    return device


@pytest.fixture
def schema(client: TestClient) -> BaseSchema:
    return openapi_schema(client)


def exactly_as_named(schema: BaseSchema, name: str, answer: dict[str, Any]) -> None:
    """``answer`` has every field schema ``name`` names (and requires), and no other."""
    described = schema.raw_schema["components"]["schemas"][name]
    assert set(answer) == set(described["properties"]), name
    assert set(described.get("required", ())) <= set(answer), name


def test_device_answers_conform_and_hold_exactly_their_fields(
    client: TestClient, world: World, station: Device, schema: BaseSchema
) -> None:
    editor = world.headers("editor")
    key = keys.public_key_text(keys.generate_private_key())
    created = client.post(DEVICES, json={"name": "gauge", "public_key": key}, headers=editor)
    uid = created.json()["uid"]
    answers = [
        ("GET", "/api/v1/organisations/{name}/devices", client.get(DEVICES, headers=editor)),
        ("POST", "/api/v1/organisations/{name}/devices", created),
        ("GET", "/api/v1/devices/{uid}", client.get(f"/api/v1/devices/{uid}", headers=editor)),
        (
            "PATCH",
            "/api/v1/devices/{uid}",
            client.patch(f"/api/v1/devices/{uid}", json={"properties": {"a": 1}}, headers=editor),
        ),
    ]
    new_key = keys.public_key_text(keys.generate_private_key())
    rotated = client.post(
        f"/api/v1/devices/{uid}/keys", json={"public_key": new_key}, headers=editor
    )
    revoked_key = client.delete(
        f"/api/v1/devices/{uid}/keys/{keys.key_id(new_key)}", headers=editor
    )
    password = client.post(f"/api/v1/devices/{uid}/mqtt-password", headers=editor)
    revoked = client.post(f"/api/v1/devices/{uid}/revoke", headers=editor)
    answers += [
        ("POST", "/api/v1/devices/{uid}/keys", rotated),
        ("DELETE", "/api/v1/devices/{uid}/keys/{key_id}", revoked_key),
        ("POST", "/api/v1/devices/{uid}/mqtt-password", password),
        ("POST", "/api/v1/devices/{uid}/revoke", revoked),
    ]
    for method, path, response in answers:
        assert_conforms(schema, method, path, response)
    for response in (rotated, revoked_key, revoked):
        assert response.status_code in (200, 201), response.text
        exactly_as_named(schema, "Device", response.json())
    exactly_as_named(schema, "RegisteredDevice", created.json())
    exactly_as_named(schema, "MqttPassword", password.json())
    listed = client.get(DEVICES, headers=editor).json()
    exactly_as_named(schema, "DeviceSummary", listed[0])
    shown = client.get(f"/api/v1/devices/{station.uid}", headers=editor).json()
    exactly_as_named(schema, "DeviceKey", shown["keys"][0])
    exactly_as_named(schema, "DeviceStream", shown["streams"][0])


def test_stream_answers_conform_and_hold_exactly_their_fields(
    client: TestClient, world: World, station: Device, schema: BaseSchema
) -> None:
    editor = world.headers("editor")
    body = {"device": station.uid, "name": "pm10", "observed_property": "pm10", "unit": "µg/m³"}
    created = client.post("/api/v1/datasets/air-live/streams", json=body, headers=editor)
    listed = client.get("/api/v1/datasets/air-live/streams")
    one = client.get(f"/api/v1/streams/{station.streams['no2']}")
    latest = client.get("/api/v1/datasets/air-live/latest")
    assert_conforms(schema, "POST", "/api/v1/datasets/{name}/streams", created)
    assert_conforms(schema, "GET", "/api/v1/datasets/{name}/streams", listed)
    assert_conforms(schema, "GET", "/api/v1/streams/{stream_id}", one)
    assert_conforms(schema, "GET", "/api/v1/datasets/{name}/latest", latest)
    for answer in (created.json(), *listed.json(), one.json()):
        exactly_as_named(schema, "Stream", answer)
        exactly_as_named(schema, "StreamDevice", answer["device"])
    exactly_as_named(schema, "Latest", latest.json())
    for reading in latest.json()["streams"]:  # with a reading, and without one yet
        exactly_as_named(schema, "LatestReading", reading)


@pytest.mark.parametrize(
    "query",
    [
        "?_limit=10",
        "?_limit=10&_sort=-time",
        "?_bucket=10m",
        "?_bucket=10m&_agg=sum,count&_limit=1",
        "?_format=csv",
        "?_format=ndjson",
        "?_format=csv&_bucket=1h&_agg=avg",
        "?_format=ndjson&_bucket=1h",
    ],
)
def test_observation_answers_conform(
    client: TestClient, station: Device, schema: BaseSchema, query: str
) -> None:
    response = client.get(f"/api/v1/streams/{station.streams['no2']}/observations{query}")
    assert response.status_code == 200, response.text
    assert_conforms(schema, "GET", "/api/v1/streams/{stream_id}/observations", response)


def test_observation_pages_hold_exactly_their_fields(
    client: TestClient, station: Device, schema: BaseSchema
) -> None:
    observations = f"/api/v1/streams/{station.streams['no2']}/observations"
    page = client.get(f"{observations}?_limit=5").json()
    exactly_as_named(schema, "ObservationPage", page)
    exactly_as_named(schema, "Observation", page["observations"][0])
    buckets = client.get(f"{observations}?_bucket=10m&_agg=avg,min,max,count,sum").json()
    exactly_as_named(schema, "BucketPage", buckets)
    exactly_as_named(schema, "Bucket", buckets["buckets"][0])


def test_ingest_answers_conform_first_and_again(
    client: TestClient, station: Device, schema: BaseSchema
) -> None:
    body, headers = station.signed([("no2", datetime.now(UTC) - timedelta(seconds=5), 1.0)])
    first = client.post("/api/v1/ingest", content=body, headers=headers)
    again = client.post("/api/v1/ingest", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    for response in (first, again):
        assert_conforms(schema, "POST", "/api/v1/ingest", response)
        exactly_as_named(schema, "IngestReceipt", response.json())
