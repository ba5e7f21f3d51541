"""Pages by offset, equality filters from a mapping, text search, and whole-table reads.

The rows API pages with keyset cursors (:mod:`.keyset`): every page is an index range
read, however deep. Some clients (CKAN's ``datastore_search``) page by offset instead.
An offset page must read and skip every row before it, so its cost grows with the
offset: :data:`MAX_OFFSET` caps it, and the query time limit bounds the rest. Deeper
reads go through the rows API's cursors or an export.

Everything here takes a :class:`~cityshare.query.plan.QueryPlan` made over the reader's
view (:mod:`cityshare.bounds.view`), so the view's fields and row bounds apply exactly
as in the rows API. A :class:`Narrowing` adds conditions on top: filters parsed against
the same view and text tests over its text fields, every value a bound parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)

from cityshare.errors import BadRequest
from cityshare.query.dialect import POSTGRESQL
from cityshare.query.filters import MAX_IN_ITEMS, filter_clause, parse_filter, where_clauses
from cityshare.query.keyset import full_order
from cityshare.query.plan import QueryPlan
from cityshare.query.rows import STREAM_CHUNK_ROWS, projection
from cityshare.query.spec import Filter
from cityshare.query.values import field_list, parse_value, shown
from cityshare.tables.model import PSEUDONYM_TYPE, ROW_ID, Field, VersionTable

MAX_OFFSET = 100_000
MAX_TEXT_CHARS = 1000
TEXT_TYPE = "string"  # pseudonymised fields have their own type, so text search skips them
LISTABLE_TYPES = ("integer", "number", "boolean", "date", "datetime", "string")


@dataclass(frozen=True)
class Narrowing:
    """Conditions on top of a plan: ``filters`` (all must match), ``text`` (some text
    field contains it) and ``field_text`` (each named field contains its text)."""

    filters: tuple[Filter, ...] = ()
    text: str = ""
    field_text: tuple[tuple[Field, str], ...] = ()


NOTHING_MORE = Narrowing()


def value_text(value: Any) -> str:
    """A JSON value as the text the query parsers read."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(type(value).__name__)


def equality_filters(
    version: VersionTable, wanted: Mapping[str, Any], parameter: str
) -> tuple[Filter, ...]:
    """Filters from ``{field: value}``: equal to a value, one of a list's values, or
    missing for null. Only exact field names of ``version`` (BadRequest naming
    ``parameter`` otherwise)."""
    found = []
    for name, value in wanted.items():
        field = version.field(name)
        if field is None:
            raise BadRequest(
                f"'{shown(name)}' in {parameter} is not a field of this table "
                f"(fields: {field_list(version)}).",
                parameter=parameter,
            )
        found.append(_equality(version, field, value, parameter))
    return tuple(found)


def _equality(version: VersionTable, field: Field, value: Any, parameter: str) -> Filter:
    if field.type == PSEUDONYM_TYPE:
        raise BadRequest(
            f"{parameter}: field '{shown(field.name)}' is pseudonymised under your grant; it "
            "can be returned, but not filtered.",
            parameter=parameter,
        )
    if value is None:
        return Filter(field=field, op="isnull", value=True, raw="true")
    if isinstance(value, list):
        return _one_of(field, value, parameter)
    try:
        text = value_text(value)
    except TypeError:
        raise BadRequest(
            f"{parameter}: the value of '{shown(field.name)}' must be a string, number, "
            "boolean, null or a list of them.",
            parameter=parameter,
        ) from None
    try:
        return parse_filter(version, field.name, text)
    except BadRequest as error:
        raise BadRequest(f"{parameter}: {error.detail}", parameter=parameter) from None


