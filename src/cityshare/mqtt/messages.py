"""What an MQTT message from a device must look like, checked before anything else.

A device publishes to ``cityshare/devices/{uid}/readings`` (the broker's ACL lets it
publish nowhere else, so the topic names the sender) a JSON payload::

    {"body": "<the exact body a device would POST to /api/v1/ingest>",
     "signature": "<base64 Ed25519 signature of the body's UTF-8 bytes>"}

Anything else is *malformed*: it is counted and dropped, never retried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

TOPIC = re.compile(r"cityshare/devices/([A-Za-z0-9._-]{1,64})/readings")
PAYLOAD_KEYS = frozenset({"body", "signature"})


@dataclass(frozen=True)
class Delivery:
    """One MQTT message as the broker delivered it, with what acknowledging it takes.

    ``session`` counts the worker's connections: an acknowledgement is only sent on
    the connection the message came on (see :mod:`cityshare.mqtt.connection`).
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    session: int


@dataclass(frozen=True)
class SignedBatch:
    """A well-formed message: the sending device, the signed body and its signature."""

    device: str
    body: bytes
    signature: str


@dataclass(frozen=True)
class Malformed:
    """A message that is not a signed batch; ``device`` when the topic names one."""

    device: str | None
    detail: str


def device_of(topic: str) -> str | None:
    """The device uid a readings topic names, or None.

    >>> device_of("cityshare/devices/dev-42/readings")
    'dev-42'
    """
    match = TOPIC.fullmatch(topic)
    return match.group(1) if match else None


def decode(topic: str, payload: bytes, *, max_body_bytes: int) -> SignedBatch | Malformed:
    """The signed batch in a message, or why it is malformed."""
    device = device_of(topic)
    if device is None:
        return Malformed(None, "the topic is not cityshare/devices/{uid}/readings")
    # A body within the limit, escaped as a JSON string, is at most twice as long.
    if len(payload) > 2 * max_body_bytes + 1024:
        return Malformed(device, "the payload is too large")
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Malformed(device, "the payload is not JSON")
    if not isinstance(document, dict) or document.keys() != PAYLOAD_KEYS:
        return Malformed(device, 'the payload must be {"body": ..., "signature": ...}')
    body, signature = document["body"], document["signature"]
    if not isinstance(body, str) or not isinstance(signature, str):
        return Malformed(device, "body and signature must be strings")
    try:
        raw = body.encode("utf-8")
    except UnicodeEncodeError:
        return Malformed(device, "the body is not valid Unicode")
    if len(raw) > max_body_bytes:
        return Malformed(device, "the body is too large")
    return SignedBatch(device=device, body=raw, signature=signature)
