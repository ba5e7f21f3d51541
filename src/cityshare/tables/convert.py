"""Converting a column of text cells to the values the database driver stores.

One converter is chosen per field, once; it takes a whole column of a batch and
returns its stored columns (one, or five for a geojson field: the text and its
bounding box). The values are what both drivers take without further work:

=========  =====================================================================
integer    ``int``
number     ``float`` (or an ``int`` the float column converts exactly)
boolean    ``bool``
date       ``"YYYY-MM-DD"`` text
datetime   ``"YYYY-MM-DD HH:MM:SS.ffffff"`` text in UTC, the form SQLAlchemy's
           SQLite DateTime stores and PostgreSQL reads as a timestamp
string     the text
geojson    compact GeoJSON text, then ``minx, miny, maxx, maxy`` floats
=========  =====================================================================

Each converter tries a column-wise fast path first (see :mod:`.parsing`); when it
does not fit, a per-cell path accepts the lenient forms a given schema allows
(``+5``, ``007``, ``1.5e3``, ``.5``, group and decimal characters, other ISO 8601
forms) and raises :class:`BadValue` at the first cell that still does not fit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from cityshare.tables.geometry import GeometryError, parse_geometry
from cityshare.tables.parsing import (
    INT64_MAX,
    INT64_MIN,
    integers,
    iso_dates,
    iso_datetimes,
    numbers,
    plain_datetimes,
    utc_naive,
)
from cityshare.tables.schema import FieldSpec

Converter = Callable[[Sequence[str]], list[Sequence[Any]]]
CellParser = Callable[[str], Any]

_INTEGER = re.compile(r"\s*[-+]?[0-9]+\s*")
_NUMBER = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")
_NO_GEOMETRY: tuple[None, None, None, None, None] = (None, None, None, None, None)


class BadValue(ValueError):
    """Cell ``index`` of a column does not fit the field; ``reason`` says why."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def converter_for(spec: FieldSpec, missing: frozenset[str], dialect: str) -> Converter:
    """The converter of one field, given the schema's missing values and the database
    (``sqlite`` or ``postgresql``)."""
    if spec.type == "string":
        return _strings(missing)
    if spec.canonical and missing == {""}:
        trusted = _trusted(spec, dialect)
        if trusted is not None:
            return trusted
    base = _CONVERTERS[spec.type](spec)
    if missing == {""}:
        return base
    return _with_missing(base, missing)


def _trusted(spec: FieldSpec, dialect: str) -> Converter | None:
    """Converters for columns inference saw whole in canonical form: text the database
    reads exactly is passed through (SQLite's integer affinity and PostgreSQL's number
    input are exact; SQLite's text-to-float is not, so floats are parsed here)."""
    if spec.type in ("integer", "date") or (spec.type == "number" and dialect == "postgresql"):
        return _passthrough
    return None


def _passthrough(cells: Sequence[str]) -> list[Sequence[Any]]:
    return [[cell or None for cell in cells] if "" in cells else cells]


def _plain_datetimes(cells: Sequence[str]) -> list[Sequence[Any]]:
    """``YYYY-MM-DDTHH:MM:SS`` (or with ``Z``; one shape per column) to the stored form,
    without parsing: on the joined text when there is no empty cell."""
    if "" in cells:
        return [[f"{c[:10]} {c[11:19]}.000000" if c else None for c in cells]]
    text = "\n".join(cells) + "\n"
    text = text.replace("T", " ").replace("Z\n", "\n").replace("\n", ".000000\n")
    return [text.split("\n")[:-1]]


def _with_missing(base: Converter, missing: frozenset[str]) -> Converter:
    empty_allowed = "" in missing

    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        if not empty_allowed and "" in cells:
            raise BadValue(list(cells).index(""), "is empty, and missingValues does not allow it")
        return base(["" if cell in missing else cell for cell in cells])

    return convert


def _strings(missing: frozenset[str]) -> Converter:
    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        if missing == {""}:
            return [[cell or None for cell in cells] if "" in cells else cells]
        return [[None if cell in missing else cell for cell in cells]]

    return convert


def _each(cells: Sequence[str], parse: CellParser) -> list[Any]:
    """``parse`` applied to every cell; BadValue naming the first cell it refuses."""
    try:
        return [parse(cell) for cell in cells]
    except (ValueError, OverflowError):
        for index, cell in enumerate(cells):
            try:
                parse(cell)
            except (ValueError, OverflowError) as error:
                raise BadValue(index, str(error)) from None
        raise


