"""Devices: registration, keys (rotation and revocation), revocation, MQTT credentials.

A device belongs to an organisation. Its editors register it with an Ed25519 public
key; the device keeps the private key. Devices are the organisation's own business:
to anyone outside it a device does not exist (404).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from cityshare import keys
from cityshare.access import Actor, OrganisationResource, allowed, ensure_allowed
from cityshare.accounts.organisations import organisation_id
from cityshare.audit.log import audit
from cityshare.catalogue.metadata import check_spatial
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, NotFound
from cityshare.names import check_slug
from cityshare.site import Site
from cityshare.storage.rows import inserted_id, iso
from cityshare.storage.schema import (
    datastreams,
    device_keys,
    devices,
    ingest_refusals,
    organisations,
)
from cityshare.streams.credentials import mosquitto_password_hash, new_password
from cityshare.streams.models import (
    Device,
    DeviceKey,
    DeviceStream,
    DeviceSummary,
    MqttPassword,
    RegisteredDevice,
)

MAX_PROPERTIES_CHARS = 10_000
UID_PREFIX = "dev-"


def register_device(
    site: Site,
    actor: Actor,
    *,
    organisation: str,
    name: str,
    public_key: str,
    location: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
) -> RegisteredDevice:
    """Register a device (editors); the answer holds its MQTT password, shown only now."""
    check_slug(name, "device")
    stored_key = keys.parse_public_key(public_key)
    password = new_password()
    now = utcnow()
    with site.writer.begin() as connection:
        owner = organisation_id(connection, organisation)
        ensure_allowed(actor, "device.manage", OrganisationResource(owner, organisation))
        uid = UID_PREFIX + secrets.token_hex(10)
        row = {
            "uid": uid,
            "organisation_id": owner,
            "name": name,
            "location": _check_location(location),
            "properties": _check_properties(properties),
            "mqtt_password_hash": mosquitto_password_hash(password),
            "created_by": actor.user_id,
            "created_at": now,
        }
        try:
            with connection.begin_nested():
                device_id = inserted_id(connection.execute(devices.insert().values(row)))
        except IntegrityError:
            raise Conflict(f"The organisation already has a device named {name!r}.") from None
        _insert_key(connection, device_id, stored_key, now)
        audit(connection, actor, "device.register", device=uid, organisation=organisation)
        described = _describe(connection, _device_row(connection, uid))
    return RegisteredDevice(**described.model_dump(), mqtt_password=password)


def list_devices(site: Site, actor: Actor, organisation: str) -> list[DeviceSummary]:
    """An organisation's devices (its members)."""
    with site.engine.connect() as connection:
        owner = organisation_id(connection, organisation)
        ensure_allowed(actor, "device.view", OrganisationResource(owner, organisation))
        rows = connection.execute(
            _device_select().where(devices.c.organisation_id == owner).order_by(devices.c.name)
        ).all()
        return [_summary(row) for row in rows]


def get_device(site: Site, actor: Actor, uid: str) -> Device:
    """A device with its keys, streams and refusal counts (members of its organisation)."""
    with site.engine.connect() as connection:
        row = device_row(connection, actor, uid, "device.view")
        return _describe(connection, row)


def update_device(site: Site, actor: Actor, uid: str, changes: dict[str, Any]) -> Device:
    """Rename a device or change its location or properties (editors)."""
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = check_slug(str(changes["name"]), "device")
    if "location" in changes:
        values["location"] = _check_location(changes["location"])
    if "properties" in changes:
        values["properties"] = _check_properties(changes["properties"])
    with site.writer.begin() as connection:
        row = device_row(connection, actor, uid, "device.manage")
        if values:
            try:
                with connection.begin_nested():
                    connection.execute(update(devices).where(devices.c.id == row.id).values(values))
            except IntegrityError:
                taken = values["name"]
                raise Conflict(f"The organisation already has a device named {taken!r}.") from None
            audit(connection, actor, "device.update", device=uid, detail=values)
        return _describe(connection, _device_row(connection, uid))


def add_key(
    site: Site,
    actor: Actor,
    uid: str,
    public_key: str,
    *,
    old_keys_valid_until: datetime | None = None,
) -> Device:
    """Rotate: add a new key; the device's other keys stay valid until the given time (or now)."""
    stored_key = keys.parse_public_key(public_key)
    now = utcnow()
    until = old_keys_valid_until or now
    if until < now:
        raise BadRequest("old_keys_valid_until is in the past.", parameter="old_keys_valid_until")
    with site.writer.begin() as connection:
        row = device_row(connection, actor, uid, "device.manage")
        _refuse_if_revoked(row)
        live = and_(
            device_keys.c.device_id == row.id,
            device_keys.c.revoked_at.is_(None),
            or_(device_keys.c.valid_until.is_(None), device_keys.c.valid_until > until),
        )
        connection.execute(update(device_keys).where(live).values(valid_until=until))
        _insert_key(connection, row.id, stored_key, now)
        audit(
            connection,
            actor,
            "device.key.add",
            device=uid,
            detail={"key_id": keys.key_id(stored_key), "old_keys_valid_until": until.isoformat()},
        )
        return _describe(connection, row)


