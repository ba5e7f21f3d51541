"""Bulk writing of converted columns into a version table, in the caller's transaction.

* SQLite: the INSERT is compiled once by SQLAlchemy and each batch goes to the
  driver's ``executemany`` through ``exec_driver_sql``, with no per-row SQLAlchemy
  processing (values are already in stored form, see :mod:`.convert`).
* PostgreSQL (psycopg 3): ``COPY ... FROM STDIN`` with ``write_row``; table and
  column names are quoted by the dialect's identifier preparer.

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
        write_row = copy.write_row

        def write(columns: Sequence[Sequence[Any]]) -> None:
            for row in zip(*columns, strict=True):
                write_row(row)

        yield write
