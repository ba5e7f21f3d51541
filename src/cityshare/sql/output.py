"""Values of SQL results as JSON-native values, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from cityshare.query.values import INT64_MAX, INT64_MIN, iso_datetime


def json_cell(value: Any) -> Any:
    """One result value as JSON: ISO 8601 dates and times, numbers as int or float."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _decimal(value: Decimal) -> int | float | None:
    # PostgreSQL's sums of integers and averages are NUMERIC: whole ones become integers
    # (as SQLite's sums are), others floats (as SQLite's averages are).
    if not value.is_finite():
        return None
    if value == value.to_integral_value() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None
