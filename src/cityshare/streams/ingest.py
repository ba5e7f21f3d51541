"""Signed ingestion: verify a device's batch, then store it durably, all or nothing.

The order of checks matters: who the device is and whether the bytes carry its
signature come first, so nothing an unauthenticated sender wrote is parsed. Then the
envelope (freshness, nonce), then every reading. :func:`prepare` does all of that
without writing; :func:`commit` stores many prepared batches in ONE transaction (each
batch behind a savepoint) so that concurrent requests share one durable commit.

A batch sent again with the same nonce and the same bytes (a device retrying after a
lost response) gets the original acknowledgement and stores nothing twice; the same
nonce with other bytes is a replay and is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from cityshare.access import StreamResource, device_actor, ensure_allowed
from cityshare.catalogue.rows import inserted_id
from cityshare.site import Site, utcnow
from cityshare.storage.schema import datastreams, device_keys, devices, ingest_batches, observations
from cityshare.streams import keys
from cityshare.streams.readings import StreamTarget, parse_envelope, parse_readings
from cityshare.streams.refusals import IngestRefused, record_refusals
from cityshare.streams.timefmt import MICROS, format_micros, now_micros

__all__ = [
    "Acknowledgement",
    "IngestRefused",
    "PreparedBatch",
    "commit",
    "ingest",
    "prepare",
    "record_refusals",
]


@dataclass(frozen=True)
class PreparedBatch:
    """A verified, parsed batch, ready to store."""

    device_id: int
    device_uid: str
    key_id: int
    nonce: str
    body_sha256: str
    sent_at: int
    rows: list[tuple[int, int, float | None, str | None]]


@dataclass(frozen=True)
class Acknowledgement:
    """What a device is told once its readings are durably stored."""

    batch_id: int
    device: str
    nonce: str
    accepted: int
    received_at: str
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The acknowledgement body; identical when a retried batch is acknowledged again."""
        return {
            "batch": self.batch_id,
            "device": self.device,
            "nonce": self.nonce,
            "accepted": self.accepted,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class _Device:
    id: int
    uid: str
    live_keys: list[tuple[int, Any]]
    dead_keys: list[Any]
    streams: dict[str, StreamTarget]


def ingest(
    site: Site, device_uid: str, body: bytes, signature: str, *, channel: str = "http"
) -> Acknowledgement:
    """Verify and store one batch; refusals are counted and raised."""
    try:
        outcome = commit(site, [prepare(site, device_uid, body, signature)], channel=channel)[0]
    except IngestRefused as refused:
        record_refusals(site, [(_counted_as(site, device_uid, refused), refused.reason)])
        raise
    if isinstance(outcome, IngestRefused):
        record_refusals(site, [(device_uid, outcome.reason)])
        raise outcome
    return outcome


def prepare(site: Site, device_uid: str, body: bytes, signature: str) -> PreparedBatch:
    """Check who sent ``body``, that it is fresh and that every reading fits its stream."""
    with site.engine.connect() as connection:
        device = _load_device(connection, device_uid)
    key_id = _verified_key(device, body, signature)
    limits = site.settings.limits
    now = now_micros()
    envelope = parse_envelope(
        body,
        now=now,
        skew_seconds=limits.ingest_clock_skew_seconds,
        max_readings=limits.max_readings_per_batch,
    )
    rows = parse_readings(
        envelope.readings,
        device.streams,
        latest_time=now + limits.ingest_clock_skew_seconds * MICROS,
    )
    actor = device_actor(device.id)
    for stream_id in {row[0] for row in rows}:
        ensure_allowed(actor, "stream.ingest", StreamResource(stream_id, device.id))
    return PreparedBatch(
        device_id=device.id,
        device_uid=device.uid,
        key_id=key_id,
        nonce=envelope.nonce,
        body_sha256=hashlib.sha256(body).hexdigest(),
        sent_at=envelope.sent_at,
        rows=rows,
    )


def commit(
    site: Site, batches: Sequence[PreparedBatch], *, channel: str
) -> list[Acknowledgement | IngestRefused]:
    """Store batches in one durable transaction; one outcome per batch, in order."""
    outcomes: list[Acknowledgement | IngestRefused] = []
    with site.writer.begin() as connection:
        received_at = now_micros()
        for batch in batches:
            outcomes.append(_store(connection, batch, received_at, channel))
    return outcomes


def _store(
    connection: Connection, batch: PreparedBatch, received_at: int, channel: str
) -> Acknowledgement | IngestRefused:
    try:
        with connection.begin_nested():
            batch_id = _insert_batch(connection, batch, received_at, channel)
            _insert_rows(connection, batch, batch_id, received_at)
    except IntegrityError:
        return _earlier_outcome(connection, batch)
    return Acknowledgement(
        batch_id=batch_id,
        device=batch.device_uid,
        nonce=batch.nonce,
        accepted=len(batch.rows),
        received_at=format_micros(received_at),
    )


def _insert_batch(
    connection: Connection, batch: PreparedBatch, received_at: int, channel: str
) -> int:
    result = connection.execute(
        ingest_batches.insert().values(
            device_id=batch.device_id,
            key_id=batch.key_id,
            nonce=batch.nonce,
            body_sha256=batch.body_sha256,
            sent_at=batch.sent_at,
            received_at=received_at,
            readings=len(batch.rows),
            channel=channel,
        )
    )
    return inserted_id(result)


def _insert_rows(
    connection: Connection, batch: PreparedBatch, batch_id: int, received_at: int
) -> None:
    provenance = {
        "received_at": received_at,
        "device_id": batch.device_id,
        "key_id": batch.key_id,
        "batch_id": batch_id,
        "verified": True,
    }
    connection.execute(
        observations.insert(),
        [
            {"stream_id": s, "time": t, "value_num": n, "value_text": x, **provenance}
            for s, t, n, x in batch.rows
        ],
    )


def _earlier_outcome(
    connection: Connection, batch: PreparedBatch
) -> Acknowledgement | IngestRefused:
    earlier = connection.execute(
        select(ingest_batches).where(
            ingest_batches.c.device_id == batch.device_id,
            ingest_batches.c.nonce == batch.nonce,
        )
    ).first()
    if earlier is None:
        return IngestRefused(
            "duplicate-reading",
            "A reading in this batch has the same stream and time as one already stored.",
        )
    if earlier.body_sha256 != batch.body_sha256:
        return IngestRefused(
            "replay",
            "This nonce was already used for a different batch; every batch needs a new nonce.",
        )
    return Acknowledgement(
        batch_id=earlier.id,
        device=batch.device_uid,
        nonce=batch.nonce,
        accepted=earlier.readings,
        received_at=format_micros(earlier.received_at),
        duplicate=True,
    )


def _load_device(connection: Connection, uid: str) -> _Device:
    device = connection.execute(
        select(devices.c.id, devices.c.uid, devices.c.revoked_at).where(devices.c.uid == uid)
    ).first()
    if device is None:
        raise IngestRefused("unknown-device", "No such device; check the X-Device-Id header.")
    if device.revoked_at is not None:
        raise IngestRefused("revoked-device", "This device is revoked.")
    now = utcnow()
    live: list[tuple[int, Any]] = []
    dead: list[Any] = []
    for row in connection.execute(select(device_keys).where(device_keys.c.device_id == device.id)):
        public = keys.load_public_key(row.public_key)
        expired = row.valid_until is not None and row.valid_until <= now
        if row.revoked_at is None and not expired:
            live.append((row.id, public))
        else:
            dead.append(public)
    streams = {
        row.name: StreamTarget(id=row.id, value_type=row.value_type)
        for row in connection.execute(
            select(datastreams.c.id, datastreams.c.name, datastreams.c.value_type).where(
                datastreams.c.device_id == device.id
            )
        )
    }
    return _Device(id=device.id, uid=device.uid, live_keys=live, dead_keys=dead, streams=streams)


def _verified_key(device: _Device, body: bytes, signature: str) -> int:
    raw = keys.decode_signature(signature)
    if raw is None:
        raise IngestRefused(
            "bad-signature", "X-Signature must be the base64 of a 64-byte Ed25519 signature."
        )
    for key_id, public in device.live_keys:
        if keys.verifies(public, raw, body):
            return key_id
    if any(keys.verifies(public, raw, body) for public in device.dead_keys):
        raise IngestRefused("revoked-key", "The batch is signed with a revoked or expired key.")
    raise IngestRefused(
        "bad-signature",
        "The signature does not match the body; sign the exact bytes you send.",
    )


def _counted_as(site: Site, device_uid: str, refused: IngestRefused) -> str | None:
    return None if refused.reason == "unknown-device" else device_uid
