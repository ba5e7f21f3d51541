"""Receipts: what a device is told, over MQTT, once cityshare has stored or refused a batch.

A broker's PUBACK only says the broker has the message; a receipt says cityshare has
committed it. The ingest worker publishes one per batch, with QoS 0, to the device's
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

:class:`ReceiptPublisher` publishes them on the worker's own connection, from the
worker's loop, in the order handed over: each device's in the order its batches were
stored. With QoS 0 there are no PUBACKs for paho's network thread to match, so a publish
does not wait on its lock; a thread of their own measured slower (12.4 % of throughput
against 9.7 % inline, ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from paho.mqtt.client import Client

from cityshare.mqtt.broker import receipts_topic
from cityshare.streams.ingest import Acknowledgement, IngestRefused

MAX_NONCE_CHARS = 200
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
    """Publishes receipts with QoS 0 on the worker's connection, in the order handed over.

    >>> publisher = ReceiptPublisher(client)  # doctest: +SKIP
    >>> publisher.send([(uid, payload)])  # after the batch is committed  # doctest: +SKIP

    A receipt is a confirmation, not data: one that is lost (the broker restarting, the
    device away, the worker disconnected) costs the device one resend, answered with
    ``already_stored``. So receipts go with QoS 0 (``RECEIPT_QOS``): no PUBACK from the
    broker to the worker and none from the device to the broker, which halves what each
    receipt costs the broker and spares the worker's network thread its bookkeeping.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.published = 0

    def send(self, receipts: Sequence[Receipt]) -> None:
        """Publish the receipts of a committed group; one that cannot be published (a
        defect) is logged, and the others still go."""
        for device, payload in receipts:
            try:
                self._client.publish(receipts_topic(device), payload, qos=RECEIPT_QOS)
            except Exception:  # a defect: that device resends, the others are told
                log.exception("Could not publish a receipt to %s", device[:120])
            else:
                self.published += 1
