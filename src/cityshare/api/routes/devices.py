"""Routes for devices: registration, keys, revocation (an organisation's own business)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cityshare.api.models import DeviceCreate, DeviceUpdate, KeyAdd
from cityshare.clock import naive_utc
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.streams import devices as service

router = APIRouter(tags=["devices"])


@router.get("/organisations/{name}/devices")
def list_devices(name: str, site: SiteDep, actor: ActorDep) -> list[dict[str, Any]]:
    """The organisation's devices (its members)."""
    return service.list_devices(site, actor, name)


@router.post("/organisations/{name}/devices", status_code=201)
def register_device(
    name: str, body: DeviceCreate, site: SiteDep, actor: ActorDep
) -> dict[str, Any]:
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


@router.get("/devices/{uid}")
def get_device(uid: str, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """A device with its keys, streams and refusal counts."""
    return service.get_device(site, actor, uid)


@router.patch("/devices/{uid}")
def update_device(uid: str, body: DeviceUpdate, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Rename a device or change its location or properties (editors)."""
    return service.update_device(site, actor, uid, body.changes())


@router.post("/devices/{uid}/keys", status_code=201)
def add_key(uid: str, body: KeyAdd, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Rotate keys: add a new one; the old ones stay valid until ``old_keys_valid_until``."""
    until = naive_utc(body.old_keys_valid_until) if body.old_keys_valid_until else None
    return service.add_key(site, actor, uid, body.public_key, old_keys_valid_until=until)


@router.delete("/devices/{uid}/keys/{key_id}")
def revoke_key(uid: str, key_id: str, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Revoke one of the device's keys at once (editors)."""
    return service.revoke_key(site, actor, uid, key_id)


@router.post("/devices/{uid}/revoke")
def revoke_device(uid: str, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Revoke the device: nothing it sends is accepted any more; its history stays."""
    return service.revoke_device(site, actor, uid)


@router.post("/devices/{uid}/mqtt-password")
def reset_mqtt_password(uid: str, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Give the device a new MQTT password, shown once (editors)."""
    return service.reset_mqtt_password(site, actor, uid)
