"""Bulk writing of converted columns into a version table, in the caller's transaction.

* SQLite: the INSERT is compiled once by SQLAlchemy and each batch goes to the
  driver's ``executemany`` through ``exec_driver_sql``, with no per-row SQLAlchemy
  processing (values are already in stored form, see :mod:`.convert`).
* PostgreSQL (psycopg 3): ``COPY ... FROM STDIN`` in text format, one ``write`` per
  batch of rows formatted here with C-speed joins (:func:`copy_text` escapes every
  value, so no value can end a field or a row); table and column names are quoted
  by the dialect's identifier preparer. (``write_row`` formats row by row in
  Python and took most of the client's time.)

The ``_id`` column is left to the database, so it numbers rows in file order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table

from cityshare.tables.model import ROW_ID

WriteColumns = Callable[[Sequence[Sequence[Any]]], None]


def data_columns(table: Table) -> list[str]:
    """The names of the columns a load fills, in table order (all but ``_id``)."""
    return [column.name for column in table.columns if column.name != ROW_ID]


@contextmanager
def bulk_writer(connection: Connection, table: Table) -> Iterator[WriteColumns]:
    """A function that appends a batch, given as stored columns, to ``table``."""
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        with _copy_writer(connection, table) as write:
            yield write
    elif dialect.name == "sqlite":
        yield _executemany_writer(connection, table)
    else:
        raise RuntimeError(f"cityshare stores tables in SQLite or PostgreSQL, not {dialect.name}")


def _executemany_writer(connection: Connection, table: Table) -> WriteColumns:
    names = data_columns(table)
    statement = table.insert().compile(dialect=connection.dialect, column_keys=names)
    sql = str(statement)

    def write(columns: Sequence[Sequence[Any]]) -> None:
        rows = list(zip(*columns, strict=True))
        if rows:
            connection.exec_driver_sql(sql, rows)

    return write


@contextmanager
def _copy_writer(connection: Connection, table: Table) -> Iterator[WriteColumns]:
    preparer = connection.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in data_columns(table))
    sql = f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
    driver_connection: Any = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(sql) as copy:

        def write(columns: Sequence[Sequence[Any]]) -> None:
            if columns and columns[0]:
                text_columns = [copy_text(column) for column in columns]
                copy.write("\n".join(map("\t".join, zip(*text_columns, strict=True))) + "\n")

        yield write


def copy_text(values: Sequence[Any]) -> Sequence[str]:
    """A column in COPY text format: ``\\N`` for null, ``t``/``f`` for booleans, and
    backslash, tab, line feed and carriage return escaped in text, so that no value
    can end a field or a row. Columns of plain text pass as they are."""
    try:
        joined = "".join(values)
    except TypeError:  # not all text: nulls, numbers, booleans
        return [_copy_value(value) for value in values]
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        return [value.translate(_COPY_ESCAPES) for value in values]
    return values


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, float):
        return repr(value)
    return str(value)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
