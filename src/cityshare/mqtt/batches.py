"""Store a group of MQTT messages exactly as HTTP ingestion would, in one transaction.

Each message is checked by :func:`cityshare.streams.ingest.prepare` (signature,
freshness, nonce, streams, types), the good ones are stored together by
:func:`~cityshare.streams.ingest.commit`, and every refusal is counted. The result
holds each device's receipt (:mod:`cityshare.mqtt.receipts`). Only when this returns
may the messages be acknowledged to the broker and the receipts be published.

When the store is briefly unavailable (locked, restarting, unreachable) the step is
retried with backoff until it succeeds or the worker is told to stop (then
:class:`Stopped` is raised and nothing is acknowledged: the broker sends the
messages again). A message that breaks the code itself is logged and counted as
``worker-error`` so that it cannot stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cityshare.errors import StoreBusy
from cityshare.mqtt.messages import Delivery, Malformed, SignedBatch, decode
from cityshare.mqtt.receipts import nonce_of, refused_receipt, stored_receipt
from cityshare.site import Site
from cityshare.storage.health import is_unavailable_error
from cityshare.streams.ingest import (
    Acknowledgement,
    Ingestion,
    IngestRefused,
    PreparedBatch,
    commit,
    prepare,
    record_refusals,
)

CHANNEL = "mqtt"
WORKER_ERROR = "worker-error"
FIRST_DELAY = 0.05
MAX_DELAY = 5.0

Refusal = tuple[str | None, str]
Receipt = tuple[str, bytes]  # (device uid, payload for its receipts topic)
T = TypeVar("T")
log = logging.getLogger(__name__)


class Stopped(Exception):
    """The worker was told to stop while waiting for the store."""


@dataclass
class GroupResult:
    """What became of a group of messages."""

    stored: int = 0
    readings: int = 0
    duplicates: int = 0
    refusals: list[Refusal] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)

    def refused(self) -> Counter[str]:
        """Refusals by reason."""
        return Counter(reason for _, reason in self.refusals)


def process_group(
    ingestion: Ingestion, group: Sequence[Delivery], *, stop: threading.Event
) -> GroupResult:
    """Check, store and count a group of messages; return once it is all durable."""
    site = ingestion.site
    max_body = site.settings.limits.max_json_body_bytes
    signed: list[SignedBatch] = []
    result = GroupResult()
    for delivery in group:
        decoded = decode(delivery.topic, delivery.payload, max_body_bytes=max_body)
        if isinstance(decoded, Malformed):
            log.debug("Malformed MQTT message on %s: %s", delivery.topic[:120], decoded.detail)
            result.refusals.append((decoded.device, "malformed"))
            if decoded.device is not None:
                malformed = IngestRefused(
                    "malformed", f"The message is malformed: {decoded.detail}."
                )
                result.receipts.append((decoded.device, refused_receipt(None, malformed)))
        else:
            signed.append(decoded)
    prepared, failed = retrying(lambda: _prepare_all(ingestion, signed), stop, "checking")
    for message, refusal in failed:
        _tally_unprepared(result, message, refusal)
    outcomes = retrying(lambda: _commit_all(ingestion, prepared), stop, "storing")
    for batch, outcome in zip(prepared, outcomes, strict=True):
        _tally(result, batch, outcome)
    _count_refusals(site, result.refusals, stop)
    return result


def retrying(action: Callable[[], T], stop: threading.Event, what: str) -> T:
    """``action()``, retried with backoff while the store is unavailable. One line is
    logged for the first failure, none for an unreachable store (``site.health`` logs
    the outage once for the whole process)."""
    delay = FIRST_DELAY
    logged = False
    while True:
        try:
            return action()
        except Exception as error:
            if not is_transient(error):
                raise
            if not logged and not is_unavailable_error(error):
                log.warning(
                    "The store is unavailable while %s readings (%s); retrying until it is",
                    what,
                    _short(error),
                )
                logged = True
        if stop.wait(delay):
            raise Stopped
        delay = min(delay * 2, MAX_DELAY)


def is_transient(error: BaseException) -> bool:
    """True for errors that mean "the store is busy or unreachable now; try again"."""
    if isinstance(error, StoreBusy | OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _prepare_all(
    ingestion: Ingestion, signed: Sequence[SignedBatch]
) -> tuple[list[PreparedBatch], list[tuple[SignedBatch, IngestRefused | None]]]:
    """The batches that passed every check, and the others with their refusal (None:
    the code failed on it, logged)."""
    prepared: list[PreparedBatch] = []
    failed: list[tuple[SignedBatch, IngestRefused | None]] = []
    for message in signed:
        try:
            prepared.append(prepare(ingestion, message.device, message.body, message.signature))
        except IngestRefused as refused:
            failed.append((message, refused))
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("Could not check a batch from %s", message.device)
            failed.append((message, None))
    return prepared, failed


def _tally_unprepared(
    result: GroupResult, message: SignedBatch, refusal: IngestRefused | None
) -> None:
    if refusal is None:  # no receipt: as after an HTTP 500, the device sends it again
        result.refusals.append((message.device, WORKER_ERROR))
        return
    # As HTTP ingestion does: ids that are no device are counted together.
    counted = None if refusal.reason == "unknown-device" else message.device
    result.refusals.append((counted, refusal.reason))
    result.receipts.append((message.device, refused_receipt(nonce_of(message.body), refusal)))


def _commit_all(
    ingestion: Ingestion, prepared: Sequence[PreparedBatch]
) -> list[Acknowledgement | IngestRefused | None]:
    """Outcomes in order; None for a batch the code could not store (logged)."""
    if not prepared:
        return []
    try:
        return list(commit(ingestion, prepared, channel=CHANNEL))
    except Exception as error:
        if is_transient(error):
            raise
        if len(prepared) == 1:
            log.exception("Could not store a batch from %s", prepared[0].device_uid)
            return [None]
        log.exception("Could not store a group of %d batches; storing one by one", len(prepared))
    return [outcome for batch in prepared for outcome in _commit_all(ingestion, [batch])]


def _tally(
    result: GroupResult, batch: PreparedBatch, outcome: Acknowledgement | IngestRefused | None
) -> None:
    if outcome is None:
        result.refusals.append((batch.device_uid, WORKER_ERROR))
        return
    if isinstance(outcome, IngestRefused):
        result.refusals.append((batch.device_uid, outcome.reason))
        result.receipts.append((batch.device_uid, refused_receipt(batch.nonce, outcome)))
        return
    if outcome.duplicate:
        result.duplicates += 1
    else:
        result.stored += 1
        result.readings += outcome.accepted
    result.receipts.append((batch.device_uid, stored_receipt(outcome)))


def _count_refusals(site: Site, refusals: Sequence[Refusal], stop: threading.Event) -> None:
    """Count refusals; a failure to count is logged, never a reason to keep a message."""
    if not refusals:
        return
    try:
        retrying(lambda: record_refusals(site, refusals), stop, "counting refused")
    except Stopped:
        raise
    except Exception:
        log.exception("Could not count %d refused MQTT messages", len(refusals))


def _short(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0][:200]
