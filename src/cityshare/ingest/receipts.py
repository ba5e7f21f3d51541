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
"""

from __future__ import annotations

from typing import Any

import orjson

from cityshare.streams.ingest import Acknowledgement, IngestRefused

MAX_NONCE_CHARS = 200


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
