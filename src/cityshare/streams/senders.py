"""Who may send readings: a device, its keys and its streams, as ingestion sees them.

Reading a device from the store takes a pooled connection and two statements, more than
every other check of a small batch together. So each process keeps the devices it has
read (``Ingestion.senders`` in :mod:`cityshare.streams.ingest`, a bounded LRU) and
relies on them only to verify and parse; the transaction that stores a group of batches
then checks, in one statement of one row, that what they relied on still holds
(:func:`refusals_at_commit`): every key still live, every device not revoked, every
stream still there. A revocation is so seen at once, in every process, by the very
transaction that would store the readings, and no batch verified a moment before a
revocation slips past it.

What a kept device can lack the other way (a key added since, a new stream) ends in a
refusal that :func:`cityshare.streams.ingest.prepare` retries once with the device read
afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select

from cityshare import keys
from cityshare.clock import utcnow
from cityshare.site import Site
from cityshare.storage.schema import datastreams, device_keys, devices
from cityshare.streams.readings import StreamTarget
from cityshare.streams.refusals import IngestRefused
from cityshare.streams.statements import MOST_IDS, dbapi_cursor, statements_for


@dataclass(frozen=True)
class Sender:
    """A device that may send readings: its live and dead keys and its streams by name."""

    id: int
    uid: str
    live_keys: list[tuple[int, Any]]
    dead_keys: list[Any]
    streams: dict[str, StreamTarget]

    def verified_key(self, body: bytes, signature: str) -> int:
        """The id of the live key whose signature of ``body`` is ``signature``."""
        raw = keys.decode_signature(signature)
        if raw is None:
            raise IngestRefused(
                "bad-signature", "X-Signature must be the base64 of a 64-byte Ed25519 signature."
            )
        for key_id, public in self.live_keys:
            if keys.verifies(public, raw, body):
                return key_id
        if any(keys.verifies(public, raw, body) for public in self.dead_keys):
            raise revoked_key()
        raise IngestRefused(
            "bad-signature",
            "The signature does not match the body; sign the exact bytes you send.",
        )


def revoked_key() -> IngestRefused:
    """The refusal of a batch signed with a key that is no longer valid."""
    return IngestRefused("revoked-key", "The batch is signed with a revoked or expired key.")


def revoked_device() -> IngestRefused:
    """The refusal of a batch from a revoked device."""
    return IngestRefused("revoked-device", "This device is revoked.")


def gone_stream() -> IngestRefused:
    """The refusal of a batch feeding a stream deleted since it was checked."""
    return IngestRefused(
        "unknown-stream", "A stream this batch feeds no longer exists (its dataset was deleted)."
    )


def load_sender(site: Site, uid: str) -> Sender:
    """The device ``uid`` as the store has it now: two statements."""
    sql = statements_for(site.engine.dialect)
    # begin(): the engine's begin hook resets the pooled connection's state (time limit).
    with site.engine.begin() as connection, dbapi_cursor(connection) as cursor:
        cursor.execute(sql.device_keys, sql.uid_parameters(uid))
        found = cursor.fetchall()
        if not found:
            raise IngestRefused("unknown-device", "No such device; check the X-Device-Id header.")
        device_id, device_revoked_at = found[0][0], found[0][1]
        if device_revoked_at is not None:
            raise revoked_device()
        cursor.execute(sql.streams, sql.device_parameters(device_id))
        streams = {
            name: StreamTarget(id=stream_id, value_type=value_type)
            for stream_id, name, value_type in cursor.fetchall()
        }
    now = utcnow()
    live: list[tuple[int, Any]] = []
    dead: list[Any] = []
    for _, _, key_id, public_key, revoked_at, valid_until in found:
        if key_id is None:  # a device without keys (outer join)
            continue
        public = _public_key(public_key)
        if valid_until is not None and sql.to_datetime is not None:
            valid_until = sql.to_datetime(valid_until)
        if _live(revoked_at, valid_until, now):
            live.append((key_id, public))
        else:
            dead.append(public)
    return Sender(id=device_id, uid=uid, live_keys=live, dead_keys=dead, streams=streams)


def refusals_at_commit(
    connection: Connection, relied_on: Sequence[tuple[int, frozenset[int]]]
) -> list[IngestRefused | None]:
    """For each (key id, stream ids) a batch was verified and parsed with: why it can no
    longer be stored (a key revoked or expired, its device revoked, a stream deleted), or
    None. Run inside the storing transaction, so it sees every change committed before.
    Nearly always nothing has changed, which one statement of one row shows."""
    key_ids = sorted({key_id for key_id, _ in relied_on})
    stream_ids = sorted({stream for _, streams in relied_on for stream in streams})
    sql = statements_for(connection.dialect)
    now = utcnow()
    with dbapi_cursor(connection) as cursor:
        for start in range(0, max(len(key_ids), len(stream_ids)), MOST_IDS):
            some_keys = key_ids[start : start + MOST_IDS]
            some_streams = stream_ids[start : start + MOST_IDS]
            counted = sql.live_counts(cursor, some_keys, some_streams, now)
            if counted != (len(some_keys), len(some_streams)):
                return _refusals_in_detail(connection, relied_on, now)
    return [None] * len(relied_on)


def _refusals_in_detail(
    connection: Connection, relied_on: Sequence[tuple[int, frozenset[int]]], now: datetime
) -> list[IngestRefused | None]:
    """:func:`refusals_at_commit` once something has changed: which batch, and why."""
    key_ids = {key_id for key_id, _ in relied_on}
    stream_ids = {stream for _, streams in relied_on for stream in streams}
    reasons: dict[int, str | None] = {}
    for key_id, revoked_at, valid_until, device_revoked_at in connection.execute(
        select(
            device_keys.c.id,
            device_keys.c.revoked_at,
            device_keys.c.valid_until,
            devices.c.revoked_at,
        )
        .join_from(device_keys, devices, devices.c.id == device_keys.c.device_id)
        .where(device_keys.c.id.in_(key_ids))
    ):
        if device_revoked_at is not None:
            reasons[key_id] = "revoked-device"
        elif not _live(revoked_at, valid_until, now):
            reasons[key_id] = "revoked-key"
        else:
            reasons[key_id] = None
    existing = set(
        connection.execute(
            select(datastreams.c.id).where(datastreams.c.id.in_(stream_ids))
        ).scalars()
    )
    refusals: list[IngestRefused | None] = []
    for key_id, streams in relied_on:
        reason = reasons.get(key_id, "revoked-key")  # a key gone is no longer valid
        if reason == "revoked-device":
            refusals.append(revoked_device())
        elif reason == "revoked-key":
            refusals.append(revoked_key())
        elif not existing.issuperset(streams):
            refusals.append(gone_stream())
        else:
            refusals.append(None)
    return refusals


def _live(revoked_at: datetime | None, valid_until: datetime | None, now: datetime) -> bool:
    return revoked_at is None and (valid_until is None or valid_until > now)


@lru_cache(maxsize=4096)
def _public_key(text: str) -> Any:
    """A stored public key as a cryptography object (parsed once per key text)."""
    return keys.load_public_key(text)
