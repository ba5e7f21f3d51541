"""Devices and datastreams through the API: registration, keys, validation, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from cityshare import keys
from tests.world import OWNER, SAMPLE_CSV, World

DEVICES = f"/api/v1/organisations/{OWNER}/devices"


def fresh_key() -> str:
    return keys.public_key_text(keys.generate_private_key())


def register(client: TestClient, world: World, **body: object) -> object:
    payload = {"name": "kirkgate", "public_key": keys.public_key_text(keys.generate_private_key())}
    return client.post(DEVICES, json={**payload, **body}, headers=world.headers("editor"))


def test_registration_accepts_pem_and_raw_keys_and_shows_the_password_once(
    client: TestClient, world: World
) -> None:
    private = keys.generate_private_key()
    created = register(client, world, public_key=keys.public_key_pem(private).decode())
    assert created.status_code == 201, created.text
    device = created.json()
    assert len(device["mqtt_password"]) >= 32
    assert device["keys"][0]["key_id"] == keys.key_id(keys.public_key_text(private))
    shown = client.get(f"/api/v1/devices/{device['uid']}", headers=world.headers("editor")).json()
    assert "mqtt_password" not in shown and "mqtt_password_hash" not in str(shown)
    listed = client.get(DEVICES, headers=world.headers("member")).json()
    assert device["uid"] in {item["uid"] for item in listed}


@pytest.mark.parametrize(
    "public_key",
    [
        "",
        "not a key",
        "AAAA",
        "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----",
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    ],
    ids=["empty", "text", "short", "bad-pem", "ec-key"],
)
def test_a_key_that_is_not_ed25519_is_refused(
    client: TestClient, world: World, public_key: str
) -> None:
    response = register(client, world, public_key=public_key)
    assert response.status_code == 400
    assert response.json()["parameter"] == "public_key"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"name": "Bad Name"}, "device"),
        ({"location": {"type": "Polygon", "coordinates": []}}, "location"),
        ({"location": {"type": "Point", "coordinates": [200, 10]}}, "location"),
        ({"location": {"type": "Point", "coordinates": ["a", "b"]}}, "location"),
        ({"properties": {"x": "y" * 20_000}}, "properties"),
    ],
)
def test_bad_device_fields_are_refused(
    client: TestClient, world: World, body: dict[str, object], parameter: str
) -> None:
    response = register(client, world, **body)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == parameter


def test_names_and_keys_are_unique(client: TestClient, world: World) -> None:
    public = keys.public_key_text(keys.generate_private_key())
    first = register(client, world, public_key=public).json()
    assert register(client, world).status_code == 409
    again = client.post(
        f"/api/v1/devices/{first['uid']}/keys",
        json={"public_key": public},
        headers=world.headers("editor"),
    )
    assert again.status_code == 409


def test_rotation_and_revocation_show_on_the_device(client: TestClient, world: World) -> None:
    uid = register(client, world).json()["uid"]
    editor = world.headers("editor")
    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    new_key = keys.public_key_text(keys.generate_private_key())
    rotated = client.post(
        f"/api/v1/devices/{uid}/keys",
        json={"public_key": new_key, "old_keys_valid_until": until},
        headers=editor,
    ).json()
    old, new = rotated["keys"]
    assert old["valid_until"] is not None and new["valid_until"] is None
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    refused = client.post(
        f"/api/v1/devices/{uid}/keys",
        json={
            "public_key": keys.public_key_text(keys.generate_private_key()),
            "old_keys_valid_until": past,
        },
        headers=editor,
    )
    assert refused.status_code == 400
    revoked = client.delete(f"/api/v1/devices/{uid}/keys/{old['key_id']}", headers=editor)
    assert revoked.json()["keys"][0]["revoked_at"] is not None
    assert (
        client.delete(f"/api/v1/devices/{uid}/keys/{old['key_id']}", headers=editor).status_code
        == 404
    )
    gone = client.post(f"/api/v1/devices/{uid}/revoke", headers=editor).json()
    assert gone["revoked_at"] is not None
    assert client.post(f"/api/v1/devices/{uid}/mqtt-password", headers=editor).status_code == 409


def test_streams_need_a_sensor_dataset_and_a_device_of_the_same_organisation(
    client: TestClient, world: World
) -> None:
    admin = world.headers("siteadmin")
    uid = register(client, world).json()["uid"]
    stream = {"device": uid, "name": "no2", "observed_property": "no2", "unit": "µg/m³"}
    table = client.post(
        f"/api/v1/datasets/{world.datasets['open']}/streams", json=stream, headers=admin
    )
    assert table.status_code == 409
    sensor = f"/api/v1/datasets/{world.sensor_datasets['open']}/streams"
    assert client.post(sensor, json=stream, headers=admin).status_code == 201
    assert client.post(sensor, json=stream, headers=admin).status_code == 409
    wrong_type = client.post(
        sensor, json={**stream, "name": "x", "value_type": "float"}, headers=admin
    )
    assert wrong_type.json()["parameter"] == "value_type"
    other = client.post(
        "/api/v1/organisations/partner/devices",
        json={"name": "theirs", "public_key": keys.public_key_text(keys.generate_private_key())},
        headers=world.headers("outsider"),
    ).json()
    foreign = client.post(
        sensor, json={**stream, "device": other["uid"], "name": "y"}, headers=admin
    )
    assert foreign.status_code == 400 and foreign.json()["parameter"] == "device"


def test_files_cannot_be_uploaded_to_a_sensor_dataset(client: TestClient, world: World) -> None:
    response = client.put(
        f"/api/v1/datasets/{world.sensor_datasets['open']}/data",
        content=SAMPLE_CSV.encode(),
        headers={**world.headers("admin"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 409
    created = client.post(
        "/api/v1/datasets",
        json={"name": "weird", "organisation": OWNER, "kind": "video"},
        headers=world.headers("editor"),
    )
    assert created.status_code == 400 and created.json()["parameter"] == "kind"