def _one_of(field: Field, values: list[Any], parameter: str) -> Filter:
    if field.type not in LISTABLE_TYPES or not 0 < len(values) <= MAX_IN_ITEMS:
        raise BadRequest(
            f"{parameter}: a list of values for '{shown(field.name)}' needs 1 to "
            f"{MAX_IN_ITEMS} values and a field of type {', '.join(LISTABLE_TYPES)}.",
            parameter=parameter,
        )
    try:
        typed = tuple(parse_value(field, value_text(item), parameter) for item in values)
    except TypeError:
        raise BadRequest(
            f"{parameter}: the values of '{shown(field.name)}' must be strings, numbers or "
            "booleans.",
            parameter=parameter,
        ) from None
    return Filter(field=field, op="in", value=typed, raw=json.dumps(values, default=str))


def contains_text(
    version: VersionTable, fields: Sequence[Field], text: str, dialect: str
) -> ColumnElement[bool]:
    """Rows where one of ``fields`` contains ``text``, ignoring letter case (on SQLite,
    of ASCII letters only: its ``lower`` knows no others)."""
    needle = func.lower(literal(text, Text()))
    tests = []
    for field in fields:
        column = func.lower(version.table.c[field.column])
        found = func.strpos(column, needle) if dialect == POSTGRESQL else func.instr(column, needle)
        tests.append(found > 0)
    return or_(*tests) if tests else false()


def text_fields(version: VersionTable) -> tuple[Field, ...]:
    """The fields text search looks in: the reader's text fields, in the clear."""
    return tuple(field for field in version.fields if field.type == TEXT_TYPE)


def _conditions(
    connection: Connection, plan: QueryPlan, narrowing: Narrowing
) -> list[ColumnElement[bool]]:
    dialect = connection.dialect.name
    version = plan.version
    found = where_clauses(version, plan.filters, plan.bbox, dialect)
    found.extend(filter_clause(version.table, item, dialect) for item in narrowing.filters)
    if narrowing.text:
        found.append(contains_text(version, text_fields(version), narrowing.text, dialect))
    for field, text in narrowing.field_text:
        found.append(contains_text(version, (field,), text, dialect))
    return found


def offset_page(
    connection: Connection, plan: QueryPlan, *, offset: int, narrowing: Narrowing = NOTHING_MORE
) -> list[dict[str, Any]]:
    """Rows ``offset`` to ``offset + plan.limit`` of the plan's order (sort keys with
    NULLs last, then ``_id``), as JSON-native records of the plan's fields."""
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be between 0 and {MAX_OFFSET}.", parameter="offset")
    view = projection(plan)
    table = plan.version.table
    statement = (
        select(*view.columns)
        .select_from(table)
        .where(*_conditions(connection, plan, narrowing))
        .order_by(*full_order(table, plan.sort, connection.dialect.name))
        .offset(offset)
        .limit(plan.limit)
    )
    return [view.record(row) for row in connection.execute(statement).all()]


def count_matching(
    connection: Connection, plan: QueryPlan, narrowing: Narrowing = NOTHING_MORE
) -> int:
    """How many rows match the plan's filters and the narrowing."""
    statement = select(func.count()).select_from(plan.version.table)
    statement = statement.where(*_conditions(connection, plan, narrowing))
    return int(connection.execute(statement).scalar_one())


def iter_records(
    connection: Connection, plan: QueryPlan, *, skip: Sequence[Filter] = ()
) -> Iterator[dict[str, Any]]:
    """Every row of the plan in file order (``_id``) as records of the plan's fields,
    leaving out the rows that match all of ``skip`` (when given); streamed."""
    view = projection(plan)
    table = plan.version.table
    dialect = connection.dialect.name
    statement: Select[Any] = select(*view.columns).select_from(table)
    statement = statement.where(*_conditions(connection, plan, NOTHING_MORE))
    if skip:
        matched = and_(*(filter_clause(table, item, dialect) for item in skip))
        statement = statement.where(not_(func.coalesce(matched, false())))
    statement = statement.order_by(table.c[ROW_ID])
    streaming = connection.execution_options(stream_results=True, yield_per=STREAM_CHUNK_ROWS)
    with streaming.execute(statement) as result:
        for row in result:
            yield view.record(row)
