"""Reading times: RFC 3339 text in the API, integer microseconds since the epoch in the store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000


def parse_rfc3339(text: str) -> int | None:
    """Microseconds since the epoch, or None unless ``text`` is RFC 3339 with an offset."""
    if not isinstance(text, str) or not 20 <= len(text) <= 40 or text[10:11] not in "Tt ":
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return _micros(moment)


def parse_query_time(text: str) -> int | None:
    """Microseconds since the epoch of a time a reader asks for: RFC 3339, or a date and
    time without an offset, taken as UTC (as the rows API takes it); None if neither."""
    if not isinstance(text, str) or not 10 <= len(text) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return _micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * MICROS + delta.microseconds


def format_micros(micros: int) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds shown only when there are some."""
    seconds, fraction = divmod(micros, MICROS)
    text = _second_text(seconds)
    return f"{text}.{fraction:06d}Z" if fraction else f"{text}Z"


@lru_cache(maxsize=8192)
def _second_text(seconds: int) -> str:
    # isoformat is several times faster than strftime; readings of one batch share their
    # received_at, and pages of a stream often share seconds, hence the small cache.
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat()


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000
