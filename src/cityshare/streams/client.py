"""The device side of signed ingestion: build, sign and address a batch of readings.

Used by the demo fleet, the benchmarks, the tests and ``cityshare device send``;
a real device does the same in a few lines of its own language.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityshare.streams.keys import sign

Reading = tuple[str, datetime | str, Any]  # (stream name, time, value)


def rfc3339(moment: datetime | str) -> str:
    """A time as RFC 3339 (a string is passed through unchanged)."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def batch_body(
    readings: Iterable[Reading], *, nonce: str | None = None, sent_at: datetime | str | None = None
) -> bytes:
    """The JSON body of a batch (a fresh random nonce and the current time by default)."""
    document = {
        "sent_at": rfc3339(sent_at or datetime.now(UTC)),
        "nonce": nonce or secrets.token_urlsafe(16),
        "readings": [
            {"stream": stream, "time": rfc3339(time), "value": value}
            for stream, time, value in readings
        ],
    }
    return orjson.dumps(document)


def http_headers(device_uid: str, key: Ed25519PrivateKey, body: bytes) -> dict[str, str]:
    """The headers of ``POST /api/v1/ingest`` for ``body``."""
    return {
        "Content-Type": "application/json",
        "X-Device-Id": device_uid,
        "X-Signature": sign(key, body),
    }


def mqtt_topic(device_uid: str) -> str:
    """The only topic a device may publish to."""
    return f"cityshare/devices/{device_uid}/readings"


def mqtt_payload(key: Ed25519PrivateKey, body: bytes) -> bytes:
    """The MQTT message for ``body``: the body as a string and its signature."""
    return orjson.dumps({"body": body.decode(), "signature": sign(key, body)})
