"""The few SQL expressions that differ between SQLite and PostgreSQL.

Everything here returns SQLAlchemy expressions; user values are always bound
parameters. Text compares by code point on both engines: SQLite's default BINARY
collation does so, and on PostgreSQL ordering comparisons use ``COLLATE "C"``
(byte order of UTF-8, which is code point order), whatever the database locale.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Text, cast, extract, func, literal, literal_column

POSTGRESQL = "postgresql"


def ordered(column: ColumnElement[Any], field_type: str, dialect: str) -> ColumnElement[Any]:
    """``column`` as it must be ordered and range-compared: text in code point order."""
    if field_type == "string" and dialect == POSTGRESQL:
        return column.collate("C")
    return column


def contains(column: ColumnElement[Any], value: str, dialect: str) -> ColumnElement[bool]:
    """Case-sensitive substring test, the same on both engines."""
    needle = literal(value, Text())
    if dialect == POSTGRESQL:
        return func.strpos(column, needle) > 0
    return func.instr(column, needle) > 0


def startswith(column: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    """Case-sensitive prefix test (``substr``/``length`` count characters on both engines)."""
    return func.substr(column, 1, func.length(literal(value, Text()))) == literal(value, Text())


def epoch_seconds(column: ColumnElement[Any], dialect: str) -> ColumnElement[int]:
    """Whole seconds since 1970-01-01 of a UTC-naive datetime column, floored."""
    if dialect == POSTGRESQL:
        return cast(func.floor(extract("epoch", column)), BigInteger())
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff'; dropping the fraction floors exactly.
    seconds = func.strftime(literal_column("'%s'"), func.substr(column, 1, 19))
    return cast(seconds, BigInteger())


def floor_to(seconds: ColumnElement[int], size: int) -> ColumnElement[int]:
    """``seconds`` floored to a multiple of ``size`` (also right for negative values).

    ``size`` comes from a fixed list of bucket widths, never from user text; it is
    rendered inline so that GROUP BY and ORDER BY repeat the very same expression.
    """
    width: ColumnElement[int] = literal_column(str(int(size)), BigInteger())
    return seconds - ((seconds % width) + width) % width
