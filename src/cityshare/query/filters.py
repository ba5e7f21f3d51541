"""Row filters: ``field=value``, ``field__op=value`` and ``bbox``; parsing and SQL.

Operators: ``eq`` (also the bare ``field=value``), ``ne``, ``gt``, ``gte``, ``lt``,
``lte``, ``in`` (comma-separated, at most :data:`MAX_IN_ITEMS`), ``contains`` and
``startswith`` (text fields, case-sensitive) and ``isnull`` (``true``/``false``).
Comparisons never match NULL cells; ``__isnull=true`` finds them. A ``contains`` text
has at most :data:`MAX_CONTAINS_CHARS` characters: the engines' substring search costs
up to the product of the cell's and the text's lengths in one call, which no time limit
can interrupt.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, literal

from cityshare.errors import BadRequest
from cityshare.query.dialect import contains, ordered, startswith
from cityshare.query.spec import BBox, Filter
from cityshare.query.values import field_list, parse_boolean, parse_number, parse_value, shown
from cityshare.tables.model import GEOMETRY_TYPE, PSEUDONYM_TYPE, Field, VersionTable

MAX_IN_ITEMS = 1000
MAX_CONTAINS_CHARS = 1000  # as CKAN's q (query.offset.MAX_TEXT_CHARS)
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "isnull")
ORDERED_TYPES = ("integer", "number", "date", "datetime", "string")
TEXT_OPERATORS = ("contains", "startswith")
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")


def resolve_filter_name(version: VersionTable, name: str) -> tuple[Field, str] | None:
    """The field and operator a filter parameter name means, or None.

    A field whose whole name matches wins, so a field called ``a__gt`` is
    filtered by ``a__gt=value`` and compared with ``a__gt__gt=value``.
    """
    field = version.field(name)
    if field is not None:
        return field, "eq"
    base, separator, op = name.rpartition("__")
    if not separator or op not in OPERATORS:
        return None
    field = version.field(base)
    return (field, op) if field is not None else None


def parse_filter(version: VersionTable, name: str, raw: str) -> Filter:
    """A validated filter from one query parameter (BadRequest when it is not one)."""
    resolved = resolve_filter_name(version, name)
    if resolved is None:
        raise BadRequest(
            f"Unknown parameter '{shown(name)}': it is neither a field of this dataset "
            f"({field_list(version)}), a filter field__op (op one of {', '.join(OPERATORS)}), "
            "nor a reserved parameter.",
            parameter=shown(name),
        )
    field, op = resolved
    if field.type == PSEUDONYM_TYPE:
        raise BadRequest(
            f"Parameter '{shown(name)}': field '{field.name}' is pseudonymised under your "
            "grant; it can be returned, grouped and counted, but not filtered.",
            parameter=shown(name),
        )
    _check_operator(field, op, name)
    if op == "contains" and len(raw) > MAX_CONTAINS_CHARS:
        raise BadRequest(
            f"Parameter '{shown(name)}': a contains text has at most {MAX_CONTAINS_CHARS} "
            "characters.",
            parameter=shown(name),
        )
    return Filter(field=field, op=op, value=_typed(field, op, name, raw), raw=raw)


def _check_operator(field: Field, op: str, parameter: str) -> None:
    allowed: tuple[str, ...]
    if field.type == GEOMETRY_TYPE:
        allowed = ("isnull",)
    elif field.type == "boolean":
        allowed = ("eq", "ne", "in", "isnull")
    elif field.type == "string":
        allowed = OPERATORS
    else:
        allowed = tuple(op for op in OPERATORS if op not in TEXT_OPERATORS)
    if op not in allowed:
        raise BadRequest(
            f"Parameter '{shown(parameter)}': operator '{op}' does not apply to field "
            f"'{field.name}' of type {field.type}; allowed: {', '.join(allowed)}.",
            parameter=shown(parameter),
            operator=op,
            allowed=list(allowed),
        )


def _typed(field: Field, op: str, parameter: str, raw: str) -> Any:
    if op == "isnull":
        try:
            return parse_boolean(raw)
        except ValueError:
            raise BadRequest(
                f"Parameter '{shown(parameter)}': '{shown(raw)}' is not true, false, 1 or 0.",
                parameter=shown(parameter),
                value=shown(raw),
            ) from None
    if op == "in":
        items = raw.split(",")
        if len(items) > MAX_IN_ITEMS:
            raise BadRequest(
                f"Parameter '{shown(parameter)}': {len(items)} values; at most "
                f"{MAX_IN_ITEMS} are allowed.",
                parameter=shown(parameter),
                maximum=MAX_IN_ITEMS,
            )
        return tuple(parse_value(field, item, parameter) for item in items)
    return parse_value(field, raw, parameter)


def filter_clause(table: Table, item: Filter, dialect: str) -> ColumnElement[bool]:
    """The SQL condition of one filter; every value is a bound parameter."""
    column = table.c[item.field.column]
    value = item.value
    if item.op == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if item.op == "in":
        return column.in_(list(value))
    if item.op == "contains":
        return contains(column, value, dialect)
    if item.op == "startswith":
        return startswith(column, value)
    if item.op in RANGE_OPERATORS:
        return _range(ordered(column, item.field.type, dialect), item.op, value, column)
    bound = literal(value, column.type)
    return column == bound if item.op == "eq" else column != bound


def _range(
    target: ColumnElement[Any], op: str, value: Any, column: ColumnElement[Any]
) -> ColumnElement[bool]:
    bound = literal(value, column.type)
    if op == "gt":
        return target > bound
    if op == "gte":
        return target >= bound
    if op == "lt":
        return target < bound
    return target <= bound


def parse_bbox(version: VersionTable, raw: str) -> BBox:
    """``minx,miny,maxx,maxy`` in degrees, for a version with a geometry."""
    if not version.has_geometry:
        raise BadRequest(
            "Parameter 'bbox': this dataset has no geometry (no geojson field and no "
            "longitude/latitude pair).",
            parameter="bbox",
            value=shown(raw),
        )
    parts = raw.split(",")
    try:
        if len(parts) != 4:
            raise ValueError(raw)
        minx, miny, maxx, maxy = (parse_number(part.strip()) for part in parts)
    except ValueError:
        raise _bad_bbox(raw, "four finite numbers minx,miny,maxx,maxy") from None
    box = BBox(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
    if not _in_range(box) and _in_range(swapped(box)):
        raise swapped_bbox(raw)
    if not (-180 <= minx <= maxx <= 180):
        raise _bad_bbox(raw, "longitudes in [-180, 180] with minx <= maxx")
    if not (-90 <= miny <= maxy <= 90):
        raise _bad_bbox(raw, "latitudes in [-90, 90] with miny <= maxy")
    return box


def swapped(box: BBox) -> BBox:
    """``box`` with longitude and latitude exchanged."""
    return BBox(minx=box.miny, miny=box.minx, maxx=box.maxy, maxy=box.maxx)


def swapped_bbox(raw: str) -> BadRequest:
    """The refusal of a box given latitude first."""
    return BadRequest(
        f"Parameter 'bbox': '{shown(raw)}' looks like latitude before longitude. Give "
        "longitude first: minLon,minLat,maxLon,maxLat (x before y, as in GeoJSON), e.g. "
        "bbox=-0.20,51.45,-0.05,51.55.",
        parameter="bbox",
        value=shown(raw),
        expected="minLon,minLat,maxLon,maxLat",
    )


def _in_range(box: BBox) -> bool:
    return -180 <= box.minx <= box.maxx <= 180 and -90 <= box.miny <= box.maxy <= 90


def _bad_bbox(raw: str, expected: str) -> BadRequest:
    return BadRequest(
        f"Parameter 'bbox': '{shown(raw)}' is not a valid box; expected {expected}.",
        parameter="bbox",
        value=shown(raw),
        expected=expected,
    )


def bbox_clause(version: VersionTable, box: BBox) -> ColumnElement[bool]:
    """Rows whose geometry's bounding box overlaps ``box`` (geojson field), else whose
    longitude/latitude point lies inside it (edges included)."""
    table = version.table
    if version.geometry is not None:
        minx, miny, maxx, maxy = (table.c[name] for name in version.geometry.bbox_columns())
        return and_(maxx >= box.minx, minx <= box.maxx, maxy >= box.miny, miny <= box.maxy)
    if version.point is None:  # pragma: no cover - parse_bbox refuses such versions
        return false()
    lon = table.c[version.point.longitude.column]
    lat = table.c[version.point.latitude.column]
    return and_(lon.between(box.minx, box.maxx), lat.between(box.miny, box.maxy))


def where_clauses(
    version: VersionTable, filters: tuple[Filter, ...], box: BBox | None, dialect: str
) -> list[ColumnElement[bool]]:
    """All conditions of a query (filters and bbox), to be ANDed."""
    clauses = [filter_clause(version.table, item, dialect) for item in filters]
    if box is not None:
        clauses.append(bbox_clause(version, box))
    return clauses
