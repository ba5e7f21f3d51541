"""Parse and check the body of a signed batch of readings (pure; no I/O).

The body is ``{"sent_at": RFC 3339, "nonce": str, "readings": [{"stream": name,
"time": RFC 3339, "value": number | string | boolean | object}, ...]}`` and nothing
else. Every refusal names its reason (a stable slug devices and dashboards can count).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cityshare.streams.refusals import IngestRefused
from cityshare.streams.timefmt import MICROS, parse_rfc3339

MAX_NONCE_CHARS = 128
MAX_TEXT_VALUE_CHARS = 10_000
_BODY_KEYS = frozenset({"sent_at", "nonce", "readings"})
_READING_KEYS = frozenset({"stream", "time", "value"})


@dataclass(frozen=True)
class StreamTarget:
    """What a reading needs to know about the stream it names."""

    id: int
    value_type: str


@dataclass(frozen=True)
class Envelope:
    """The checked outer fields of a batch; readings still raw."""

    sent_at: int
    nonce: str
    readings: list[Any]


def parse_envelope(body: bytes, *, now: int, skew_seconds: int, max_readings: int) -> Envelope:
    """The batch's ``sent_at``, ``nonce`` and readings list, or IngestRefused."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise IngestRefused("malformed", "The body is not JSON.") from None
    if not isinstance(document, dict) or set(document) != _BODY_KEYS:
        raise IngestRefused(
            "malformed", 'The body must be {"sent_at": ..., "nonce": ..., "readings": [...]}.'
        )
    sent_at = parse_rfc3339(document["sent_at"])
    if sent_at is None:
        raise IngestRefused("malformed", "sent_at must be an RFC 3339 time with an offset.")
    if abs(now - sent_at) > skew_seconds * MICROS:
        raise IngestRefused(
            "stale",
            f"sent_at is more than {skew_seconds} s from the server's clock; check the "
            "device's clock (NTP) and send the readings again with a new sent_at and nonce.",
        )
    nonce = document["nonce"]
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE_CHARS:
        raise IngestRefused("malformed", f"nonce must be a string of 1-{MAX_NONCE_CHARS} chars.")
    readings = document["readings"]
    if not isinstance(readings, list) or not readings:
        raise IngestRefused("malformed", "readings must be a non-empty list.")
    if len(readings) > max_readings:
        raise IngestRefused(
            "too-many-readings",
            f"The batch has {len(readings)} readings; at most {max_readings} are accepted.",
        )
    return Envelope(sent_at=sent_at, nonce=nonce, readings=readings)


def parse_readings(
    readings: list[Any], streams: Mapping[str, StreamTarget], *, latest_time: int
) -> list[tuple[int, int, float | None, str | None]]:
    """Each reading as ``(stream id, time µs, number value, text value)``, checked.

    Checks run in order, reading by reading, and the first failure refuses the batch.
    A time string is parsed once per batch (a device usually sends all its streams at
    the same times) and a number goes through a fast path; the results are identical.
    """
    parsed: list[tuple[int, int, float | None, str | None]] = []
    seen: set[tuple[int, int]] = set()
    times: dict[str, int | None] = {}
    reading_keys = _READING_KEYS
    for index, reading in enumerate(readings):
        if not isinstance(reading, dict) or reading.keys() != reading_keys:
            raise IngestRefused(
                "malformed",
                f'Reading {index} must be {{"stream": ..., "time": ..., "value": ...}}.',
                reading=index,
            )
        name = reading["stream"]
        target = streams.get(name) if isinstance(name, str) else None
        if target is None:
            raise IngestRefused(
                "unknown-stream",
                f"Reading {index} names stream {str(name)[:100]!r}, which this "
                "device does not feed.",
                reading=index,
            )
        text = reading["time"]
        if isinstance(text, str):
            time = times.get(text, _UNPARSED)
            if time is _UNPARSED:
                time = times[text] = parse_rfc3339(text)
        else:
            time = parse_rfc3339(text)
        if time is None or time > latest_time:
            raise IngestRefused(
                "bad-time",
                f"Reading {index}: time must be an RFC 3339 time with an offset, not in the "
                "future.",
                reading=index,
            )
        key = (target.id, time)
        if key in seen:
            raise IngestRefused(
                "duplicate-reading",
                f"Reading {index} repeats the time of an earlier reading of the same stream.",
                reading=index,
            )
        seen.add(key)
        value = reading["value"]
        kind = value.__class__
        if (kind is float or kind is int) and target.value_type == "number":
            parsed.append((target.id, time, float(value), None))
        else:
            number, text_value = _value(value, target.value_type, index)
            parsed.append((target.id, time, number, text_value))
    return parsed


_UNPARSED: Any = object()


def _value(value: Any, value_type: str, index: int) -> tuple[float | None, str | None]:
    if value_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), None
    if value_type == "boolean" and isinstance(value, bool):
        return (1.0 if value else 0.0), None
    if value_type == "string" and isinstance(value, str) and len(value) <= MAX_TEXT_VALUE_CHARS:
        return None, value
    if value_type == "object" and isinstance(value, dict):
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        if len(text) <= MAX_TEXT_VALUE_CHARS:
            return None, text
    raise IngestRefused(
        "wrong-type",
        f"Reading {index}: the stream takes a {value_type} value"
        + (f" (at most {MAX_TEXT_VALUE_CHARS} characters)" if value_type in _SIZED else "")
        + f", not {type(value).__name__}.",
        reading=index,
    )


_SIZED = ("string", "object")
