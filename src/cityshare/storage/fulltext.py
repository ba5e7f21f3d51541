"""The full-text tables' DDL as the migrations create them (SQLite FTS5, PostgreSQL GIN).

Migrations carry their own DDL and never import live code: these statements are frozen at
the revisions that created the tables (``0006`` the datasets' documents, ``0009`` the views'),
while ``cityshare.search.text`` reads and writes them as the code is now.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def create_text_table(connection: Connection, name: str, key: str, references: str) -> None:
    """Create full-text table ``name``: on PostgreSQL a ``tsvector`` per ``key`` (a row of
    ``references``, deleted with it) under a GIN index; on SQLite an FTS5 table."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                f"CREATE TABLE {name} ({key} INTEGER PRIMARY KEY REFERENCES "
                f"{references} (id) ON DELETE CASCADE, document TSVECTOR NOT NULL)"
            )
        )
        connection.execute(text(f"CREATE INDEX ix_{name}_document ON {name} USING gin (document)"))
    else:
        connection.execute(
            text(
                f"CREATE VIRTUAL TABLE {name} USING fts5(title, tags, organisation, "
                "columns, description, tokenize = 'porter unicode61 remove_diacritics 2')"
            )
        )


def drop_text_table(connection: Connection, name: str) -> None:
    """Drop full-text table ``name`` (in a migration's downgrade)."""
    connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