def revoke_key(site: Site, actor: Actor, uid: str, key_id: str) -> Device:
    """Revoke one key of a device at once (editors)."""
    with site.writer.begin() as connection:
        row = device_row(connection, actor, uid, "device.manage")
        result = connection.execute(
            update(device_keys)
            .where(device_keys.c.device_id == row.id, device_keys.c.key_id == key_id)
            .where(device_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFound(f"Device {uid} has no live key {key_id[:40]!r}.")
        audit(connection, actor, "device.key.revoke", device=uid, detail={"key_id": key_id})
        return _describe(connection, row)


def revoke_device(site: Site, actor: Actor, uid: str) -> Device:
    """Revoke a device: it can no longer send readings; what it sent stays, with provenance."""
    with site.writer.begin() as connection:
        row = device_row(connection, actor, uid, "device.manage")
        if row.revoked_at is None:
            connection.execute(
                update(devices).where(devices.c.id == row.id).values(revoked_at=utcnow())
            )
            audit(connection, actor, "device.revoke", device=uid)
        return _describe(connection, _device_row(connection, uid))


def reset_mqtt_password(site: Site, actor: Actor, uid: str) -> MqttPassword:
    """Give a device a new MQTT password (shown once); the old one stops working."""
    password = new_password()
    with site.writer.begin() as connection:
        row = device_row(connection, actor, uid, "device.manage")
        _refuse_if_revoked(row)
        connection.execute(
            update(devices)
            .where(devices.c.id == row.id)
            .values(mqtt_password_hash=mosquitto_password_hash(password))
        )
        audit(connection, actor, "device.mqtt-password", device=uid)
    return MqttPassword(uid=uid, mqtt_password=password)


def device_row(connection: Connection, actor: Actor, uid: str, action: str) -> Row[Any]:
    """The device ``uid`` after checking ``action``; NotFound unless its organisation's member."""
    row: Row[Any] | None = _device_row(connection, uid)
    resource = (
        OrganisationResource(row.organisation_id, row.organisation) if row is not None else None
    )
    if row is None or resource is None or not allowed(actor, "device.view", resource):
        raise NotFound(f"No device {uid[:60]!r}, or you may not see it.")
    ensure_allowed(actor, action, resource)
    return row


def _device_select() -> Any:
    return select(devices, organisations.c.name.label("organisation")).join(
        organisations, organisations.c.id == devices.c.organisation_id
    )


def _device_row(connection: Connection, uid: str) -> Any:  # a Row, or None
    return connection.execute(_device_select().where(devices.c.uid == uid)).first()


def _insert_key(connection: Connection, device_id: int, stored_key: str, now: datetime) -> None:
    try:
        with connection.begin_nested():
            connection.execute(
                device_keys.insert().values(
                    device_id=device_id,
                    key_id=keys.key_id(stored_key),
                    public_key=stored_key,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Conflict("The device already has this public key; generate a new one.") from None


def _refuse_if_revoked(row: Row[Any]) -> None:
    if row.revoked_at is not None:
        raise Conflict(f"Device {row.uid} is revoked; register a new device instead.")


def _summary(row: Row[Any]) -> DeviceSummary:
    return DeviceSummary.model_validate(_summary_fields(row))


def _summary_fields(row: Row[Any]) -> dict[str, Any]:
    return {
        "uid": row.uid,
        "name": row.name,
        "organisation": row.organisation,
        "location": row.location,
        "properties": row.properties,
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
        "topic": f"cityshare/devices/{row.uid}/readings",
    }


def _describe(connection: Connection, row: Row[Any]) -> Device:
    key_rows = connection.execute(
        select(device_keys).where(device_keys.c.device_id == row.id).order_by(device_keys.c.id)
    ).all()
    stream_rows = connection.execute(
        select(datastreams.c.id, datastreams.c.name, datastreams.c.dataset_id)
        .where(datastreams.c.device_id == row.id)
        .order_by(datastreams.c.name)
    ).all()
    refusals = connection.execute(
        select(ingest_refusals.c.reason, func.sum(ingest_refusals.c.count))
        .where(ingest_refusals.c.device == row.uid)
        .group_by(ingest_refusals.c.reason)
    ).all()
    return Device(
        **_summary_fields(row),
        keys=[_key(key) for key in key_rows],
        streams=[DeviceStream(id=s.id, name=s.name) for s in stream_rows],
        refusals={reason: int(count) for reason, count in refusals},
    )


def _key(row: Row[Any]) -> DeviceKey:
    return DeviceKey.model_validate(
        {
            "key_id": row.key_id,
            "public_key": row.public_key,
            "created_at": iso(row.created_at),
            "valid_until": iso(row.valid_until),
            "revoked_at": iso(row.revoked_at),
        }
    )


def _check_location(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise BadRequest(
            "location must be a GeoJSON Point, as in "
            '{"type": "Point", "coordinates": [-1.55, 53.80]}.',
            parameter="location",
        )
    try:
        return check_spatial(value)
    except BadRequest as error:
        detail = error.detail.replace("spatial", "location")
        raise BadRequest(detail, parameter="location") from None


def _check_properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("properties must be a JSON object.", parameter="properties")
    if len(repr(value)) > MAX_PROPERTIES_CHARS:
        raise BadRequest(
            f"properties is too large (at most {MAX_PROPERTIES_CHARS} characters).",
            parameter="properties",
        )
    return value
