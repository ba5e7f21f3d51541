"""Checking GeoJSON geometries (RFC 7946) and computing their bounding boxes.

A geometry is accepted when its type is known, its coordinates nest as the type
says, every position has 2 or 3 finite numbers with longitude in [-180, 180] and
latitude in [-90, 90] (WGS 84, the only GeoJSON CRS), line strings have 2 or more
positions, polygon rings 4 or more and are closed, and the whole geometry has at
most :data:`MAX_VERTICES` positions.

>>> parse_geometry('{"type": "Point", "coordinates": [4.35, 50.85]}')
('{"type":"Point","coordinates":[4.35,50.85]}', 4.35, 50.85, 4.35, 50.85)
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import orjson

MAX_VERTICES = 1_000_000
MAX_COLLECTION_DEPTH = 8

# How many list levels sit above the positions of each type.
_NESTING = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
GEOMETRY_TYPES = frozenset([*_NESTING, "GeometryCollection"])

BBox = tuple[float | None, float | None, float | None, float | None]


class GeometryError(ValueError):
    """The reason a value is not an acceptable GeoJSON geometry."""


def parse_geometry(text: str) -> tuple[str, float | None, float | None, float | None, float | None]:
    """Compact GeoJSON text and bounding box of the geometry in ``text``; GeometryError if bad."""
    try:
        geometry = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise GeometryError("not valid JSON (or a number is not finite)") from None
    minx, miny, maxx, maxy = geometry_bbox(geometry)
    try:
        compact = orjson.dumps(geometry).decode()
    except TypeError:
        raise GeometryError("a number is out of range") from None
    return compact, minx, miny, maxx, maxy


def is_geometry_text(text: str) -> bool:
    """True when ``text`` is an acceptable GeoJSON geometry."""
    if not text.startswith("{"):
        return False
    try:
        geometry_bbox(orjson.loads(text))
    except (orjson.JSONDecodeError, GeometryError):
        return False
    return True


def geometry_bbox(geometry: Any) -> BBox:
    """The (minx, miny, maxx, maxy) of a geometry object, all None when it is empty."""
    positions: list[Any] = []
    _collect(geometry, positions, 0)
    if len(positions) > MAX_VERTICES:
        raise GeometryError(f"more than {MAX_VERTICES} positions")
    if not positions:
        return None, None, None, None
    return _bbox(positions)


def _collect(geometry: Any, positions: list[Any], depth: int) -> None:
    if type(geometry) is not dict:
        raise GeometryError("a geometry must be an object")
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        members = geometry.get("geometries")
        if type(members) is not list or depth >= MAX_COLLECTION_DEPTH:
            raise GeometryError("a GeometryCollection needs a list of geometries")
        for member in members:
            _collect(member, positions, depth + 1)
        return
    nesting = _NESTING.get(kind) if type(kind) is str else None
    if nesting is None:
        raise GeometryError(f"unknown geometry type {str(kind)[:40]!r}")
    coordinates = geometry.get("coordinates")
    if nesting == 0:
        positions.append(coordinates)
        return
    groups = _groups(coordinates, nesting - 1)
    if sum(map(len, groups)) + len(positions) > MAX_VERTICES:
        raise GeometryError(f"more than {MAX_VERTICES} positions")
    for group in groups:
        if set(map(type, group)) - {list}:
            raise GeometryError("coordinates do not nest as the geometry type requires")
        _check_group(kind, group)
        positions.extend(group)


def _groups(coordinates: Any, levels: int) -> list[list[Any]]:
    """The innermost lists of positions, ``levels`` list levels down."""
    groups = [coordinates]
    for _ in range(levels):
        if not all(type(group) is list for group in groups):
            raise GeometryError("coordinates do not nest as the geometry type requires")
        groups = list(chain.from_iterable(groups))
    if not all(type(group) is list for group in groups):
        raise GeometryError("coordinates do not nest as the geometry type requires")
    return groups


def _check_group(kind: Any, group: list[Any]) -> None:
    if kind in ("LineString", "MultiLineString") and len(group) < 2:
        raise GeometryError("a line string needs 2 or more positions")
    if kind in ("Polygon", "MultiPolygon"):
        if len(group) < 4:
            raise GeometryError("a polygon ring needs 4 or more positions")
        if group[0] != group[-1]:
            raise GeometryError("a polygon ring is not closed (first and last positions differ)")


def _bbox(positions: list[Any]) -> tuple[float, float, float, float]:
    if set(map(type, positions)) != {list}:
        raise GeometryError("a position must be an array of numbers")
    sizes = set(map(len, positions))
    if not sizes <= {2, 3}:
        raise GeometryError("a position must have 2 or 3 numbers")
    numbers = list(chain.from_iterable(positions))
    if not set(map(type, numbers)) <= {int, float} or not all(map(math.isfinite, numbers)):
        raise GeometryError("coordinates must be finite numbers")
    if sizes == {2}:
        xs, ys = numbers[0::2], numbers[1::2]
    else:
        xs, ys = [p[0] for p in positions], [p[1] for p in positions]
    minx, maxx, miny, maxy = min(xs), max(xs), min(ys), max(ys)
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(
            "coordinates are outside WGS 84 longitude/latitude ranges (is the file in another CRS?)"
        )
    return float(minx), float(miny), float(maxx), float(maxy)
