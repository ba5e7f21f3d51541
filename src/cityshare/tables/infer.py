"""Whole-file schema inference: the most specific type that fits every value of a column.

Every batch of the file is observed (not a sample). A column's type only widens::

    (nothing yet) → integer → number → string
                  → boolean → string
                  → date → datetime → string
                  → geojson → string

Empty cells are nulls and fit every type; a column with no value at all is a
string. Integers are 64-bit: a larger one makes the column a number. Integer and
number syntax is strict (``007``, ``+5`` and ``1_000`` are text, since codes with
leading zeros are identifiers), booleans are ``true``/``false`` in lower, title or
upper case (``0``/``1`` are integers), dates are ``YYYY-MM-DD``, datetimes ISO 8601
with or without an offset, geojson a GeoJSON geometry object.

Number columns named like a longitude and a latitude whose values are in range
become the table's point (:data:`~cityshare.tables.model.POINT_PROPERTY`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityshare.tables.geometry import is_geometry_text
from cityshare.tables.model import GEOMETRY_TYPE, POINT_PROPERTY
from cityshare.tables.parsing import (
    INFERRED_BOOLEANS,
    INT64_MAX,
    iso_dates,
    iso_datetimes,
    strict_numbers,
)

LONGITUDE_NAMES = frozenset({"lon", "lng", "long", "longitude"})
LATITUDE_NAMES = frozenset({"lat", "latitude"})
MISSING_VALUES = [""]

_WIDER: dict[str | None, tuple[str, ...]] = {
    None: ("integer", "number", "boolean", "date", "datetime", GEOMETRY_TYPE, "string"),
    "integer": ("integer", "number", "string"),
    "number": ("number", "string"),
    "boolean": ("boolean", "string"),
    "date": ("date", "datetime", "string"),
    "datetime": ("datetime", "string"),
    GEOMETRY_TYPE: (GEOMETRY_TYPE, "string"),
    "string": ("string",),
}
_INTEGER_KINDS = frozenset({int})
_NUMBER_KINDS = frozenset({int, float})
# A decimal number in forms JSON refuses but people write: ".5", "-.5", "5.".
_LOOSE_NUMBER = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@dataclass
class ColumnStats:
    """What inference knows of one column.

    ``type`` is the type so far (None while every cell was empty); ``fixed`` types
    never change; ``low``/``high`` is the numeric range, tracked only when ``ranged``
    (columns named like coordinates). ``parsed`` keeps the numbers of the last batch
    of a number column without empty cells, so a loader may store them as they are.
    """

    type: str | None = None
    fixed: bool = False
    ranged: bool = False
    low: float | None = None
    high: float | None = None
    parsed: list[Any] | None = None

    def observe(self, column: Sequence[str]) -> None:
        """Widen the type so that it fits every non-empty cell of ``column`` too."""
        self.parsed = None
        if self.fixed or self.type == "string":
            return
        dense = "" not in column
        cells = column if dense else [cell for cell in column if cell]
        if not cells:
            return
        for candidate in _WIDER[self.type]:
            if self._fits(candidate, cells):
                self.type = candidate
                if not dense:
                    self.parsed = None
                return

    def _fits(self, candidate: str, cells: Sequence[str]) -> bool:
        if candidate == "integer":
            values = strict_numbers(cells, _INTEGER_KINDS)
            if values is None or max(values) > INT64_MAX:
                return False
        elif candidate == "number":
            values = strict_numbers(cells, _NUMBER_KINDS) or _loose_numbers(cells)
            if values is None:
                return False
            self.parsed = values if max(values) <= INT64_MAX else None
        else:
            return _TESTS[candidate](cells)
        if self.ranged:
            self._extend_range(min(values), max(values))
        return True

    def _extend_range(self, low: float, high: float) -> None:
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)


def _loose_numbers(cells: Sequence[str]) -> list[float] | None:
    if not all(map(_LOOSE_NUMBER.fullmatch, cells)):
        return None
    parsed = [float(cell) for cell in cells]
    return parsed if all(map(math.isfinite, parsed)) else None


def _is_boolean(cells: Sequence[str]) -> bool:
    return set(cells) <= INFERRED_BOOLEANS


def _is_geojson(cells: Sequence[str]) -> bool:
    return all(map(is_geometry_text, cells))


def _always(cells: Sequence[str]) -> bool:
    return True


_TESTS = {
    "boolean": _is_boolean,
    "date": iso_dates,
    "datetime": iso_datetimes,
    GEOMETRY_TYPE: _is_geojson,
    "string": _always,
}


def new_stats(header: Sequence[str], fixed_types: dict[str, str]) -> list[ColumnStats]:
    """Fresh statistics for ``header``; columns with a fixed type keep it."""
    return [
        ColumnStats(type=fixed_types[name], fixed=True)
        if name in fixed_types
        else ColumnStats(ranged=name.strip().lower() in LONGITUDE_NAMES | LATITUDE_NAMES)
        for name in header
    ]


def inferred_schema(header: Sequence[str], stats: Sequence[ColumnStats]) -> dict[str, Any]:
    """The Frictionless Table Schema for a header and its observed columns."""
    fields = [
        {"name": name, "type": column.type or "string"}
        for name, column in zip(header, stats, strict=True)
    ]
    schema: dict[str, Any] = {"fields": fields, "missingValues": list(MISSING_VALUES)}
    point = _point(header, stats)
    if point is not None:
        schema[POINT_PROPERTY] = point
    return schema


def _point(header: Sequence[str], stats: Sequence[ColumnStats]) -> dict[str, str] | None:
    if any(column.type == GEOMETRY_TYPE for column in stats):
        return None
    longitude = _coordinate(header, stats, LONGITUDE_NAMES, 180)
    latitude = _coordinate(header, stats, LATITUDE_NAMES, 90)
    if longitude is None or latitude is None:
        return None
    return {"longitude": longitude, "latitude": latitude}


def _coordinate(
    header: Sequence[str], stats: Sequence[ColumnStats], names: frozenset[str], bound: float
) -> str | None:
    for name, column in zip(header, stats, strict=True):
        if name.strip().lower() not in names or column.type != "number":
            continue
        low, high = column.low, column.high
        if low is not None and high is not None and -bound <= low and high <= bound:
            return name
    return None
