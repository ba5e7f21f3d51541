"""The demo's live fleet: 50 signed sensors across Northbridge reporting every few seconds.

Twenty air-quality stations (NO2 and PM2.5), twenty traffic counters (vehicles per
interval) and ten car parks (free spaces and whether the barrier is open) are
registered like real devices, each with its own Ed25519 key kept in the data folder.
:func:`ensure_fleet` registers them and backfills the last hour; :class:`FleetSimulator`
then signs and posts fresh readings to the running server over HTTP, exactly as devices
in the field would: HTTP's answer is the acknowledgement (sent once the readings are
committed), and a batch without one (the server away, or a 5xx) is kept and sent again
unchanged in the next rounds.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityshare import keys
from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from cityshare.demo.samples import BBOX, CENTRE
from cityshare.errors import NotFound
from cityshare.site import Site
from cityshare.streams import datastreams, devices
from cityshare.streams.client import Reading, batch_body, http_headers
from cityshare.streams.ingest import Ingestion, commit, prepare

log = logging.getLogger(__name__)

FLEET_FILE = "demo-fleet.json"
INTERVAL_SECONDS = 5
# Unanswered batches a device keeps: five minutes of rounds, the freshness window.
MAX_KEPT = 60
BACKFILL = timedelta(hours=1)


@dataclass(frozen=True)
class Kind:
    """One kind of sensor in the fleet."""

    dataset: str
    organisation: str
    title: str
    description: str
    prefix: str
    count: int
    streams: tuple[tuple[str, str, str, str], ...]  # (name, property, unit, value type)


KINDS = (
    Kind(
        "air-quality-live",
        "northbridge-environment",
        "Live air quality",
        "NO2 and PM2.5 from 20 signed monitoring stations, every few seconds.",
        "aq",
        20,
        (("no2", "no2", "µg/m³", "number"), ("pm25", "pm2.5", "µg/m³", "number")),
    ),
    Kind(
        "traffic-live",
        "northbridge-transport",
        "Live traffic counts",
        "Vehicles counted per interval by 20 signed roadside counters.",
        "tc",
        20,
        (("vehicles", "vehicle_count", "vehicles/interval", "number"),),
    ),
    Kind(
        "parking-live",
        "northbridge-council",
        "Live car park occupancy",
        "Free spaces and barrier state of 10 council car parks.",
        "cp",
        10,
        (("free", "free_spaces", "spaces", "number"), ("open", "barrier_open", "", "boolean")),
    ),
)


@dataclass(frozen=True)
class FleetDevice:
    """A simulated device: its uid, key, kind and where it is."""

    uid: str
    key: Ed25519PrivateKey
    kind: Kind
    index: int
    location: tuple[float, float]


def ensure_fleet(site: Site, admin: str) -> list[FleetDevice]:
    """Register the fleet (once; keys kept in the data folder) and backfill the last hour."""
    path = site.settings.data_dir / FLEET_FILE
    if path.exists():
        return _load(path)
    actor = console_actor(site, admin)
    fleet: list[FleetDevice] = []
    rng = random.Random(7)  # a fixed layout of sensors
    for kind in KINDS:
        _ensure_dataset(site, actor, kind)
        for index in range(kind.count):
            fleet.append(_register(site, actor, kind, index, rng))
    _save(path, fleet)
    _backfill(site, fleet)
    return fleet


def readings_at(device: FleetDevice, moment: datetime) -> list[Reading]:
    """Plausible values for a device at ``moment``: daily rhythm plus noise."""
    hour = moment.hour + moment.minute / 60
    rush = math.exp(-((hour - 8.5) ** 2) / 2) + math.exp(-((hour - 17.5) ** 2) / 2)
    rng = random.Random(f"{device.uid}{moment.timestamp()}")
    if device.kind.prefix == "aq":
        no2 = 18 + 30 * rush + rng.gauss(0, 3) + device.index % 5
        return [
            ("no2", moment, round(max(no2, 1), 1)),
            ("pm25", moment, round(max(6 + 8 * rush + rng.gauss(0, 1.5), 0.5), 1)),
        ]
    if device.kind.prefix == "tc":
        return [("vehicles", moment, max(0, int(20 + 90 * rush + rng.gauss(0, 8))))]
    capacity = 120 + 40 * device.index
    free = int(capacity * (1 - 0.8 * min(1.0, rush + 0.3)) + rng.gauss(0, 4))
    return [("free", moment, max(0, min(capacity, free))), ("open", moment, 6 <= hour < 23)]


class FleetSimulator:
    """Posts every device's signed readings to the server every few seconds, in a thread."""

    def __init__(self, fleet: list[FleetDevice], base_url: str) -> None:
        self._fleet = fleet
        self._url = f"{base_url.rstrip('/')}/api/v1/ingest"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-fleet", daemon=True)
        self._unanswered: dict[str, list[bytes]] = {}
        self.sent = 0

    def start(self) -> None:
        """Start sending in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                self.send_round(client, datetime.now(UTC).replace(microsecond=0))
                self._stop.wait(INTERVAL_SECONDS)

    def send_round(self, client: httpx.Client, moment: datetime) -> None:
        """Every device sends what is still unanswered (unchanged), then its new batch."""
        for device in self._fleet:
            kept = self._unanswered.setdefault(device.uid, [])
            kept.append(batch_body(readings_at(device, moment)))
            del kept[:-MAX_KEPT]
            kept[:] = [body for body in kept if not self._send(client, device, body)]

    def pending(self) -> int:
        """Batches sent but not yet answered for good."""
        return sum(len(kept) for kept in self._unanswered.values())

    def _send(self, client: httpx.Client, device: FleetDevice, body: bytes) -> bool:
        """Post one batch; True once the server answered for good (stored, or refused)."""
        try:
            response = client.post(
                self._url, content=body, headers=http_headers(device.uid, device.key, body)
            )
        except httpx.HTTPError:
            return False  # the server is starting or stopping: sent again next round
        if response.status_code < 300:
            self.sent += 1
            return True
        if response.status_code >= 500:  # not stored (the store away): sent again
            return False
        log.warning("demo device %s refused: %s", device.uid, response.text[:200])
        return True


def _ensure_dataset(site: Site, actor: Any, kind: Kind) -> None:
    try:
        datasets.get_dataset(site, actor, kind.dataset)
    except NotFound:
        datasets.create_dataset(
            site,
            actor,
            organisation=kind.organisation,
            name=kind.dataset,
            title=kind.title,
            description=kind.description,
            tags=["sensors", "live", kind.dataset.split("-")[0]],
            licence="CC-BY-4.0",
            visibility="open",
            update_frequency="continuous",
            kind="sensor",
        )


def _register(site: Site, actor: Any, kind: Kind, index: int, rng: random.Random) -> FleetDevice:
    key = keys.generate_private_key()
    lon = round(min(max(rng.gauss(CENTRE[0], 0.035), BBOX[0]), BBOX[2]), 6)
    lat = round(min(max(rng.gauss(CENTRE[1], 0.02), BBOX[1]), BBOX[3]), 6)
    created = devices.register_device(
        site,
        actor,
        organisation=kind.organisation,
        name=f"{kind.prefix}-{index + 1:02d}",
        public_key=keys.public_key_text(key),
        location={"type": "Point", "coordinates": [lon, lat]},
        properties={"simulated": True},
    )
    for name, observed, unit, value_type in kind.streams:
        datastreams.create_stream(
            site,
            actor,
            kind.dataset,
            device=created.uid,
            name=name,
            observed_property=observed,
            unit=unit,
            value_type=value_type,
        )
    return FleetDevice(created.uid, key, kind, index, (lon, lat))


def _backfill(site: Site, fleet: list[FleetDevice]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    steps = int(BACKFILL.total_seconds()) // (INTERVAL_SECONDS * 6)  # every 30 s of the past hour
    ingestion = Ingestion(site)
    for device in fleet:
        readings: list[Reading] = []
        for step in range(steps, 0, -1):
            readings.extend(
                readings_at(device, now - timedelta(seconds=step * INTERVAL_SECONDS * 6))
            )
        body = batch_body(readings)
        batch = prepare(ingestion, device.uid, body, keys.sign(device.key, body))
        outcome = commit(ingestion, [batch], channel="http")[0]
        if isinstance(outcome, Exception):
            raise outcome


def _save(path: Path, fleet: list[FleetDevice]) -> None:
    document = [
        {
            "uid": device.uid,
            "kind": device.kind.prefix,
            "index": device.index,
            "location": device.location,
            "private_key": keys.private_key_pem(device.key).decode(),
        }
        for device in fleet
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(orjson.dumps(document))


def _load(path: Path) -> list[FleetDevice]:
    kinds = {kind.prefix: kind for kind in KINDS}
    return [
        FleetDevice(
            uid=item["uid"],
            key=keys.load_private_key(item["private_key"].encode()),
            kind=kinds[item["kind"]],
            index=item["index"],
            location=tuple(item["location"]),
        )
        for item in orjson.loads(path.read_bytes())
    ]
