"""Turn database rows into the plain dictionaries services return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp (``...Z``) for a stored naive-UTC datetime."""
    if value is None:
        return None
    return value.isoformat(timespec="seconds") + "Z"


def as_dict(row: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """A SQLAlchemy row as a dictionary with datetimes in ISO 8601."""
    out: dict[str, Any] = {}
    for key, value in row._mapping.items():
        if key in exclude:
            continue
        out[key] = iso(value) if isinstance(value, datetime) else value
    return out


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row a single-row INSERT created."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("The INSERT returned no primary key.")
    return int(key[0])


# Row ids are 32-bit integers on PostgreSQL (SERIAL); no row has an id outside this range.
MAX_ID = 2**31 - 1


def is_row_id(value: int) -> bool:
    """Whether ``value`` can be a row's id: a lookup of any other number finds nothing
    (and would be a DataError on PostgreSQL)."""
    return 0 < value <= MAX_ID
