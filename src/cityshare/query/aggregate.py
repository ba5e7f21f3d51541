"""Aggregates: ``_group``, ``_bucket``, ``_agg`` and their ``_sort``; parsing and SQL.

``_agg`` items are ``count`` (rows), ``count:f`` (non-NULL cells), ``sum:f`` and
``avg:f`` (integer and number fields), ``min:f`` and ``max:f`` (number, integer, date,
datetime, string). ``avg`` is computed in Python from SUM and COUNT so that both
engines give the same float. Output keys are group field names (the bucket is named
after its field) and the aggregate items as written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from cityshare.errors import BadRequest
from cityshare.query.buckets import bucket_expression, bucket_start, parse_bucket
from cityshare.query.dialect import ordered
from cityshare.query.filters import where_clauses
from cityshare.query.spec import Aggregate, AggregateSpec, BBox, Filter, GroupSort
from cityshare.query.values import field_value, json_value, shown
from cityshare.tables.model import GEOMETRY_TYPE, PSEUDONYM_TYPE, Field, VersionTable

MAX_GROUP_KEYS = 5
MAX_AGGREGATES = 20
MAX_SORT_KEYS = 5
NUMERIC = ("integer", "number")
FUNCTION_TYPES = {
    "count": (
        "integer",
        "number",
        "boolean",
        "date",
        "datetime",
        "string",
        GEOMETRY_TYPE,
        PSEUDONYM_TYPE,
    ),
    "sum": NUMERIC,
    "avg": NUMERIC,
    "min": (*NUMERIC, "date", "datetime", "string"),
    "max": (*NUMERIC, "date", "datetime", "string"),
}


def split_list(raw: str, parameter: str, maximum: int) -> list[str]:
    """Comma-separated items, non-empty, distinct and at most ``maximum``."""
    items = raw.split(",")
    if len(items) > maximum or any(not item for item in items) or len(set(items)) < len(items):
        raise BadRequest(
            f"Parameter '{parameter}': '{shown(raw)}' must be a comma-separated list of "
            f"at most {maximum} distinct, non-empty names.",
            parameter=parameter,
            value=shown(raw),
            maximum=maximum,
        )
    return items


def parse_aggregate(
    version: VersionTable,
    group: str | None,
    agg: str | None,
    bucket: str | None,
    sort: str | None,
) -> AggregateSpec:
    """The validated aggregate part of a query (``count`` when ``_agg`` is absent)."""
    groups = tuple(_group_field(version, name) for name in _names(group, "_group"))
    spec = AggregateSpec(
        groups=groups,
        bucket=parse_bucket(version, bucket) if bucket is not None else None,
        aggregates=tuple(_aggregate(version, item) for item in _agg_items(agg)),
        sort=(),
    )
    names = spec.output_names
    if len(set(names)) < len(names):
        raise BadRequest(
            f"Parameters '_group', '_bucket' and '_agg' give the output keys {list(names)}; "
            "each key must appear once.",
            parameter="_group",
        )
    return AggregateSpec(spec.groups, spec.bucket, spec.aggregates, _sort(spec, sort))


def _names(raw: str | None, parameter: str) -> list[str]:
    return [] if raw is None else split_list(raw, parameter, MAX_GROUP_KEYS)


def _agg_items(raw: str | None) -> list[str]:
    return ["count"] if raw is None else split_list(raw, "_agg", MAX_AGGREGATES)


def _group_field(version: VersionTable, name: str) -> Field:
    field = version.field(name)
    if field is None or field.type == GEOMETRY_TYPE:
        raise BadRequest(
            f"Parameter '_group': '{shown(name)}' is not a field that can be grouped "
            "(a field of this dataset that is not a geometry).",
            parameter="_group",
            value=shown(name),
        )
    return field


def _aggregate(version: VersionTable, item: str) -> Aggregate:
    function, separator, name = item.partition(":")
    if item == "count":
        return Aggregate(function="count", field=None, key=item)
    field = version.field(name) if separator else None
    allowed = FUNCTION_TYPES.get(function)
    if allowed is None or field is None or field.type not in allowed:
        raise BadRequest(
            f"Parameter '_agg': '{shown(item)}' is not an aggregate; use count, or "
            "count:field, sum:field and avg:field (numbers), min:field and max:field "
            "(numbers, dates, datetimes, text) with a field of this dataset.",
            parameter="_agg",
            value=shown(item),
        )
    return Aggregate(function=function, field=field, key=item)


def _sort(spec: AggregateSpec, raw: str | None) -> tuple[GroupSort, ...]:
    if raw is None:
        return ()
    result = []
    for item in split_list(raw, "_sort", MAX_SORT_KEYS):
        key = item.removeprefix("-")
        if key in _pseudonym_keys(spec):
            raise BadRequest(
                f"Parameter '_sort': '{shown(key)}' is pseudonymised under your grant; "
                "groups can be sorted by their other keys and by aggregates.",
                parameter="_sort",
                value=shown(item),
            )
        if key not in spec.output_names:
            raise BadRequest(
                f"Parameter '_sort': '{shown(key)}' is neither a group key nor an aggregate "
                f"of this query ({', '.join(spec.output_names)}).",
                parameter="_sort",
                value=shown(item),
            )
        result.append(GroupSort(key=key, descending=item.startswith("-")))
    return tuple(result)


def _pseudonym_keys(spec: AggregateSpec) -> set[str]:
    return {field.name for field in spec.groups if field.type == PSEUDONYM_TYPE}


def has_pseudonym_keys(spec: AggregateSpec) -> bool:
    """True when some group key is pseudonymised (see :func:`order_groups`)."""
    return bool(_pseudonym_keys(spec))


def order_groups(spec: AggregateSpec, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All the groups of a query keyed by pseudonyms, in the order it asks for, ties and
    keys ordered by the pseudonyms. The database would order (and cut at ``_limit``) by the
    real values, and that order would tell something about them: such queries read every
    group and order them here, before any limit."""

    def key_of(group: dict[str, Any]) -> tuple[Any, ...]:
        # (is None, value): a None is never compared with a value, and Nones come last.
        return tuple((group[name] is None, group[name]) for name in spec.key_names)

    ordered = sorted(groups, key=key_of)
    for item in reversed(spec.sort):  # stable sorts, most significant key last
        present = [group for group in ordered if group[item.key] is not None]
        present.sort(key=lambda group: group[item.key], reverse=item.descending)
        ordered = present + [group for group in ordered if group[item.key] is None]
    return ordered


