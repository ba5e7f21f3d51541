"""Reading JSON, NDJSON and GeoJSON uploads as column batches, streaming.

* ``application/json``: an array of objects, or objects one after another (NDJSON,
  or any whitespace between them);
* ``application/x-ndjson``: objects one after another;
* ``application/geo+json``: a FeatureCollection. Each feature's properties become
  fields and its geometry a ``geojson`` field named ``geometry``, which comes first.

The header is the union of the objects' keys in first-seen order, so it is only
complete after one pass (:attr:`JsonSource.needs_scan`). Values become text cells:
``null`` an empty cell, booleans ``true``/``false``, numbers their shortest text,
nested objects and arrays their compact JSON text (nesting deeper than
``max_json_depth`` is refused).
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from cityshare.config import Limits
from cityshare.errors import InvalidData
from cityshare.tables.jsonwindow import JsonWindow
from cityshare.tables.model import GEOMETRY_TYPE
from cityshare.tables.source import Batch, check_cells, check_column_count, shown

BATCH_ROWS = 1000
MAX_VALUE_CHARS = 64 * 1024 * 1024
GEOMETRY_FIELD = "geometry"
_WGS84 = frozenset(
    name.lower()
    for name in (
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "CRS84",
        "OGC:CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG:6.6:4326",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
    )
)

Record = tuple[dict[str, Any], Any]  # (properties, geometry or None)


class JsonSource:
    """A JSON, NDJSON or GeoJSON upload; see the module docstring."""

    def __init__(self, path: Path, encoding: str, limits: Limits, *, geojson: bool) -> None:
        self._path = path
        self._encoding = encoding
        self._limits = limits
        self._geojson = geojson
        self._index: dict[str, int] = {GEOMETRY_FIELD: 0} if geojson else {}
        self._order: list[str] = list(self._index)
        self._ordered = False

    @property
    def header(self) -> list[str]:
        """The keys seen so far, in first-seen order (after :meth:`use_order`, that order)."""
        return self._order

    @property
    def fixed_types(self) -> dict[str, str]:
        """A FeatureCollection's ``geometry`` column is always GeoJSON."""
        return {GEOMETRY_FIELD: GEOMETRY_TYPE} if self._geojson else {}

    @property
    def needs_scan(self) -> bool:
        """The header is the union of all keys: one pass is needed to know it."""
        return True

    def use_order(self, names: list[str]) -> None:
        """Produce columns in the order of ``names`` (the keys of a given schema)."""
        self._order = list(names)
        self._ordered = True

    def batches(self) -> Generator[Batch, None, None]:
        """The records from the start of the file, in batches; learns new keys on the way."""
        with self._path.open(encoding=self._encoding, errors="strict", newline="") as stream:
            window = JsonWindow(stream, MAX_VALUE_CHARS)
            records = _features(window) if self._geojson else _objects(window)
            first = 1
            while chunk := list(islice(records, BATCH_ROWS)):
                self._learn(chunk)
                batch = Batch(self._columns(chunk, first), first, len(chunk))
                check_cells(batch, self._order, self._limits, unlimited=list(self.fixed_types))
                yield batch
                first += len(chunk)

    def _learn(self, chunk: list[Record]) -> None:
        index = self._index
        for properties, _geometry in chunk:
            if properties.keys() <= index.keys():
                continue
            for key in properties:
                if key not in index:
                    if self._ordered:
                        raise InvalidData(f"The file changed while it was read (key '{key}').")
                    index[key] = len(index)
                    self._order.append(key)
            check_column_count(len(index), self._limits)

    def _columns(self, chunk: list[Record], first: int) -> list[list[str]]:
        # Depth of the objects holding the cells: properties 4; array items 2.
        base = 4 if self._geojson else 2
        columns = []
        for name in self._order:
            if self._geojson and name == GEOMETRY_FIELD:
                geometries = [geometry for _properties, geometry in chunk]
                columns.append(_geometry_cells(geometries, first))
                continue
            values = [properties.get(name) for properties, _geometry in chunk]
            try:
                columns.append([_cell(value, base, self._limits) for value in values])
            except ValueError:
                _locate_bad_cell(values, name, first, base, self._limits)
        return columns


def _geometry_cells(geometries: list[Any], first: int) -> list[str]:
    """Compact JSON text of each geometry ("" for null). Their nesting is checked by the
    geometry validation when they are loaded, which knows each type's depth."""
    cells = []
    for offset, geometry in enumerate(geometries):
        try:
            cells.append("" if geometry is None else orjson.dumps(geometry).decode())
        except orjson.JSONEncodeError:
            row = first + offset
            raise InvalidData(
                f"Row {row}, column '{GEOMETRY_FIELD}': a number is out of range.",
                row=row,
                column=GEOMETRY_FIELD,
            ) from None
    return cells


