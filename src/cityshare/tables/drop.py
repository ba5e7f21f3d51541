"""Dropping the tables of deleted versions."""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, Table


def drop_version_tables(connection: Connection, table_names: list[str]) -> None:
    """Drop each named version table if it exists (inside the caller's transaction)."""
    metadata = MetaData()
    for name in table_names:
        Table(name, metadata).drop(connection, checkfirst=True)
