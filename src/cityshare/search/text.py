"""Full-text search over dataset metadata: the one part of search that differs by engine.

SQLite (the embedded default) keeps one FTS5 row per dataset, ranked with BM25;
PostgreSQL keeps one weighted ``tsvector`` per dataset under a GIN index, ranked with
``ts_rank_cd``. Both stem English words and weigh a match in the title above one in
the tags, the organisation, the column names and then the description.

The asker's words never reach either query language as such: they are split into
plain terms (letters and digits only), and the query is built from those terms and
passed as a bound parameter.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from functools import reduce
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
)

POSTGRESQL = "postgresql"
TEXT_TABLE = "dataset_text"
MAX_TERMS = 16
# The last word also matches the longer words it begins, once it has this many letters:
# a shorter prefix (the "s" of "Arthur's") would match much of the catalogue, slowly.
MIN_PREFIX = 3
# Title, tags, organisation, columns, description: from most to least telling.
_SQLITE_WEIGHTS = "10.0, 5.0, 3.0, 2.0, 1.0"
_PG_WEIGHTS = ("A", "B", "B", "C", "D")
_ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")
_TERM = re.compile(r"[^\W_]+")

_FIELDS = ("title", "tags", "organisation", "columns", "description")


class TextTable:
    """One table of full-text documents: its name, and (on PostgreSQL) the column keying
    each document and the table that key refers to (deleting a row there deletes the
    document). On SQLite a document's key is its FTS5 ``rowid``."""

    def __init__(self, name: str, key: str, references: str) -> None:
        self.name, self.key, self.references = name, key, references
        # The FTS5 table's hidden column of its own name takes commands such as 'optimize'.
        self.fts = table(name, column("rowid"), column(name), *(column(f) for f in _FIELDS))
        self.tsv = table(name, column(key), column("document"))
        self.document_key = self.tsv.c[key]


# Each dataset's public document; the documents of the views some readers have of a
# dataset's columns (see cityshare.search.views).
DATASET_TEXT = TextTable(TEXT_TABLE, "dataset_id", "datasets")
VIEW_TEXT = TextTable("view_text", "view_id", "search_views")
_fts = DATASET_TEXT.fts


@dataclass(frozen=True)
class Document:
    """The searchable text of one dataset, field by field."""

    title: str
    tags: str
    organisation: str
    columns: str
    description: str


def compact_text_index(connection: Connection) -> None:
    """Merge SQLite's full-text index into one segment, dropping the entries of replaced
    documents: after every dataset was indexed again, ranking a common word is twice as
    fast. (PostgreSQL's GIN index is kept by autovacuum.)"""
    if connection.dialect.name != POSTGRESQL:
        connection.execute(_fts.insert().values({TEXT_TABLE: "optimize"}))


def write_document(
    connection: Connection, key: int, document: Document, text: TextTable = DATASET_TEXT
) -> None:
    """Store ``document`` as the searchable text keyed ``key`` (a dataset's id)."""
    delete_document(connection, key, text)
    values = dict(zip(_FIELDS, astuple(document), strict=True))
    if connection.dialect.name == POSTGRESQL:
        parts: list[ColumnElement[Any]] = [
            func.setweight(
                func.to_tsvector(_ENGLISH, bindparam(f"text_{name}", value, type_=Text())),
                literal_column(f"'{weight}'::\"char\""),
            )
            for (name, value), weight in zip(values.items(), _PG_WEIGHTS, strict=True)
        ]
        vector: ColumnElement[Any] = reduce(lambda left, right: left.op("||")(right), parts)
        connection.execute(text.tsv.insert().values({text.key: key, "document": vector}))
    else:
        connection.execute(text.fts.insert().values(rowid=key, **values))


def delete_document(connection: Connection, key: int, text: TextTable = DATASET_TEXT) -> None:
    """Forget the searchable text keyed ``key``."""
    if connection.dialect.name == POSTGRESQL:
        connection.execute(text.tsv.delete().where(text.document_key == key))
    else:
        connection.execute(text.fts.delete().where(text.fts.c.rowid == key))


def terms(text: str) -> list[str]:
    """The plain search terms in what someone typed: words of letters and digits."""
    return _TERM.findall(text.lower())[:MAX_TERMS]


def matches(dialect: str, words: list[str], text: TextTable = DATASET_TEXT) -> Select[Any]:
    """``(id, rank)`` of the documents (datasets) whose text has every one of ``words``,
    the last one as a prefix (so results follow the typing) when it has ``MIN_PREFIX``
    letters; a lower rank is a better match."""
    prefix = len(words[-1]) >= MIN_PREFIX
    if dialect == POSTGRESQL:
        expression = " & ".join([*words[:-1], f"{words[-1]}:*" if prefix else words[-1]])
        query = func.to_tsquery(_ENGLISH, bindparam("search_terms", expression))
        document = text.tsv.c.document
        return select(
            text.document_key.label("id"), (-func.ts_rank_cd(document, query)).label("rank")
        ).where(document.op("@@")(query))
    expression = " ".join(f'"{word}"' for word in words) + ("*" if prefix else "")
    return (
        select(
            text.fts.c.rowid.label("id"),
            literal_column(f"bm25({text.name}, {_SQLITE_WEIGHTS})").label("rank"),
        )
        .select_from(text.fts)
        .where(literal_column(text.name).op("MATCH")(bindparam("search_terms", expression)))
    )