def _cell(value: Any, base: int, limits: Limits) -> str:
    """The text cell of a JSON value; ValueError for a value that cannot be stored."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("the number is too large")
        return repr(value)
    if base + json_depth(value) > limits.max_json_depth:
        raise ValueError(f"the value is nested deeper than {limits.max_json_depth} levels")
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise ValueError("a number in the value is too large (not finite)") from None


def _locate_bad_cell(values: list[Any], name: str, first: int, base: int, limits: Limits) -> None:
    for offset, value in enumerate(values):
        try:
            _cell(value, base, limits)
        except ValueError as error:
            row = first + offset
            raise InvalidData(
                f"Row {row}, column '{shown(name)}': {error}.", row=row, column=name
            ) from None


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests objects and arrays (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            children: Any = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return deepest


def _objects(window: JsonWindow) -> Iterator[Record]:
    """Objects of an array, or objects one after another."""
    first = window.peek()
    if first == "[":
        items = _whole_array(window)
    elif first == "{":
        items = _concatenated(window)
    elif first == "":
        raise InvalidData("The file is empty.")
    else:
        window.fail("expected an array of objects, or objects one per line")
    for number, item in enumerate(items, start=1):
        if type(item) is not dict:
            window.fail(f"element {number} is not an object")
        if number == 1 and item.get("type") == "FeatureCollection":
            window.fail("this is GeoJSON; upload it as application/geo+json (.geojson)")
        yield item, None


def _array(window: JsonWindow) -> Iterator[Any]:
    window.expect("[", "'['")
    if window.peek() == "]":
        window.expect("]", "']'")
        return
    while True:
        yield window.value()
        if window.peek() == ",":
            window.expect(",", "','")
            continue
        window.expect("]", "',' or ']'")
        return


def _whole_array(window: JsonWindow) -> Iterator[Any]:
    yield from _array(window)
    if window.peek():
        window.fail("unexpected data after the array")


def _concatenated(window: JsonWindow) -> Iterator[Any]:
    while window.peek():
        yield window.value()


def _features(window: JsonWindow) -> Iterator[Record]:
    """The features of a FeatureCollection, checking its ``type`` and ``crs`` members."""
    window.expect("{", "a GeoJSON FeatureCollection object")
    members: set[str] = set()
    while window.peek() != "}":
        key = window.value()
        if type(key) is not str:
            window.fail("expected a member name")
        window.expect(":", "':'")
        members.add(key)
        if key == "features":
            for number, feature in enumerate(_array(window), start=1):
                yield _feature(feature, number)
        else:
            _check_member(key, window.value())
        if window.peek() != ",":
            break
        window.expect(",", "','")
        if window.peek() == "}":
            window.fail("expected a member name after ','")
    window.expect("}", "',' or '}'")
    if window.peek():
        window.fail("unexpected data after the FeatureCollection")
    if "type" not in members or "features" not in members:
        raise InvalidData("The file is not a GeoJSON FeatureCollection (no type or features).")


def _check_member(key: str, value: Any) -> None:
    if key == "type" and value != "FeatureCollection":
        raise InvalidData(
            f"Expected a GeoJSON FeatureCollection, found type '{shown(str(value))}'."
        )
    if key == "crs" and value is not None and not _is_wgs84(value):
        raise InvalidData(
            f"Unknown CRS {shown(json.dumps(value))}: GeoJSON coordinates must be WGS 84 "
            "longitude/latitude (RFC 7946); reproject the file (for example with ogr2ogr)."
        )


def _is_wgs84(crs: Any) -> bool:
    if type(crs) is not dict or type(crs.get("properties")) is not dict:
        return False
    name = crs["properties"].get("name")
    return crs.get("type") == "name" and type(name) is str and name.strip().lower() in _WGS84


def _feature(feature: Any, number: int) -> Record:
    if type(feature) is not dict or feature.get("type") != "Feature":
        raise InvalidData(f"Feature {number} is not a GeoJSON Feature object.", row=number)
    properties = feature.get("properties")
    geometry = feature.get("geometry")
    if properties is None:
        properties = {}
    if type(properties) is dict and GEOMETRY_FIELD in properties:
        raise InvalidData(
            f"Feature {number} has a property named '{GEOMETRY_FIELD}', which clashes with "
            "the geometry field. Duplicate column names: 'geometry'.",
            row=number,
            duplicates=[GEOMETRY_FIELD],
        )
    if type(properties) is not dict or (geometry is not None and type(geometry) is not dict):
        raise InvalidData(
            f"Feature {number}: properties and geometry must be objects or null.", row=number
        )
    return properties, geometry
