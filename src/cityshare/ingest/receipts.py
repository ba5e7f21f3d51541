"""Receipts: what a device is told, over MQTT, once cityshare has stored or refused a batch.

A broker's PUBACK only says the broker has the message; a receipt says cityshare has
committed it. The ingest worker publishes one per batch, with QoS 1, to the device's
own topic ``cityshare/devices/{uid}/receipts`` (only that device may read it), after the
transaction holding the batch has committed (and the message is acknowledged to the
broker). The payload is what ``POST /api/v1/ingest`` would have answered, plus the
HTTP status:

- stored: ``{"status": 201, "already_stored": false, "batch": 7, "device": "dev-…",
  "nonce": "…", "accepted": 3, "received_at": "…"}``. A batch sent again unchanged gets
  ``"status": 200, "already_stored": true`` and the first acknowledgement's fields.
- refused: the problem document (``status``, ``type``, ``title``, ``detail``, ``reason``)
  and the batch's ``nonce`` (null when the payload is not a signed batch at all).

A message the worker could not process because of a defect gets no receipt, as an
HTTP 500 would tell the device to try again: it resends after its timeout.

:class:`ReceiptPublisher` publishes them from a thread of its own, so that the worker's
loop hands a committed group's receipts over and goes on to the next group without
waiting on paho (whose lock its network thread holds while it reads the broker's
PUBACKs). One thread, one queue: receipts leave in the order they were handed over,
so each device's in the order its batches were stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from paho.mqtt.client import Client

from cityshare.ingest.broker import receipts_topic
from cityshare.streams.ingest import Acknowledgement, IngestRefused

MAX_NONCE_CHARS = 200
# Groups of receipts handed over but not yet published: past this the worker waits
# (never more than a few groups' receipts in memory).
MAX_QUEUED_GROUPS = 8
# Receipts may be lost (the device resends and is told ``already_stored``): see ReceiptPublisher.
RECEIPT_QOS = 0

Receipt = tuple[str, bytes]  # (device uid, payload for its receipts topic)
log = logging.getLogger(__name__)


def stored_receipt(acknowledgement: Acknowledgement) -> bytes:
    """The receipt of a batch that is durably stored (now, or by an earlier copy)."""
    document: dict[str, Any] = acknowledgement.as_dict()
    document["status"] = 200 if acknowledgement.duplicate else 201
    document["already_stored"] = acknowledgement.duplicate
    return orjson.dumps(document)


def refused_receipt(nonce: str | None, refusal: IngestRefused) -> bytes:
    """The receipt of a refused batch: the problem HTTP ingestion would answer."""
    document = refusal.problem()
    document["nonce"] = nonce
    return orjson.dumps(document)


def nonce_of(body: bytes) -> str | None:
    """The nonce a body names, read only to address a refusal's receipt (the body may
    be unverified: its sender is known from the broker's login, not its signature).

    >>> nonce_of(b'{"nonce": "n-1", "readings": []}'), nonce_of(b"[")
    ('n-1', None)
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    nonce = document.get("nonce") if isinstance(document, dict) else None
    return nonce if isinstance(nonce, str) and len(nonce) <= MAX_NONCE_CHARS else None


class ReceiptPublisher:
    """Publishes receipts with QoS 0 from a thread of its own, in the order handed over.

    >>> publisher = ReceiptPublisher(client)  # doctest: +SKIP
    >>> publisher.start()  # doctest: +SKIP
    >>> publisher.send([(uid, payload)])  # after the batch is committed  # doctest: +SKIP
    >>> publisher.close()  # publishes what is queued, then stops  # doctest: +SKIP

    A receipt is a confirmation, not data: one that is lost (the broker restarting, the
    device away, the worker disconnected) costs the device one resend, answered with
    ``already_stored``. So receipts go with QoS 0 (``RECEIPT_QOS``): no PUBACK from the
    broker to the worker and none from the device to the broker, which halves what each
    receipt costs the broker and spares the worker's network thread its bookkeeping.
    """

    def __init__(self, client: Client, *, max_queued: int = MAX_QUEUED_GROUPS) -> None:
        self._client = client
        self._queue: queue.Queue[Sequence[Receipt] | None] = queue.Queue(max_queued)
        self._thread = threading.Thread(target=self._run, name="cityshare-receipts", daemon=True)
        self.published = 0

    def start(self) -> None:
        """Start the publishing thread."""
        self._thread.start()

    def send(self, receipts: Sequence[Receipt]) -> None:
        """Hand over the receipts of a committed group (waits only while
        ``max_queued`` groups are already waiting)."""
        if receipts:
            self._queue.put(receipts)

    def close(self, timeout: float = 30.0) -> None:
        """Publish every receipt handed over, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of :meth:`close`."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while (receipts := self._queue.get()) is not None:
            for device, payload in receipts:
                try:
                    self._client.publish(receipts_topic(device), payload, qos=RECEIPT_QOS)
                except Exception:  # a defect: that device resends, the others are told
                    log.exception("Could not publish a receipt to %s", device[:120])
                else:
                    self.published += 1
