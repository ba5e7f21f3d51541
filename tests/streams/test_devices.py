"""Devices (cityshare.streams.devices), called as functions with an Actor: registered,
listed, seen, changed, their keys rotated and revoked, revoked themselves, given a new MQTT
password; every refusal leaves the device and the audit log as they were."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cityshare import keys
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from cityshare.storage.rows import iso
from cityshare.streams import devices
from cityshare.streams.credentials import mosquitto_password_hash
from cityshare.streams.models import (
    Device,
    DeviceKey,
    DeviceSummary,
    MqttPassword,
    RegisteredDevice,
)
from tests.streams.support import (
    LOCATION,
    actor,
    audit_seq,
    device_count,
    device_state,
    fresh,
    password_hash,
    public_key,
    register,
)
from tests.world import World, audit_entries

# Who may see a device of ``city`` but not manage it, and who may not even see it.
VIEWERS_ONLY = ("member", "readonly")
STRANGERS = ("outsider", "anonymous")


def matches(stored: str, password: str) -> bool:
    """Whether a Mosquitto ``$7$`` hash is the hash of ``password``."""
    salt = base64.b64decode(stored.split("$")[3])
    return mosquitto_password_hash(password, salt=salt) == stored


# Registering


def test_registration_answers_the_device_with_its_password_shown_once(shared: World) -> None:
    key = keys.generate_private_key()
    before = audit_seq(shared)
    made = devices.register_device(
        shared.site,
        actor(shared, "editor"),
        organisation="city",
        name=fresh("kirkgate"),
        public_key=keys.public_key_text(key),
        location=LOCATION,
        properties={"height_m": 3},
    )
    assert isinstance(made, RegisteredDevice)
    assert made.uid.startswith("dev-") and made.organisation == "city"
    assert made.location == LOCATION and made.properties == {"height_m": 3}
    assert made.topic == f"cityshare/devices/{made.uid}/readings"
    assert made.revoked_at is None and made.streams == [] and made.refusals == {}
    [only] = made.keys
    assert isinstance(only, DeviceKey)
    assert only.key_id == keys.key_id(keys.public_key_text(key))
    assert only.public_key == keys.public_key_text(key)
    assert only.valid_until is None and only.revoked_at is None
    assert len(made.mqtt_password) >= 32
    [entry] = audit_entries(shared.site, before)
    assert entry["action"] == "device.register"
    assert entry["resource"] == {"device": made.uid, "organisation": "city"}


def test_the_mqtt_password_is_stored_hashed_and_never_shown_again(shared: World) -> None:
    made, _ = register(shared)
    stored = password_hash(shared, made.uid)
    assert made.mqtt_password not in stored
    assert stored.startswith("$7$101$") and matches(stored, made.mqtt_password)
    shown = devices.get_device(shared.site, actor(shared, "editor"), made.uid)
    assert type(shown) is Device and not hasattr(shown, "mqtt_password")
    assert "mqtt_password" not in shown.model_dump_json()


def test_a_pem_public_key_is_stored_as_its_raw_bytes(shared: World) -> None:
    key = keys.generate_private_key()
    made, _ = register(shared, public_key=keys.public_key_pem(key).decode())
    assert made.keys[0].public_key == keys.public_key_text(key)


def test_without_location_and_properties_a_device_has_none(shared: World) -> None:
    made, _ = register(shared, location=None)
    assert made.location is None and made.properties == {}


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("member", Forbidden),
        ("readonly", Forbidden),
        ("outsider", Forbidden),
        ("anonymous", Unauthorized),
    ],
)
def test_only_editors_register_devices(shared: World, kind: str, error: type[Exception]) -> None:
    count = device_count(shared)
    with pytest.raises(error):
        register(shared, kind)
    assert device_count(shared) == count


def test_a_device_name_is_unique_in_its_organisation(shared: World) -> None:
    made, _ = register(shared)
    count = device_count(shared)
    with pytest.raises(Conflict):
        register(shared, name=made.name)
    assert device_count(shared) == count
    # Another organisation may use the name.
    theirs, _ = register(shared, "outsider", organisation="partner", name=made.name)
    assert theirs.organisation == "partner" and theirs.name == made.name


def ec_public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"name": "kirk\x00gate"}, "device"),
        ({"name": "k" * 101}, "device"),
        ({"name": "Kirkgate Station"}, "device"),
        ({"name": ""}, "device"),
        ({"public_key": "not a key"}, "public_key"),
        ({"public_key": "AAAA"}, "public_key"),
        ({"public_key": "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"}, "public_key"),
        ({"public_key": ec_public_key()}, "public_key"),
        ({"location": {"type": "Polygon", "coordinates": []}}, "location"),
        ({"location": {"type": "Point", "coordinates": [200, 10]}}, "location"),
        ({"location": "53.8,-1.55"}, "location"),
        ({"properties": ["a", "list"]}, "properties"),
        ({"properties": {"x": "y" * 20_000}}, "properties"),
    ],
    ids=[
        "nul-in-name",
        "overlong-name",
        "name-with-capitals-and-space",
        "empty-name",
        "key-text",
        "key-too-short",
        "key-bad-pem",
        "key-not-ed25519",
        "location-polygon",
        "location-out-of-range",
        "location-text",
        "properties-list",
        "properties-too-large",
    ],
)
def test_bad_registrations_are_refused_naming_the_field(
    shared: World, fields: dict[str, Any], parameter: str
) -> None:
    count = device_count(shared)
    with pytest.raises(BadRequest) as refused:
        register(shared, **fields)
    assert refused.value.extra["parameter"] == parameter
    assert device_count(shared) == count


# Listing and seeing


@pytest.mark.parametrize("kind", ["member", "readonly", "editor", "admin", "siteadmin"])
def test_members_list_their_organisations_devices_by_name(shared: World, kind: str) -> None:
    made, _ = register(shared, name=fresh("aaa"))
    listed = devices.list_devices(shared.site, actor(shared, kind), "city")
    assert all(type(item) is DeviceSummary for item in listed)
    names = [item.name for item in listed]
    assert names == sorted(names)
    [found] = [item for item in listed if item.uid == made.uid]
    assert found.location == LOCATION and found.topic == made.topic
    assert not hasattr(found, "keys")
    assert {item.organisation for item in listed} == {"city"}


@pytest.mark.parametrize(("kind", "error"), [("outsider", Forbidden), ("anonymous", Unauthorized)])
def test_others_may_not_list_an_organisations_devices(
    shared: World, kind: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        devices.list_devices(shared.site, actor(shared, kind), "city")


def test_listing_the_devices_of_no_organisation_is_not_found(shared: World) -> None:
    with pytest.raises(NotFound):
        devices.list_devices(shared.site, actor(shared, "siteadmin"), fresh("nowhere"))


@pytest.mark.parametrize("kind", ["member", "readonly", "editor", "siteadmin"])
def test_members_see_a_device_with_its_keys_and_streams(shared: World, kind: str) -> None:
    assert shared.station is not None
    seen = devices.get_device(shared.site, actor(shared, kind), shared.station.uid)
    assert type(seen) is Device and seen.uid == shared.station.uid
    assert len(seen.keys) == 1 and seen.keys[0].revoked_at is None
    assert sorted(stream.name for stream in seen.streams) == [
        "no2-open",
        "no2-private",
        "no2-shared",
    ]
    assert {stream.id for stream in seen.streams} == set(shared.streams.values())


@pytest.mark.parametrize("kind", STRANGERS)
def test_a_device_does_not_exist_for_anyone_outside_its_organisation(
    shared: World, kind: str
) -> None:
    assert shared.station is not None
    with pytest.raises(NotFound):
        devices.get_device(shared.site, actor(shared, kind), shared.station.uid)


def test_an_unknown_device_is_not_found(shared: World) -> None:
    with pytest.raises(NotFound):
        devices.get_device(shared.site, actor(shared, "siteadmin"), "dev-" + "0" * 20)


# Changing


def test_editors_rename_move_and_describe_a_device(shared: World) -> None:
    made, _ = register(shared)
    name = fresh("renamed")
    where = {"type": "Point", "coordinates": [-1.5, 53.79]}
    changed = devices.update_device(
        shared.site,
        actor(shared, "editor"),
        made.uid,
        {"name": name, "location": where, "properties": {"mast": "B"}},
    )
    assert type(changed) is Device
    assert (changed.name, changed.location, changed.properties) == (name, where, {"mast": "B"})
    again = devices.get_device(shared.site, actor(shared, "member"), made.uid)
    assert (again.name, again.location, again.properties) == (name, where, {"mast": "B"})
    assert again.keys == made.keys


def test_a_change_of_one_field_keeps_the_others(shared: World) -> None:
    made, _ = register(shared, properties={"a": 1})
    changed = devices.update_device(
        shared.site, actor(shared, "editor"), made.uid, {"location": None}
    )
    assert changed.location is None and changed.name == made.name
    assert changed.properties == {"a": 1}


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        ({"location": {"type": "Point", "coordinates": [10, 95]}}, "location"),
        ({"location": [1, 2]}, "location"),
        ({"properties": "mast B"}, "properties"),
        ({"name": "new\x00name"}, "device"),
        ({"name": fresh("fine"), "properties": [1]}, "properties"),
    ],
    ids=["location-out-of-range", "location-list", "properties-text", "nul-name", "mixed"],
)
def test_a_bad_change_is_refused_and_changes_nothing(
    shared: World, changes: dict[str, Any], parameter: str
) -> None:
    made, _ = register(shared)
    before = device_state(shared, made.uid)
    with pytest.raises(BadRequest) as refused:
        devices.update_device(shared.site, actor(shared, "editor"), made.uid, changes)
    assert refused.value.extra["parameter"] == parameter
    assert device_state(shared, made.uid) == before


def test_renaming_to_a_taken_name_is_a_conflict(shared: World) -> None:
    first, _ = register(shared)
    second, _ = register(shared)
    before = device_state(shared, second.uid)
    with pytest.raises(Conflict):
        devices.update_device(
            shared.site, actor(shared, "editor"), second.uid, {"name": first.name}
        )
    assert device_state(shared, second.uid) == before


MANAGING = {
    "update": lambda site, who, uid: devices.update_device(site, who, uid, {"properties": {}}),
    "add_key": lambda site, who, uid: devices.add_key(site, who, uid, public_key()),
    "revoke_key": lambda site, who, uid: devices.revoke_key(site, who, uid, "0" * 16),
    "revoke_device": devices.revoke_device,
    "mqtt_password": devices.reset_mqtt_password,
}


@pytest.mark.parametrize("action", sorted(MANAGING))
def test_only_editors_manage_a_device_and_strangers_find_none(shared: World, action: str) -> None:
    made, _ = register(shared)
    before = device_state(shared, made.uid)
    for kind in VIEWERS_ONLY:
        with pytest.raises(Forbidden):
            MANAGING[action](shared.site, actor(shared, kind), made.uid)
    for kind in STRANGERS:
        with pytest.raises(NotFound):
            MANAGING[action](shared.site, actor(shared, kind), made.uid)
    assert device_state(shared, made.uid) == before


# Keys


def test_a_new_key_leaves_the_old_ones_valid_until_the_time_given(shared: World) -> None:
    made, _ = register(shared)
    until = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    new = public_key()
    rotated = devices.add_key(
        shared.site, actor(shared, "editor"), made.uid, new, old_keys_valid_until=until
    )
    old, added = rotated.keys
    assert old.key_id == made.keys[0].key_id and old.valid_until == iso(until)
    assert added.public_key == new and added.valid_until is None and added.revoked_at is None


def test_a_new_key_without_a_time_ends_the_old_ones_now(shared: World) -> None:
    made, _ = register(shared)
    start = iso(utcnow().replace(microsecond=0))
    rotated = devices.add_key(shared.site, actor(shared, "editor"), made.uid, public_key())
    end = iso(utcnow())
    old, added = rotated.keys
    assert start is not None and end is not None and old.valid_until is not None
    assert start <= old.valid_until <= end
    assert added.valid_until is None


def test_an_earlier_end_is_kept_when_a_later_rotation_asks_for_a_later_one(shared: World) -> None:
    made, _ = register(shared)
    editor = actor(shared, "editor")
    soon = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    later = soon + timedelta(days=5)
    devices.add_key(shared.site, editor, made.uid, public_key(), old_keys_valid_until=soon)
    first, second, third = devices.add_key(
        shared.site, editor, made.uid, public_key(), old_keys_valid_until=later
    ).keys
    assert first.valid_until == iso(soon)
    assert second.valid_until == iso(later) and third.valid_until is None


@pytest.mark.parametrize(
    ("key", "until", "error"),
    [
        (None, utcnow() - timedelta(days=1), BadRequest),
        ("the device's own", None, Conflict),
        ("not a key", None, BadRequest),
    ],
    ids=["past-end", "same-key", "malformed-key"],
)
def test_a_bad_rotation_is_refused_and_changes_nothing(
    shared: World, key: str | None, until: Any, error: type[Exception]
) -> None:
    made, _ = register(shared)
    offered = made.keys[0].public_key if key == "the device's own" else key or public_key()
    before = device_state(shared, made.uid)
    with pytest.raises(error):
        devices.add_key(
            shared.site, actor(shared, "editor"), made.uid, offered, old_keys_valid_until=until
        )
    assert device_state(shared, made.uid) == before


def test_a_revoked_key_shows_when_and_cannot_be_revoked_again(shared: World) -> None:
    made, _ = register(shared)
    editor = actor(shared, "editor")
    devices.add_key(shared.site, editor, made.uid, public_key())
    old_id = made.keys[0].key_id
    revoked = devices.revoke_key(shared.site, editor, made.uid, old_id)
    old, new = revoked.keys
    assert old.key_id == old_id and old.revoked_at is not None
    assert new.revoked_at is None
    before = device_state(shared, made.uid)
    with pytest.raises(NotFound):
        devices.revoke_key(shared.site, editor, made.uid, old_id)
    with pytest.raises(NotFound):
        devices.revoke_key(shared.site, editor, made.uid, "f" * 16)
    assert device_state(shared, made.uid) == before


# Revoking a device, and its MQTT password


def test_a_revoked_device_stays_revoked_and_takes_no_new_keys_or_passwords(
    shared: World,
) -> None:
    made, _ = register(shared)
    editor = actor(shared, "editor")
    revoked = devices.revoke_device(shared.site, editor, made.uid)
    assert revoked.revoked_at is not None and type(revoked) is Device
    again = devices.revoke_device(shared.site, editor, made.uid)
    assert again.revoked_at == revoked.revoked_at
    before = device_state(shared, made.uid)
    with pytest.raises(Conflict):
        devices.add_key(shared.site, editor, made.uid, public_key())
    with pytest.raises(Conflict):
        devices.reset_mqtt_password(shared.site, editor, made.uid)
    assert device_state(shared, made.uid) == before
    listed = devices.list_devices(shared.site, editor, "city")
    assert [item.revoked_at for item in listed if item.uid == made.uid] == [revoked.revoked_at]


def test_a_new_mqtt_password_replaces_the_old_one(shared: World) -> None:
    made, _ = register(shared)
    before = audit_seq(shared)
    renewed = devices.reset_mqtt_password(shared.site, actor(shared, "editor"), made.uid)
    assert type(renewed) is MqttPassword and renewed.uid == made.uid
    assert renewed.mqtt_password != made.mqtt_password and len(renewed.mqtt_password) >= 32
    stored = password_hash(shared, made.uid)
    assert matches(stored, renewed.mqtt_password) and not matches(stored, made.mqtt_password)
    [entry] = audit_entries(shared.site, before)
    assert entry["action"] == "device.mqtt-password"
    assert renewed.mqtt_password not in str(entry)
