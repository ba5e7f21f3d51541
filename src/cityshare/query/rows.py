"""Running a plan: row pages with keyset cursors, counts, aggregates, as JSON.

``run_json`` answers::

    rows:       {"rows": [{field: value, ...}, ...], "next": "<cursor>" | null,
                 "total": N}                       # "total" only with _count=true
    aggregates: {"groups": [{key: value, ..., "count": N, "avg:f": x}, ...],
                 "truncated": true | false}        # true when _limit cut groups off
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, Table, func, select

from cityshare.lru import LruCache
from cityshare.query.aggregate import (
    aggregate_select,
    group_row,
    has_pseudonym_keys,
    order_groups,
)
from cityshare.query.datetime_text import iso_datetime_text
from cityshare.query.filters import swapped, swapped_bbox, where_clauses
from cityshare.query.keyset import resolve_position, segments
from cityshare.query.plan import QueryPlan
from cityshare.query.spec import Position, SortKey
from cityshare.query.values import field_converter
from cityshare.tables.model import ROW_ID, Field

STREAM_CHUNK_ROWS = 2000
# Projections kept per version table (distinct _fields and _sort asked of it).
PROJECTIONS_PER_TABLE = 64
_PROJECTIONS = "cityshare.projections"


@dataclass(frozen=True)
class Projection:
    """Selected columns: output ``fields``, then the sort keys, then ``_id``, then
    ``extras`` (e.g. geometry columns for GeoJSON)."""

    fields: tuple[Field, ...]
    keys: int
    columns: tuple[ColumnElement[Any], ...]
    base: Select[Any]  # SELECT columns FROM the table, to add conditions and order to
    names: tuple[str, ...] = ()
    converters: tuple[tuple[int, str, Callable[[Any], Any]], ...] = ()

    def record(self, row: Row[Any]) -> dict[str, Any]:
        """The output fields of ``row`` as a JSON-native dict."""
        # zip stops at the output fields; sort keys and _id follow them in the row.
        record = dict(zip(self.names, row, strict=False))
        for index, name, convert in self.converters:
            value = row[index]
            if value is not None:
                record[name] = convert(value)
        return record

    def records(self, rows: list[Row[Any]]) -> list[dict[str, Any]]:
        """:meth:`record` of each row (without a call per row when nothing converts)."""
        if self.converters:
            return [self.record(row) for row in rows]
        names = self.names
        return [dict(zip(names, row, strict=False)) for row in rows]

    def key_values(self, row: Row[Any]) -> tuple[Any, ...]:
        """The sort key values of ``row``."""
        start = len(self.fields)
        return tuple(row[start : start + self.keys])

    def row_id(self, row: Row[Any]) -> int:
        """The ``_id`` of ``row``."""
        return int(row[len(self.fields) + self.keys])

    def extra_value(self, row: Row[Any], index: int) -> Any:
        """Extra column ``index`` of ``row``."""
        return row[len(self.fields) + self.keys + 1 + index]


def projection(
    plan: QueryPlan,
    fields: tuple[Field, ...] | None = None,
    extras: tuple[ColumnElement[Any], ...] = (),
) -> Projection:
    """The columns a row query selects (``plan.fields`` unless ``fields`` is given).

    A version's table never changes, so a projection without extras is built once per
    table, fields and sort, and kept on the table (a bounded number of them). Readers
    share them: the key is the Field objects themselves, compared by every attribute
    (type and pseudonym key included), so one grant's projection never serves another's
    view (a tuple key is all the per-request work)."""
    chosen = plan.fields if fields is None else fields
    if extras:
        return _build_projection(plan.version.table, chosen, plan.sort, extras)
    cache = _projections(plan.version.table)
    key = (chosen, plan.sort)
    built = cache.get(key)
    if built is None:
        built = cache.put(key, _build_projection(plan.version.table, chosen, plan.sort, ()))
    return built


def _projections(table: Table) -> LruCache[tuple[object, ...], Projection]:
    cache = table.info.get(_PROJECTIONS)
    if cache is None:  # two threads may both make one; either serves
        cache = table.info.setdefault(_PROJECTIONS, LruCache(PROJECTIONS_PER_TABLE))
    return cache  # type: ignore[no-any-return]


def _build_projection(
    table: Table,
    chosen: tuple[Field, ...],
    sort: tuple[SortKey, ...],
    extras: tuple[ColumnElement[Any], ...],
) -> Projection:
    columns = (
        *(_output_column(table.c[field.column], field) for field in chosen),
        *(table.c[key.field.column] for key in sort),
        table.c[ROW_ID],
        *extras,
    )
    converters = tuple(
        (index, field.name, convert)
        for index, field in enumerate(chosen)
        if not _reads_as_text(field) and (convert := field_converter(field)) is not None
    )
    return Projection(
        fields=chosen,
        keys=len(sort),
        columns=columns,
        names=tuple(field.name for field in chosen),
        converters=converters,
        base=select(*columns).select_from(table),
    )


def _output_column(column: ColumnElement[Any], field: Field) -> ColumnElement[Any]:
    if field.type == "datetime":
        return iso_datetime_text(column).label(field.column)
    return column


def _reads_as_text(field: Field) -> bool:
    """Whether the query reads ``field`` as its output already (a datetime, see
    :mod:`.datetime_text`); a pseudonym field's values are hashed from that text."""
    return field.type == "datetime" and field.key is None


