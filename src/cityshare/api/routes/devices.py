"""Routes for devices: registration, keys, revocation (an organisation's own business)."""

from __future__ import annotations

from fastapi import APIRouter

from cityshare.api.models import DeviceCreate, DeviceUpdate, KeyAdd
from cityshare.clock import naive_utc
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.streams import devices as service
from cityshare.streams.models import Device, DeviceSummary, MqttPassword, RegisteredDevice

router = APIRouter(tags=["devices"])


@router.get("/organisations/{name}/devices", response_model=list[DeviceSummary])
def list_devices(name: str, site: SiteDep, actor: ActorDep) -> list[DeviceSummary]:
    """The organisation's devices (its members)."""
    return service.list_devices(site, actor, name)


@router.post("/organisations/{name}/devices", status_code=201, response_model=RegisteredDevice)
def register_device(
    name: str, body: DeviceCreate, site: SiteDep, actor: ActorDep
) -> RegisteredDevice:
    """Register a device with its Ed25519 public key (editors); its MQTT password is shown once."""
    return service.register_device(
        site,
        actor,
        organisation=name,
        name=body.name,
        public_key=body.public_key,
        location=body.location,
        properties=body.properties,
    )


@router.get("/devices/{uid}", response_model=Device)
def get_device(uid: str, site: SiteDep, actor: ActorDep) -> Device:
    """A device with its keys, streams and refusal counts."""
    return service.get_device(site, actor, uid)


@router.patch("/devices/{uid}", response_model=Device)
def update_device(uid: str, body: DeviceUpdate, site: SiteDep, actor: ActorDep) -> Device:
    """Rename a device or change its location or properties (editors)."""
    return service.update_device(site, actor, uid, body.changes())


@router.post("/devices/{uid}/keys", status_code=201, response_model=Device)
def add_key(uid: str, body: KeyAdd, site: SiteDep, actor: ActorDep) -> Device:
    """Rotate keys: add a new one; the old ones stay valid until ``old_keys_valid_until``."""
    until = naive_utc(body.old_keys_valid_until) if body.old_keys_valid_until else None
    return service.add_key(site, actor, uid, body.public_key, old_keys_valid_until=until)


@router.delete("/devices/{uid}/keys/{key_id}", response_model=Device)
def revoke_key(uid: str, key_id: str, site: SiteDep, actor: ActorDep) -> Device:
    """Revoke one of the device's keys at once (editors)."""
    return service.revoke_key(site, actor, uid, key_id)


@router.post("/devices/{uid}/revoke", response_model=Device)
def revoke_device(uid: str, site: SiteDep, actor: ActorDep) -> Device:
    """Revoke the device: nothing it sends is accepted any more; its history stays."""
    return service.revoke_device(site, actor, uid)


@router.post("/devices/{uid}/mqtt-password", response_model=MqttPassword)
def reset_mqtt_password(uid: str, site: SiteDep, actor: ActorDep) -> MqttPassword:
    """Give the device a new MQTT password, shown once (editors)."""
    return service.reset_mqtt_password(site, actor, uid)