def _key_expressions(
    version: VersionTable, spec: AggregateSpec, dialect: str
) -> list[ColumnElement[Any]]:
    table = version.table
    keys: list[ColumnElement[Any]] = [table.c[field.column] for field in spec.groups]
    if spec.bucket is not None:
        keys.append(bucket_expression(table, spec.bucket, dialect))
    return keys


def _aggregate_expression(
    version: VersionTable, aggregate: Aggregate, dialect: str, for_order: bool
) -> list[ColumnElement[Any]]:
    if aggregate.field is None:
        return [func.count()]
    column = version.table.c[aggregate.field.column]
    if aggregate.function == "avg":
        return [func.avg(column)] if for_order else [func.sum(column), func.count(column)]
    if aggregate.function in ("min", "max"):
        target = ordered(column, aggregate.field.type, dialect)
        return [func.min(target) if aggregate.function == "min" else func.max(target)]
    return [func.sum(column) if aggregate.function == "sum" else func.count(column)]


def _order(
    version: VersionTable, spec: AggregateSpec, keys: list[ColumnElement[Any]], dialect: str
) -> list[ColumnElement[Any]]:
    types = [*(field.type for field in spec.groups), *(["bucket"] if spec.bucket else [])]
    by_key = {
        name: ordered(key, field_type, dialect)
        for name, key, field_type in zip(spec.key_names, keys, types, strict=True)
    }
    for aggregate in spec.aggregates:
        by_key[aggregate.key] = _aggregate_expression(version, aggregate, dialect, True)[0]
    order: list[ColumnElement[Any]] = []
    for item in spec.sort:
        target = by_key[item.key]
        order.append((target.desc() if item.descending else target.asc()).nulls_last())
    used = {item.key for item in spec.sort}
    used |= _pseudonym_keys(spec)  # never ordered by their real values (see order_groups)
    order.extend(by_key[n].asc().nulls_last() for n in spec.key_names if n not in used)
    return order


def aggregate_select(
    version: VersionTable,
    spec: AggregateSpec,
    filters: tuple[Filter, ...],
    box: BBox | None,
    dialect: str,
    *,
    min_group_size: int | None = None,
) -> Select[Any]:
    """The grouped SELECT: group keys, then the aggregate columns, filtered and ordered;
    groups of fewer than ``min_group_size`` rows are left out."""
    keys = _key_expressions(version, spec, dialect)
    columns = [
        expression
        for aggregate in spec.aggregates
        for expression in _aggregate_expression(version, aggregate, dialect, False)
    ]
    statement = select(*keys, *columns).select_from(version.table)
    statement = statement.where(*where_clauses(version, filters, box, dialect))
    if keys:
        statement = statement.group_by(*keys)
    if min_group_size is not None:
        statement = statement.having(func.count() >= min_group_size)
    return statement.order_by(*_order(version, spec, keys, dialect))


def group_row(spec: AggregateSpec, row: tuple[Any, ...]) -> dict[str, Any]:
    """One result row of :func:`aggregate_select` as a JSON-native dict."""
    result: dict[str, Any] = {}
    values = iter(row)
    for field in spec.groups:
        result[field.name] = field_value(field, next(values))
    if spec.bucket is not None:
        result[spec.bucket.field.name] = bucket_start(next(values))
    for aggregate in spec.aggregates:
        result[aggregate.key] = _aggregate_value(aggregate, values)
    return result


def _aggregate_value(aggregate: Aggregate, values: Any) -> Any:
    value = next(values)
    field = aggregate.field
    if field is None or aggregate.function == "count":
        return int(value or 0)
    if aggregate.function == "avg":
        count = int(next(values) or 0)
        return _number(field, value) / count if count and value is not None else None
    if aggregate.function == "sum":
        return None if value is None else _number(field, value)
    return json_value(field.type, value)


def _number(field: Field, value: Any) -> int | float:
    # PostgreSQL sums integers as NUMERIC (Decimal): exact, then converted here.
    return int(value) if field.type == "integer" else float(value)