def _integer_converter(spec: FieldSpec) -> Converter:
    group = spec.group_char

    def parse(cell: str) -> int | None:
        if not cell:
            return None
        text = cell.replace(group, "") if group else cell
        if not _INTEGER.fullmatch(text):
            raise ValueError("is not an integer")
        value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("is out of the 64-bit integer range")
        return value

    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        values = None if group else integers(cells)
        return [values if values is not None else _each(cells, parse)]

    return convert


def _number_converter(spec: FieldSpec) -> Converter:
    group, decimal = spec.group_char, spec.decimal_char
    plain = not group and decimal == "."

    def parse(cell: str) -> float | None:
        if not cell:
            return None
        text = cell.replace(group, "") if group else cell
        text = text.replace(decimal, ".") if decimal != "." else text
        if not _NUMBER.fullmatch(text):
            raise ValueError("is not a number")
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("is not a finite number")
        return value

    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        values = numbers(cells) if plain else None
        return [values if values is not None else _each(cells, parse)]

    return convert


def _boolean_converter(spec: FieldSpec) -> Converter:
    table: dict[str, bool | None] = {value: False for value in spec.false_values}
    table.update({value: True for value in spec.true_values})
    table[""] = None
    expected = ", ".join([*spec.true_values, *spec.false_values])

    def parse(cell: str) -> bool | None:
        if cell not in table:
            raise ValueError(f"is not a boolean (expected one of {expected})")
        return table[cell]

    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        try:
            return [list(map(table.__getitem__, cells))]
        except KeyError:
            return [_each(cells, parse)]

    return convert


def _date_converter(spec: FieldSpec) -> Converter:
    pattern = spec.pattern

    def parse(cell: str) -> str | None:
        if not cell:
            return None
        if pattern is not None:
            return _strptime(cell, pattern, "date").date().isoformat()
        text = cell.strip()
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            value = _fromisoformat(text, "is not a date (YYYY-MM-DD)")
        if value.time() != datetime.min.time():
            raise ValueError("is a datetime, not a date")
        return value.date().isoformat()

    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        if pattern is None and iso_dates(_present(cells)):
            return [[cell or None for cell in cells] if "" in cells else cells]
        return [_each(cells, parse)]

    return convert


def _datetime_converter(spec: FieldSpec) -> Converter:
    pattern = spec.pattern

    def parse(cell: str) -> str | None:
        if not cell:
            return None
        if pattern is not None:
            value = _strptime(cell, pattern, "datetime")
        else:
            value = _fromisoformat(cell.strip(), "is not an ISO 8601 datetime")
        return utc_naive(value).isoformat(" ", "microseconds")

    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        present = _present(cells)
        shape = plain_datetimes(present) if pattern is None else ""
        # Canonical columns were already validated by inference.
        if shape and (spec.canonical or iso_datetimes(present)):
            return _plain_datetimes(cells)
        return [_each(cells, parse)]

    return convert


def _geojson_converter(spec: FieldSpec) -> Converter:
    def convert(cells: Sequence[str]) -> list[Sequence[Any]]:
        rows: list[tuple[Any, ...]] = []
        for index, cell in enumerate(cells):
            if not cell:
                rows.append(_NO_GEOMETRY)
                continue
            try:
                rows.append(parse_geometry(cell))
            except GeometryError as error:
                raise BadValue(index, f"is not a valid GeoJSON geometry: {error}") from None
        if not rows:
            return [[], [], [], [], []]
        return [list(column) for column in zip(*rows, strict=True)]

    return convert


def _present(cells: Sequence[str]) -> Sequence[str]:
    return [cell for cell in cells if cell] if "" in cells else cells


def _fromisoformat(text: str, reason: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(reason) from None


def _strptime(cell: str, pattern: str, kind: str) -> datetime:
    try:
        return datetime.strptime(cell.strip(), pattern)
    except ValueError:
        raise ValueError(f"is not a {kind} in the format {pattern}") from None


_CONVERTERS: dict[str, Callable[[FieldSpec], Converter]] = {
    "integer": _integer_converter,
    "number": _number_converter,
    "boolean": _boolean_converter,
    "date": _date_converter,
    "datetime": _datetime_converter,
    "geojson": _geojson_converter,
}
