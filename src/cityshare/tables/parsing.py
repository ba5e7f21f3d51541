"""Column-wise value parsing, shared by inference and conversion.

Each function takes a whole column of text cells (``""`` is an empty cell) and
answers for all of them at once, with C-speed building blocks instead of a
Python loop per cell:

* numbers: the cells joined with commas are parsed as one JSON array by orjson
  (correctly rounded, strict grammar: no ``+``, no leading zeros such as ``007``,
  no ``NaN``). A cell holding a comma, a bracket or a word cannot pass, because
  the array must have exactly one number (or null for an empty cell) per cell;
* dates and datetimes: digits are mapped to ``9`` with ``str.translate`` and the
  result compared with the expected shape, then each cell is validated by the C
  ``fromisoformat``.

They return None when a column does not fit; callers then fall back to a slower
path that also says which cell is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

INFERRED_BOOLEANS = frozenset({"true", "false", "True", "False", "TRUE", "FALSE"})
DEFAULT_TRUE_VALUES = ("true", "True", "TRUE", "1")
DEFAULT_FALSE_VALUES = ("false", "False", "FALSE", "0")

_SHAPE = str.maketrans("0123456789T", "9999999999 ")
_DATE_SHAPE = "9999-99-99"
_DATETIME_SHAPE = "9999-99-99 99:99:99"
_DATETIME_Z_SHAPE = "9999-99-99 99:99:99Z"
_NONE = type(None)


def json_numbers(cells: Sequence[str]) -> list[Any] | None:
    """Each cell as a JSON number (``""`` as None), or None if a cell is not one number."""
    empties = cells.count("")
    text = ",".join([cell or "null" for cell in cells] if empties else cells)
    try:
        values = orjson.loads("[" + text + "]")
    except orjson.JSONDecodeError:
        return None
    if type(values) is not list or len(values) != len(cells) or values.count(None) != empties:
        return None
    return values


def strict_numbers(cells: Sequence[str], kinds: frozenset[type]) -> list[Any] | None:
    """Non-empty cells as JSON numbers of ``kinds``, in canonical form (no whitespace).

    Canonical cells are also valid SQLite and PostgreSQL numeric literals.
    """
    text = ",".join(cells)
    if " " in text or "\t" in text or "\n" in text or "\r" in text:
        return None
    try:
        values = orjson.loads("[" + text + "]")
    except orjson.JSONDecodeError:
        return None
    if type(values) is not list or len(values) != len(cells):
        return None
    return values if set(map(type, values)) <= kinds else None


def too_big(values: list[Any]) -> bool:
    """True when an int in ``values`` is above 64 bits (orjson gives ints up to 2**64 - 1;
    more negative than -2**63 it gives floats)."""
    return max(filter(None, values), default=0) > INT64_MAX


def integers(cells: Sequence[str]) -> list[int | None] | None:
    """The cells as 64-bit integers (``""`` as None), or None if one is not an integer."""
    values = json_numbers(cells)
    if values is None or not set(map(type, values)) <= {int, _NONE} or too_big(values):
        return None
    return values


def numbers(cells: Sequence[str]) -> list[float | int | None] | None:
    """The cells as finite numbers (``""`` as None), or None if one is not a number.

    Integers that fit 64 bits stay ints (the float column converts them exactly).
    """
    values = json_numbers(cells)
    if values is None:
        return None
    kinds = set(map(type, values))
    if not kinds <= {int, float, _NONE}:
        return None
    if int in kinds and too_big(values):
        return [float(value) if type(value) is int else value for value in values]
    return values


def _shape_is(cells: Sequence[str], shape: str) -> bool:
    if not cells:
        return True
    # Equal only if no cell holds a line break and each cell has exactly the shape.
    expected = (shape + "\n") * (len(cells) - 1) + shape
    return "\n".join(cells).translate(_SHAPE) == expected


def iso_dates(cells: Sequence[str]) -> bool:
    """True when every (non-empty) cell is a valid ``YYYY-MM-DD`` date."""
    if not _shape_is(cells, _DATE_SHAPE):
        return False
    try:
        list(map(date.fromisoformat, cells))
    except ValueError:
        return False
    return True


def iso_datetimes(cells: Sequence[str]) -> bool:
    """True when every (non-empty) cell is an ISO 8601 datetime Python can read."""
    try:
        list(map(datetime.fromisoformat, cells))
    except ValueError:
        return False
    return True


def plain_datetimes(cells: Sequence[str]) -> str:
    """``"naive"`` or ``"utc"`` when every cell has the shape ``YYYY-MM-DDTHH:MM:SS``
    (without or with a ``Z``), else ``""``. The caller still validates the values."""
    if _shape_is(cells, _DATETIME_SHAPE):
        return "naive"
    if _shape_is(cells, _DATETIME_Z_SHAPE):
        return "utc"
    return ""


def utc_naive(value: datetime) -> datetime:
    """``value`` in UTC without a time zone (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
