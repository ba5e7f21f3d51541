"""Sensor fixtures shared by tests: a sensor dataset, devices with keys, and streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityshare import keys
from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from cityshare.site import Site
from cityshare.streams import datastreams, devices
from cityshare.streams.client import Reading, batch_body, http_headers


@dataclass
class Device:
    """A registered device and its private key (which only the device would hold)."""

    uid: str
    key: Ed25519PrivateKey
    mqtt_password: str
    streams: dict[str, int] = field(default_factory=dict)

    def signed(self, readings: list[Reading], **options: Any) -> tuple[bytes, dict[str, str]]:
        """A batch body and the headers that send it."""
        body = batch_body(readings, **options)
        return body, http_headers(self.uid, self.key, body)


def add_sensor_dataset(
    site: Site, name: str, *, organisation: str = "city", visibility: str = "open"
) -> str:
    """A dataset of kind sensor, created by the site admin."""
    admin = console_actor(site, "admin")
    datasets.create_dataset(
        site,
        admin,
        organisation=organisation,
        name=name,
        title=name,
        visibility=visibility,
        kind="sensor",
    )
    return name


def add_device(
    site: Site,
    name: str,
    *,
    organisation: str = "city",
    streams: dict[str, tuple[str, str]] | None = None,
    dataset: str | None = None,
) -> Device:
    """Register a device; add ``streams`` (name → (property, value type)) to ``dataset``."""
    admin = console_actor(site, "admin")
    key = keys.generate_private_key()
    registered = devices.register_device(
        site,
        admin,
        organisation=organisation,
        name=name,
        public_key=keys.public_key_text(key),
        location={"type": "Point", "coordinates": [-1.55, 53.8]},
    )
    device = Device(uid=registered.uid, key=key, mqtt_password=registered.mqtt_password)
    for stream, (prop, value_type) in (streams or {}).items():
        assert dataset is not None
        created = datastreams.create_stream(
            site,
            admin,
            dataset,
            device=device.uid,
            name=stream,
            observed_property=prop,
            unit="µg/m³" if value_type == "number" else "",
            value_type=value_type,
        )
        device.streams[stream] = created.id
    return device
