"""Signed ingestion: verify a device's batch, then store it durably, all or nothing.

The order of checks matters: who the device is and whether the bytes carry its
signature come first, so nothing an unauthenticated sender wrote is parsed. Then the
envelope (freshness, nonce), then every reading. :func:`prepare` does all of that
without writing; :func:`commit` stores many prepared batches in ONE transaction so that
concurrent requests share one durable commit: all of them at once behind one savepoint,
or, when one of them clashes with stored data (a retry, a replay, a repeated reading),
each behind its own savepoint so that the others are still stored.

A batch sent again with the same nonce and the same bytes (a device retrying after a
lost response) gets the original acknowledgement and stores nothing twice; the same
nonce with other bytes is a replay and is refused.

The hot path (the device lookup in :func:`prepare`, the inserts in :func:`commit`) runs
statements compiled once per dialect on the connection's DBAPI cursor
(:mod:`cityshare.streams.statements`). On SQLite, commits from several processes wait
for their turn in the kernel rather than in SQLite's sleeping busy handler
(:func:`_writer_turn`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from cityshare.access import StreamResource, device_actor, ensure_allowed
from cityshare.catalogue.rows import inserted_id
from cityshare.site import Site, utcnow
from cityshare.storage.schema import ingest_batches, observations
from cityshare.streams import keys
from cityshare.streams.readings import StreamTarget, parse_envelope, parse_readings
from cityshare.streams.refusals import IngestRefused, record_refusals
from cityshare.streams.statements import dbapi_cursor, statements_for
from cityshare.streams.timefmt import MICROS, format_micros, now_micros

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

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
    device = _load_device(site, device_uid)
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
    with _writer_turn(site), site.writer.begin() as connection:
        received_at = now_micros()
        outcomes = _store_together(connection, batches, received_at, channel)
        if outcomes is None:  # some batch clashed with a stored one: one savepoint each
            outcomes = [_store(connection, batch, received_at, channel) for batch in batches]
    return outcomes


@contextmanager
def _writer_turn(site: Site) -> Iterator[None]:
    """On a SQLite file, wait for this commit's turn in the kernel: a lock between this
    process's threads, then ``flock`` on a file beside the database for the other
    processes (``cityshare serve --workers N``, the MQTT worker). SQLite's own busy
    handler would sleep 1, 2, 5, 10... ms between tries while another process commits."""
    database = _sqlite_file(site)
    if database is None or fcntl is None:
        yield
        return
    with site.ingest_commit_lock, open(database + "-ingest.lock", "ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the flock


def _sqlite_file(site: Site) -> str | None:
    """The path of the site's SQLite database file; None for another store."""
    url = site.engine.url
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return database


def _store_together(
    connection: Connection, batches: Sequence[PreparedBatch], received_at: int, channel: str
) -> list[Acknowledgement | IngestRefused] | None:
    """Every batch, and then all their readings at once, behind one savepoint; None (and
    nothing stored) when any of them breaks a uniqueness rule (a nonce or a reading
    already stored, or sent twice in the group): :func:`_store` then sorts them out."""
    sql = statements_for(connection.dialect)
    clash = connection.dialect.loaded_dbapi.IntegrityError
    with dbapi_cursor(connection) as cursor:
        cursor.execute("SAVEPOINT ingest_group")
        try:
            batch_ids = sql.insert_batches(
                cursor,
                [
                    (
                        batch.device_id,
                        batch.key_id,
                        batch.nonce,
                        batch.body_sha256,
                        batch.sent_at,
                        received_at,
                        len(batch.rows),
                        channel,
                    )
                    for batch in batches
                ],
            )
            sql.insert_observations(
                cursor,
                [
                    (*row, received_at, batch.device_id, batch.key_id, batch_id, True)
                    for batch, batch_id in zip(batches, batch_ids, strict=True)
                    for row in batch.rows
                ],
            )
        except clash:
            cursor.execute("ROLLBACK TO SAVEPOINT ingest_group")
            cursor.execute("RELEASE SAVEPOINT ingest_group")
            return None
        cursor.execute("RELEASE SAVEPOINT ingest_group")
    received_text = format_micros(received_at)
    return [
        Acknowledgement(
            batch_id=batch_id,
            device=batch.device_uid,
            nonce=batch.nonce,
            accepted=len(batch.rows),
            received_at=received_text,
        )
        for batch, batch_id in zip(batches, batch_ids, strict=True)
    ]


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


def _load_device(site: Site, uid: str) -> _Device:
    """The device, its keys (live and dead) and its streams: two statements."""
    dialect = site.engine.dialect
    sql = statements_for(dialect)
    # begin(): the engine's begin hook resets the pooled connection's state (time limit).
    with site.engine.begin() as connection, dbapi_cursor(connection) as cursor:
        cursor.execute(sql.device_keys, sql.uid_parameters(uid))
        found = cursor.fetchall()
        if not found:
            raise IngestRefused("unknown-device", "No such device; check the X-Device-Id header.")
        device_id, device_revoked_at = found[0][0], found[0][1]
        if device_revoked_at is not None:
            raise IngestRefused("revoked-device", "This device is revoked.")
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
        expired = valid_until is not None and valid_until <= now
        if revoked_at is None and not expired:
            live.append((key_id, public))
        else:
            dead.append(public)
    return _Device(id=device_id, uid=uid, live_keys=live, dead_keys=dead, streams=streams)


@lru_cache(maxsize=4096)
def _public_key(text: str) -> Any:
    """A stored public key as a cryptography object (parsed once per key text)."""
    return keys.load_public_key(text)


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
