"""Helpers of the streams services' unit tests: the actors of the test world, devices and
sensor datasets with fresh names, signed batches, and what the store holds."""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from cityshare import keys
from cityshare.access import ANONYMOUS, Actor
from cityshare.accounts.tokens import authenticate_token
from cityshare.storage.schema import audit_head, device_keys, devices, observations
from cityshare.streams.client import Reading
from cityshare.streams.devices import register_device
from cityshare.streams.ingest import Acknowledgement, ingest
from cityshare.streams.models import RegisteredDevice
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import World

LOCATION = {"type": "Point", "coordinates": [-1.55, 53.8]}


def actor(world: World, kind: str) -> Actor:
    """The Actor of an actor kind of the test world, as its token authenticates it:
    "anonymous", "outsider" (an admin of ``partner``), "member", "editor", "admin" (of
    ``city``), "readonly" (city's admin with a read-only token) or "siteadmin"."""
    if kind == "anonymous":
        return ANONYMOUS
    return authenticate_token(world.site, world.tokens[kind])


def fresh(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


def public_key() -> str:
    """A new Ed25519 public key as base64 of its raw bytes."""
    return keys.public_key_text(keys.generate_private_key())


def register(
    world: World, kind: str = "editor", *, organisation: str = "city", **fields: Any
) -> tuple[RegisteredDevice, Ed25519PrivateKey]:
    """A device registered by ``kind`` (a fresh name unless ``fields`` give one), with its
    private key."""
    key = keys.generate_private_key()
    values: dict[str, Any] = {
        "name": fresh("dev"),
        "public_key": keys.public_key_text(key),
        "location": LOCATION,
        **fields,
    }
    return register_device(world.site, actor(world, kind), organisation=organisation, **values), key


def sensor_dataset(world: World, visibility: str = "open", organisation: str = "city") -> str:
    """A new sensor dataset of ``organisation``."""
    return add_sensor_dataset(
        world.site, fresh("air"), organisation=organisation, visibility=visibility
    )


def station(
    world: World, streams: dict[str, tuple[str, str]], visibility: str = "open"
) -> tuple[Device, str]:
    """A device of ``city`` feeding ``streams`` (name → (property, value type)) in a new
    sensor dataset, and that dataset's name."""
    dataset = sensor_dataset(world, visibility)
    return add_device(world.site, fresh("station"), dataset=dataset, streams=streams), dataset


def send(world: World, device: Device, readings: list[Reading], **options: Any) -> Acknowledgement:
    """Sign ``readings`` with the device's key and hand them to the ingestion service."""
    body, headers = device.signed(readings, **options)
    return ingest(world.runtime.ingestion, device.uid, body, headers["X-Signature"])


def stored(world: World, stream_id: int | None = None) -> int:
    """How many readings the store holds (of one stream, when given)."""
    statement = select(func.count()).select_from(observations)
    if stream_id is not None:
        statement = statement.where(observations.c.stream_id == stream_id)
    with world.site.engine.connect() as connection:
        return int(connection.execute(statement).scalar_one())


def device_state(world: World, uid: str) -> tuple[Any, ...]:
    """A device's stored row, its keys and the audit head: unchanged by a refused call."""
    with world.site.engine.connect() as connection:
        row = connection.execute(select(devices).where(devices.c.uid == uid)).one()
        key_rows = connection.execute(
            select(device_keys).where(device_keys.c.device_id == row.id).order_by(device_keys.c.id)
        ).all()
        head = connection.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    return tuple(row), [tuple(key) for key in key_rows], tuple(head)


def device_count(world: World) -> int:
    """How many devices the store holds."""
    with world.site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(devices)).scalar_one())


def password_hash(world: World, uid: str) -> str:
    """The stored MQTT password hash of a device."""
    with world.site.engine.connect() as connection:
        found = connection.execute(
            select(devices.c.mqtt_password_hash).where(devices.c.uid == uid)
        ).scalar_one()
    return str(found)


def audit_seq(world: World) -> int:
    """The sequence number of the newest audit entry."""
    with world.site.engine.connect() as connection:
        return int(connection.execute(select(audit_head.c.seq)).scalar_one())
