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

The device a batch names is kept per process after its first read
(:mod:`cityshare.streams.senders`), and :func:`commit` checks, in the transaction that
stores a group, that its keys, device and streams are still valid. The hot path (that
check, the device lookup, the inserts) runs statements compiled once per dialect on the
connection's DBAPI cursor (:mod:`cityshare.streams.statements`). On SQLite, commits from
several processes wait for their turn in the kernel rather than in SQLite's sleeping
busy handler (:func:`writer_turn`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from cityshare.access import StreamResource, device_actor, ensure_allowed
from cityshare.lru import LruCache
from cityshare.site import Site
from cityshare.storage.rows import inserted_id
from cityshare.storage.schema import ingest_batches, observations
from cityshare.streams.readings import parse_envelope, parse_readings
from cityshare.streams.refusals import IngestRefused, record_refusals
from cityshare.streams.senders import Sender, load_sender, refusals_at_commit
from cityshare.streams.statements import dbapi_cursor, statements_for
from cityshare.streams.timefmt import MICROS, format_micros, now_micros

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

# Refusals a device kept from an earlier request could cause by being out of date.
_MAYBE_OUT_OF_DATE = frozenset({"bad-signature", "revoked-key", "unknown-stream"})

# Devices each process keeps for ingestion (checked again by every storing transaction).
KEPT_SENDERS = 10_000

__all__ = [
    "Acknowledgement",
    "IngestRefused",
    "Ingestion",
    "PreparedBatch",
    "commit",
    "commit_in_turn",
    "ingest",
    "prepare",
    "prepare_known",
    "record_refusals",
    "writer_turn",
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
    stream_ids: frozenset[int]


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
        """The acknowledgement body; identical when a retried batch is acknowledged again.
        A plain dictionary on this hot path, as :class:`cityshare.streams.models.IngestReceipt`
        describes it."""
        return {
            "batch": self.batch_id,
            "device": self.device,
            "nonce": self.nonce,
            "accepted": self.accepted,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class Ingestion:
    """A site with what ingestion keeps in this process: the devices as it last read them
    (:mod:`cityshare.streams.senders`) and the lock its commits take on a SQLite file
    (:func:`writer_turn`). One per process, built by :mod:`cityshare.runtime`."""

    site: Site
    senders: LruCache[str, Sender] = field(default_factory=lambda: LruCache(KEPT_SENDERS))
    commit_lock: Lock = field(default_factory=Lock)


def ingest(
    ingestion: Ingestion, device_uid: str, body: bytes, signature: str, *, channel: str = "http"
) -> Acknowledgement:
    """Verify and store one batch; refusals are counted and raised."""
    site = ingestion.site
    try:
        prepared = prepare(ingestion, device_uid, body, signature)
        outcome = commit(ingestion, [prepared], channel=channel)[0]
    except IngestRefused as refused:
        record_refusals(site, [(_counted_as(site, device_uid, refused), refused.reason)])
        raise
    if isinstance(outcome, IngestRefused):
        record_refusals(site, [(device_uid, outcome.reason)])
        raise outcome
    return outcome


def prepare(ingestion: Ingestion, device_uid: str, body: bytes, signature: str) -> PreparedBatch:
    """Check who sent ``body``, that it is fresh and that every reading fits its stream.

    The device as this process last read it is tried first; a refusal it could cause by
    being out of date (a key or stream added since) is tried again with it read afresh.
    :func:`commit` checks again that keys, device and streams are still valid."""
    prepared = prepare_known(ingestion, device_uid, body, signature)
    if prepared is not None:
        return prepared
    sender = ingestion.senders.put(device_uid, load_sender(ingestion.site, device_uid))
    return _prepare_from(ingestion.site, sender, body, signature)


def prepare_known(
    ingestion: Ingestion, device_uid: str, body: bytes, signature: str
) -> PreparedBatch | None:
    """:func:`prepare` without touching the store: None when the device must be read
    first (not kept by this process, or a refusal its being out of date could explain)."""
    known = ingestion.senders.get(device_uid)
    if known is None:
        return None
    try:
        return _prepare_from(ingestion.site, known, body, signature)
    except IngestRefused as refused:
        if refused.reason in _MAYBE_OUT_OF_DATE:
            return None
        raise


def _prepare_from(site: Site, device: Sender, body: bytes, signature: str) -> PreparedBatch:
    key_id = device.verified_key(body, signature)
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
    stream_ids = frozenset(row[0] for row in rows)
    for stream_id in stream_ids:
        ensure_allowed(actor, "stream.ingest", StreamResource(stream_id, device.id))
    return PreparedBatch(
        device_id=device.id,
        device_uid=device.uid,
        key_id=key_id,
        nonce=envelope.nonce,
        body_sha256=hashlib.sha256(body).hexdigest(),
        sent_at=envelope.sent_at,
        rows=rows,
        stream_ids=stream_ids,
    )


def commit(
    ingestion: Ingestion, batches: Sequence[PreparedBatch], *, channel: str
) -> list[Acknowledgement | IngestRefused]:
    """Store batches in one durable transaction; one outcome per batch, in order. A batch
    whose key, device or stream was revoked or deleted since :func:`prepare` is refused."""
    with writer_turn(ingestion):
        return commit_in_turn(ingestion, batches, channel=channel)


def commit_in_turn(
    ingestion: Ingestion, batches: Sequence[PreparedBatch], *, channel: str
) -> list[Acknowledgement | IngestRefused]:
    """:func:`commit` for a caller already holding :func:`writer_turn`."""
    with ingestion.site.writer.begin() as connection:
        received_at = now_micros()
        relied_on = [(batch.key_id, batch.stream_ids) for batch in batches]
        refusals = refusals_at_commit(connection, relied_on)
        storable = [b for b, refusal in zip(batches, refusals, strict=True) if refusal is None]
        stored = _store_together(connection, storable, received_at, channel)
        if stored is None:  # some batch clashed with a stored one: one savepoint each
            stored = [_store(connection, batch, received_at, channel) for batch in storable]
    for batch, refusal in zip(batches, refusals, strict=True):
        if refusal is not None:  # read the device afresh next time: it has changed
            ingestion.senders.discard(batch.device_uid)
    answers = iter(stored)
    return [next(answers) if refusal is None else refusal for refusal in refusals]


@contextmanager
def writer_turn(ingestion: Ingestion) -> Iterator[None]:
    """On a SQLite file, wait for this commit's turn in the kernel: a lock between this
    process's threads, then ``flock`` on a file beside the database for the other
    processes (``cityshare serve --workers N``, the MQTT worker). SQLite's own busy
    handler would sleep 1, 2, 5, 10... ms between tries while another process commits."""
    database = _sqlite_file(ingestion.site)
    if database is None or fcntl is None:
        yield
        return
    with ingestion.commit_lock, open(database + "-ingest.lock", "ab") as handle:
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
    if not batches:
        return []
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


def _counted_as(site: Site, device_uid: str, refused: IngestRefused) -> str | None:
    return None if refused.reason == "unknown-device" else device_uid
