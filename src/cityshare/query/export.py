"""Streamed exports: CSV, NDJSON and GeoJSON, of rows or of aggregate groups.

``stream_export(engine, plan)`` is a generator of byte chunks that opens its own
connection when iteration starts and closes it when iteration ends (or is
abandoned); rows come through a server-side cursor ``STREAM_CHUNK_ROWS`` at a time,
so memory stays bounded whatever the size of the result.

A limited export (``_limit`` given) may have more rows. The response headers go
out before the body, so the adapter asks first::

    cursor = export_next_cursor(engine, plan)   # None, or the cursor after this part
    if cursor:
        headers["Link"] = f'<{url_with(_next=cursor)}>; rel="next"'
    return StreamingResponse(stream_export(engine, plan), media_type=plan.media_type,
                             headers=headers)

``export_next_cursor`` reads only the sort keys and ``_id`` of at most
``_limit + 1`` rows (an index range, like a JSON page).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, Row, Select

from cityshare.query.aggregate import group_row, has_pseudonym_keys, order_groups
from cityshare.query.plan import QueryPlan
from cityshare.query.rows import (
    STREAM_CHUNK_ROWS,
    Projection,
    aggregate_statement,
    iter_rows,
    next_cursor,
    projection,
)
from cityshare.query.spec import AggregateSpec
from cityshare.query.values import parse_geojson

CHUNK_BYTES = 64 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def stream_export(engine: Engine, plan: QueryPlan) -> Iterator[bytes]:
    """The export body of ``plan`` (csv, ndjson or geojson) as byte chunks."""
    if not plan.is_export:
        raise ValueError("stream_export serves csv, ndjson and geojson plans")
    with engine.connect() as connection:
        yield from _chunks(_encoded(connection, plan))


def export_next_cursor(engine: Engine, plan: QueryPlan) -> str | None:
    """The cursor after a limited row export, or None when nothing follows it."""
    if not plan.pages or plan.limit is None:
        return None
    view = projection(plan, fields=())
    with engine.connect() as connection:
        rows = list(iter_rows(connection, plan, view, plan.limit + 1))
    return next_cursor(plan, view, rows)


def neutralise(cell: str) -> str:
    """A text cell made safe for spreadsheets: formula-like text gets a leading ``'``."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def csv_cell(value: Any) -> str:
    """A JSON-native value as CSV text (only text cells are neutralised)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return neutralise(value)
    return orjson.dumps(value).decode()


def _encoded(connection: Connection, plan: QueryPlan) -> Iterator[bytes]:
    if plan.format == "csv":
        return csv_chunks(_names(plan), _records(connection, plan))
    if plan.format == "ndjson":
        return (orjson.dumps(record) + b"\n" for record in _records(connection, plan))
    return _features(connection, plan)


def _names(plan: QueryPlan) -> list[str]:
    if plan.aggregate is not None:
        return list(plan.aggregate.output_names)
    return [field.name for field in plan.fields]


def _records(connection: Connection, plan: QueryPlan) -> Iterator[dict[str, Any]]:
    if plan.aggregate is not None:
        spec = plan.aggregate
        statement = aggregate_statement(connection, plan)
        if has_pseudonym_keys(spec):
            return _pseudonym_groups(connection, statement, spec, plan.limit)
        if plan.limit is not None:
            statement = statement.limit(plan.limit)
        return _groups(connection, statement, spec)
    view = projection(plan)
    rows = iter_rows(connection, plan, view, plan.limit, stream=True)
    return (view.record(row) for row in rows)


def _groups(
    connection: Connection, statement: Select[Any], spec: AggregateSpec
) -> Iterator[dict[str, Any]]:
    streaming = connection.execution_options(stream_results=True, yield_per=STREAM_CHUNK_ROWS)
    with streaming.execute(statement) as result:
        for row in result:
            yield group_row(spec, tuple(row))


def _pseudonym_groups(
    connection: Connection, statement: Select[Any], spec: AggregateSpec, limit: int | None
) -> Iterator[dict[str, Any]]:
    groups = order_groups(spec, list(_groups(connection, statement, spec)))
    return iter(groups if limit is None else groups[:limit])


def csv_chunks(names: list[str], records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """CSV with a header row, in chunks of about ``CHUNK_BYTES``; text cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(name) for name in names])
    for record in records:
        writer.writerow([csv_cell(record[name]) for name in names])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _geometry_view(plan: QueryPlan) -> tuple[Projection, str]:
    version = plan.version
    table = version.table
    extras: tuple[ColumnElement[Any], ...]
    if version.geometry is not None:
        extras, kind = (table.c[version.geometry.column],), "geojson"
    else:
        assert version.point is not None
        point = version.point
        extras = (table.c[point.longitude.column], table.c[point.latitude.column])
        kind = "point"
    properties = tuple(field for field in plan.fields if field != version.geometry)
    return projection(plan, fields=properties, extras=extras), kind


def _features(connection: Connection, plan: QueryPlan) -> Iterator[bytes]:
    view, kind = _geometry_view(plan)
    yield b'{"type":"FeatureCollection","features":['
    separator = b""
    for row in iter_rows(connection, plan, view, plan.limit, stream=True):
        feature = {
            "type": "Feature",
            "geometry": _geometry(view, row, kind),
            "properties": view.record(row),
        }
        yield separator + orjson.dumps(feature)
        separator = b","
    yield b"]}"


def _geometry(view: Projection, row: Row[Any], kind: str) -> Any:
    if kind == "geojson":
        text = view.extra_value(row, 0)
        return parse_geojson(text) if isinstance(text, str) else None
    lon, lat = view.extra_value(row, 0), view.extra_value(row, 1)
    if lon is None or lat is None:
        return None
    return {"type": "Point", "coordinates": [float(lon), float(lat)]}


def _chunks(parts: Iterable[bytes]) -> Iterator[bytes]:
    pending: list[bytes] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= CHUNK_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)