def start_position(connection: Connection, plan: QueryPlan) -> Position | None:
    """The plan's cursor position with its sort key values known."""
    if plan.position is None:
        return None
    return resolve_position(connection, plan.version.table, plan.sort, plan.position)


def row_statements(
    plan: QueryPlan,
    view: Projection,
    dialect: str,
    position: Position | None,
) -> Iterator[Select[Any]]:
    """One SELECT per keyset segment, in output order (see :mod:`.keyset`)."""
    where = where_clauses(plan.version, plan.filters, plan.bbox, dialect)
    for segment in segments(plan.version.table, plan.sort, position, dialect):
        yield view.base.where(*where, *segment.conditions).order_by(*segment.order_by)


def iter_rows(
    connection: Connection,
    plan: QueryPlan,
    view: Projection,
    limit: int | None,
    *,
    stream: bool = False,
) -> Iterator[Row[Any]]:
    """Rows after the plan's position in order, at most ``limit`` (None: all);
    ``stream`` reads through a server-side cursor in chunks."""
    position = start_position(connection, plan)
    remaining = limit
    if stream:
        connection = connection.execution_options(stream_results=True, yield_per=STREAM_CHUNK_ROWS)
    for statement in row_statements(plan, view, connection.dialect.name, position):
        if remaining is not None:
            if remaining <= 0:
                return
            statement = statement.limit(remaining)
        with connection.execute(statement) as result:  # closes a server cursor early too
            # A bounded page is fetched in one call; a stream is read chunk by chunk.
            fetched = result if stream or remaining is None else result.all()
            for row in fetched:
                yield row
                if remaining is not None:
                    remaining -= 1


def count_rows(connection: Connection, plan: QueryPlan) -> int:
    """The exact number of rows matching the filters and bbox."""
    dialect = connection.dialect.name
    statement = select(func.count()).select_from(plan.version.table)
    statement = statement.where(*where_clauses(plan.version, plan.filters, plan.bbox, dialect))
    return int(connection.execute(statement).scalar_one())


def next_cursor(plan: QueryPlan, view: Projection, rows: list[Row[Any]]) -> str | None:
    """The cursor after the page when ``rows`` (read with limit + 1) has one row more."""
    if plan.limit is None or len(rows) <= plan.limit:
        return None
    last = rows[plan.limit - 1]
    return plan.cursor_after(view.key_values(last), view.row_id(last))


def run_json(connection: Connection, plan: QueryPlan) -> dict[str, Any]:
    """Run ``plan`` and return the JSON response body (see the module docstring)."""
    if plan.aggregate is not None:
        return _run_aggregate(connection, plan)
    view = projection(plan)
    limit = plan.limit if plan.limit is not None else 0
    rows = list(iter_rows(connection, plan, view, limit + 1))
    if not rows and _only_the_swapped_box_matches(connection, plan):
        raise swapped_bbox(_box_text(plan))
    body: dict[str, Any] = {
        "rows": view.records(rows[:limit]),
        "next": next_cursor(plan, view, rows),
    }
    if plan.count:
        body["total"] = count_rows(connection, plan)
    return body


def _only_the_swapped_box_matches(connection: Connection, plan: QueryPlan) -> bool:
    """Whether a first page that found nothing under its bbox would find rows with the
    box's longitude and latitude exchanged (a box given latitude first)."""
    box = plan.bbox
    if box is None or plan.position is not None or not -90 <= box.minx <= box.maxx <= 90:
        return False
    probe = replace(plan, bbox=swapped(box), limit=1, count=False)
    return bool(list(iter_rows(connection, probe, projection(probe), 1)))


def _box_text(plan: QueryPlan) -> str:
    box = plan.bbox
    assert box is not None
    return ",".join(f"{value:g}" for value in (box.minx, box.miny, box.maxx, box.maxy))


def aggregate_statement(connection: Connection, plan: QueryPlan) -> Select[Any]:
    """The aggregate SELECT of ``plan`` for this connection's dialect."""
    assert plan.aggregate is not None
    return aggregate_select(
        plan.version,
        plan.aggregate,
        plan.filters,
        plan.bbox,
        connection.dialect.name,
        min_group_size=plan.min_group_size,
    )


def _run_aggregate(connection: Connection, plan: QueryPlan) -> dict[str, Any]:
    assert plan.aggregate is not None
    spec = plan.aggregate
    limit = plan.limit if plan.limit is not None else 0
    statement = aggregate_statement(connection, plan)
    if has_pseudonym_keys(spec):
        rows = connection.execute(statement).all()
        groups = order_groups(spec, [group_row(spec, tuple(row)) for row in rows])
    else:
        rows = connection.execute(statement.limit(limit + 1)).all()
        groups = [group_row(spec, tuple(row)) for row in rows[: limit + 1]]
    return {"groups": groups[:limit], "truncated": len(groups) > limit}
