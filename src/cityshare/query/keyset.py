"""Keyset ordering without OFFSET, with NULLs last in both directions on both engines.

Rows are ordered by the sort keys (NULLs last, ascending or descending) and then
by ``_id``. The rows after a position are split into *segments*, each a plain
conjunction that is a contiguous range of an index on ``(key, _id)``:

* same earlier keys, same last key, larger ``_id``;
* for each key from the last to the first: same earlier keys and this key strictly
  after the cursor's value (``>`` or ``<``), then same earlier keys and this key NULL.

Segments are read in that order, each with its own ORDER BY and LIMIT, until the
page is full. Inside a segment the deciding key is never NULL, so its ORDER BY
needs no NULLS clause and matches a plain index scan (forward or backward); deeper
keys that still vary carry an explicit ``NULLS LAST`` (SQLite >= 3.30). Every page,
however deep, is an index range read of at most ``limit + 1`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, literal, select

from cityshare.query.cursor import invalid_cursor
from cityshare.query.dialect import ordered
from cityshare.query.spec import Position, SortKey
from cityshare.tables.model import ROW_ID


@dataclass(frozen=True)
class Segment:
    """One contiguous run of the ordered rows: its conditions and its ORDER BY."""

    conditions: tuple[ColumnElement[bool], ...]
    order_by: tuple[ColumnElement[Any], ...]


@dataclass(frozen=True)
class _Key:
    column: ColumnElement[Any]
    target: ColumnElement[Any]
    descending: bool

    def order(self, nulls_last: bool) -> ColumnElement[Any]:
        clause = self.target.desc() if self.descending else self.target.asc()
        return clause.nulls_last() if nulls_last else clause

    def after(self, value: Any) -> ColumnElement[bool]:
        bound = literal(value, self.column.type)
        return self.target < bound if self.descending else self.target > bound

    def equals(self, value: Any) -> ColumnElement[bool]:
        if value is None:
            return self.column.is_(None)
        return self.column == literal(value, self.column.type)


def _keys(table: Table, sort: tuple[SortKey, ...], dialect: str) -> list[_Key]:
    keys = []
    for key in sort:
        column = table.c[key.field.column]
        target = ordered(column, key.field.type, dialect)
        keys.append(_Key(column=column, target=target, descending=key.descending))
    return keys


def _tail(keys: list[_Key], table: Table) -> tuple[ColumnElement[Any], ...]:
    return (*(key.order(nulls_last=True) for key in keys), table.c[ROW_ID].asc())


def segments(
    table: Table, sort: tuple[SortKey, ...], position: Position | None, dialect: str
) -> list[Segment]:
    """The segments of rows after ``position`` (all rows when None), in output order."""
    keys = _keys(table, sort, dialect)
    if position is None:
        return _first_segments(keys, table)
    values = position.values or ()
    row_id = table.c[ROW_ID]
    result = [
        Segment(
            conditions=(
                *(k.equals(v) for k, v in zip(keys, values, strict=True)),
                row_id > position.row_id,
            ),
            order_by=(row_id.asc(),),
        )
    ]
    for level in range(len(keys) - 1, -1, -1):
        value = values[level]
        if value is None:
            continue
        prefix = tuple(k.equals(v) for k, v in zip(keys[:level], values[:level], strict=True))
        key, deeper = keys[level], keys[level + 1 :]
        result.append(
            Segment(
                conditions=(*prefix, key.after(value)),
                order_by=(key.order(nulls_last=False), *_tail(deeper, table)),
            )
        )
        result.append(
            Segment(conditions=(*prefix, key.column.is_(None)), order_by=_tail(deeper, table))
        )
    return result


def _first_segments(keys: list[_Key], table: Table) -> list[Segment]:
    if not keys:
        return [Segment(conditions=(), order_by=(table.c[ROW_ID].asc(),))]
    first, deeper = keys[0], keys[1:]
    return [
        Segment(
            conditions=(first.column.is_not(None),),
            order_by=(first.order(nulls_last=False), *_tail(deeper, table)),
        ),
        Segment(conditions=(first.column.is_(None),), order_by=_tail(deeper, table)),
    ]


def full_order(table: Table, sort: tuple[SortKey, ...], dialect: str) -> list[ColumnElement[Any]]:
    """The whole ORDER BY (keys NULLS LAST, then ``_id``), for reference and tests."""
    return list(_tail(_keys(table, sort, dialect), table))


def resolve_position(
    connection: Connection, table: Table, sort: tuple[SortKey, ...], position: Position
) -> Position:
    """``position`` with its sort key values, read back by ``_id`` when the cursor
    left them out."""
    if position.values is not None:
        return position
    columns = [table.c[key.field.column] for key in sort]
    row = connection.execute(select(*columns).where(table.c[ROW_ID] == position.row_id)).first()
    if row is None:
        raise invalid_cursor()
    return Position(row_id=position.row_id, values=tuple(row))
