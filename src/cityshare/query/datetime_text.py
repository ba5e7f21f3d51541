"""Stored datetimes read as ISO 8601 text with ``Z``, the way row answers show them.

SQLite keeps a datetime as ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text, so the rearranging is
done by SQLite itself as the row is read: a row page then needs no Python per value.
PostgreSQL's driver returns datetimes, which are formatted as they arrive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from cityshare.query.values import iso_datetime


class IsoDatetimeText(TypeDecorator[str]):
    """The result type of :func:`iso_datetime_text`: text as it comes on SQLite (the
    SQL has formatted it), ISO text of a datetime elsewhere."""

    impl = Text
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """No per-value work on SQLite, where the SQL already returns the text."""
        if dialect.name == "sqlite":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """ISO text of a datetime the driver returned."""
        if isinstance(value, datetime):
            return iso_datetime(value)
        return value  # type: ignore[no-any-return]


class _IsoDatetimeText(FunctionElement[str]):
    type = IsoDatetimeText()
    name = "iso_datetime_text"
    inherit_cache = True


def iso_datetime_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """``column`` (a stored datetime) read as ISO 8601 text with ``Z``, no fraction when
    it is zero (as :func:`~cityshare.query.values.iso_datetime`); NULL stays NULL."""
    return _IsoDatetimeText(column)


@compiles(_IsoDatetimeText)
def _plain_column(element: _IsoDatetimeText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_IsoDatetimeText, "sqlite")
def _sqlite_text(element: _IsoDatetimeText, compiler: SQLCompiler, **kw: Any) -> str:
    # The stored text has one space (between date and time) and ends in ".000000" when
    # the fraction is zero; the column is a compiled identifier, never user text.
    column = compiler.process(element.clauses, **kw)
    return f"replace(replace({column}, ' ', 'T'), '.000000', '') || 'Z'"
