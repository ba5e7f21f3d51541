"""The passes over a file: inference, schema checks, and conversion of batches.

:mod:`.load` arranges them; this module holds the steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from cityshare.config import Limits
from cityshare.errors import InvalidData
from cityshare.tables.convert import BadValue, Converter, converter_for
from cityshare.tables.infer import ColumnStats, inferred_schema, new_stats
from cityshare.tables.schema import FieldSpec, SchemaPlan, match_columns, plan_for
from cityshare.tables.source import Batch, TableSource, check_header, shown


def observe(stats: list[ColumnStats], reader: TableSource, batch: Batch) -> None:
    """Widen ``stats`` (grown to the batch's columns) with every cell of ``batch``."""
    _grow(stats, reader, len(batch.columns))
    for column_stats, column in zip(stats, batch.columns, strict=True):
        column_stats.observe(column)


def observe_all(stats: list[ColumnStats], reader: TableSource, batches: Iterable[Batch]) -> None:
    """Observe ``batches``, then grow ``stats`` to the whole header."""
    for batch in batches:
        observe(stats, reader, batch)
    _grow(stats, reader, len(reader.header))


def _grow(stats: list[ColumnStats], reader: TableSource, width: int) -> None:
    if len(stats) < width:
        stats.extend(new_stats(reader.header[len(stats) : width], reader.fixed_types))


def types_of(stats: Sequence[ColumnStats]) -> list[str]:
    """The column types ``stats`` stand for (a column without values is a string)."""
    return [column.type or "string" for column in stats]


def inferred_plan(reader: TableSource, stats: list[ColumnStats], limits: Limits) -> SchemaPlan:
    """The plan for an inferred schema, trusting what inference proved of each column."""
    check_header(reader.header, limits)
    plan = plan_for(inferred_schema(reader.header, stats), limits)
    return replace(plan, fields=tuple(replace(spec, canonical=True) for spec in plan.fields))


def given_plan(reader: TableSource, schema: dict[str, Any], limits: Limits) -> SchemaPlan:
    """The plan for a given schema, checked against the file's columns.

    A JSON file is read once here to learn its keys.
    """
    plan = plan_for(schema, limits)
    if reader.needs_scan:
        for _batch in reader.batches():
            pass
        check_header(reader.header, limits)
    match_columns(plan, reader.header, by_name=reader.needs_scan)
    for spec in plan.fields:
        wanted = reader.fixed_types.get(spec.name)
        if wanted is not None and spec.type != wanted:
            raise InvalidData(
                f"Field '{shown(spec.name)}' holds the features' geometries; its type must be "
                f"{wanted}, not {spec.type}."
            )
    if reader.needs_scan:
        reader.use_order(plan.names)
    return plan


def converters(plan: SchemaPlan, dialect: str) -> list[Converter]:
    """One converter per field of ``plan``."""
    return [converter_for(spec, plan.missing, dialect) for spec in plan.fields]


def convert(
    batch: Batch, fields: Sequence[FieldSpec], field_converters: Sequence[Converter]
) -> list[Sequence[Any]]:
    """The stored columns of ``batch``; InvalidData naming row, column and value."""
    stored: list[Sequence[Any]] = []
    ready = batch.stored or [None] * len(fields)
    for spec, conversion, cells, values in zip(
        fields, field_converters, batch.columns, ready, strict=True
    ):
        if values is not None:
            stored.append(values)
            continue
        try:
            stored.extend(conversion(cells))
        except BadValue as bad:
            raise _value_error(batch, spec, cells[bad.index], bad) from None
    return stored


def _value_error(batch: Batch, spec: FieldSpec, value: str, bad: BadValue) -> InvalidData:
    row = batch.first_row + bad.index
    return InvalidData(
        f"Row {row}, column '{shown(spec.name)}': '{shown(value)}' {bad.reason} "
        f"(the field's type is {spec.type}).",
        row=row,
        column=spec.name,
        value=shown(value),
    )
