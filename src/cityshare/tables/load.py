"""Loading an uploaded file into a new typed version table: the tables package's entry point.

::

    with writer(engine).begin() as connection:
        loaded = load_into_table(
            connection,
            source=Path("trees.csv"),
            media_type="text/csv",
            table_name="dsv_12_3",
            schema=None,  # infer it from the whole file
            limits=settings.limits,
        )

Everything streams with bounded memory. With a given schema, one pass converts and
bulk-loads the rows (JSON first needs a pass to learn its keys). Without one, the
schema is inferred from every row of the file:

* CSV, TSV and XLSX: the types seen in the first :data:`GUESS_ROWS` rows are a
  guess; the table is created with them and one pass then observes each batch
  (inference over the whole file) *before* converting and writing it. If a batch
  widens a type the guess did not foresee, the table is dropped, inference finishes
  over the rest of the file, and a second pass loads with the final schema. Either
  way the schema is the one a separate inference pass would give.
* JSON: one pass infers (and learns the keys), a second one loads.

Indexes are created after the rows are in. Any problem raises a
:mod:`cityshare.errors` error; everything happens inside the caller's transaction
(DDL included, on both engines), so a rollback leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table

from cityshare.config import Limits
from cityshare.tables import passes
from cityshare.tables.formats import parse_media_type
from cityshare.tables.infer import ColumnStats
from cityshare.tables.model import VersionTable, index_definitions, version_table
from cityshare.tables.readers import open_source
from cityshare.tables.schema import SchemaPlan
from cityshare.tables.source import Batch, TableSource, check_header
from cityshare.tables.writers import bulk_writer

GUESS_ROWS = 20_000
PROGRESS_ROWS = 10_000

Progress = Callable[[int], None] | None


@dataclass(frozen=True)
class LoadedTable:
    """The result of a load: the Table Schema used (inferred or given) and the row count."""

    schema: dict[str, Any]
    row_count: int


def load_into_table(
    connection: Connection,
    *,
    source: Path,
    media_type: str,
    table_name: str,
    schema: dict[str, Any] | None,
    limits: Limits,
    progress: Progress = None,
) -> LoadedTable:
    """Create ``table_name`` and load the file ``source`` into it; see the module docstring.

    ``media_type`` is one of :data:`~cityshare.tables.formats.SUPPORTED_MEDIA_TYPES`,
    optionally with ``; charset=...``. ``schema`` is a Frictionless Table Schema to
    honour, or None to infer one. ``progress``, when given, is called with the number
    of rows written so far, about every 10 000 rows and once at the end; it starts
    again from 0 if inference has to drop rows already written (see above).

    Raises UnsupportedMediaType, BadRequest (schema, too many columns), InvalidData
    (the file or a value; with ``row``, ``column`` and ``value`` for a value that does
    not fit its type) or PayloadTooLarge (decompression bomb).
    """
    reader = open_source(parse_media_type(media_type), source, limits)
    if not reader.needs_scan:
        check_header(reader.header, limits)
    if schema is not None:
        plan = passes.given_plan(reader, schema, limits)
        version, rows = _load(connection, table_name, reader, plan, progress)
    elif reader.needs_scan:
        stats: list[ColumnStats] = []
        passes.observe_all(stats, reader, reader.batches())
        plan = passes.inferred_plan(reader, stats, limits)
        version, rows = _load(connection, table_name, reader, plan, progress)
    else:
        plan, version, rows = _load_inferring(connection, table_name, reader, limits, progress)
    for index in index_definitions(version, limits.max_indexed_columns, connection.dialect.name):
        index.create(connection)
    _analyze(connection, version.table)
    return LoadedTable(schema=plan.schema, row_count=rows)


def _load(
    connection: Connection,
    table_name: str,
    reader: TableSource,
    plan: SchemaPlan,
    progress: Progress,
    batches: Iterable[Batch] | None = None,
) -> tuple[VersionTable, int]:
    """Create the table of ``plan`` and load ``batches`` (default: the whole file)."""
    version = version_table(table_name, plan.schema)
    version.table.create(connection)
    converters = passes.converters(plan, connection.dialect.name)
    rows = reported = 0
    with bulk_writer(connection, version.table) as write:
        for batch in reader.batches() if batches is None else batches:
            write(passes.convert(batch, plan.fields, converters))
            rows += batch.size
            if progress is not None and rows - reported >= PROGRESS_ROWS:
                progress(rows)
                reported = rows
    if progress is not None and (rows != reported or not rows):
        progress(rows)
    return version, rows


def _load_inferring(
    connection: Connection, table_name: str, reader: TableSource, limits: Limits, progress: Progress
) -> tuple[SchemaPlan, VersionTable, int]:
    """Infer over the whole file while loading with the types of the first rows (see the
    module docstring); fall back to a second pass when a type widens later on."""
    guess: list[ColumnStats] = []
    with closing(reader.batches()) as head:
        passes.observe_all(guess, reader, _first_rows(head, GUESS_ROWS))
    guessed = passes.inferred_plan(reader, guess, limits)
    # SQLite stores floats parsed here; inference has parsed them already.
    reuse = connection.dialect.name == "sqlite"
    speculation = _Speculation(reader, guess, reuse_numbers=reuse)
    with closing(reader.batches()) as batches:
        version, rows = _load(
            connection, table_name, reader, guessed, progress, speculation.confirmed(batches)
        )
        if speculation.widened:
            version.table.drop(connection)
            passes.observe_all(speculation.stats, reader, batches)
    plan = passes.inferred_plan(reader, speculation.stats, limits)
    if speculation.widened:
        version, rows = _load(connection, table_name, reader, plan, progress)
    return plan, version, rows


def infer_schema(source: Path, media_type: str, limits: Limits) -> dict[str, Any]:
    """The Table Schema an upload of ``source`` would get, inferred from the whole file,
    without making a table: for people to review and correct before they publish it."""
    reader = open_source(parse_media_type(media_type), source, limits)
    check_header(reader.header, limits)
    stats: list[ColumnStats] = []
    with closing(reader.batches()) as batches:
        passes.observe_all(stats, reader, batches)
    return passes.inferred_plan(reader, stats, limits).schema


def check_against_schema(
    source: Path, media_type: str, schema: dict[str, Any], limits: Limits, dialect: str
) -> None:
    """Read every value of ``source`` as ``schema`` says, without storing anything:
    InvalidData (with the row, column and value) at the first value that does not fit."""
    reader = open_source(parse_media_type(media_type), source, limits)
    plan = passes.given_plan(reader, schema, limits)
    converting = passes.converters(plan, dialect)
    with closing(reader.batches()) as batches:
        for batch in batches:
            passes.convert(batch, plan.fields, converting)


class _Speculation:
    """Batches observed (whole-file inference) just before they are loaded with the
    guessed types, up to the first batch that widens a type.

    Inference starts from the guess: types only widen and the guessed rows are read
    again, so the result is the type every value of the file fits, as if inference
    had started from nothing; but a batch that fits the guess changes nothing.
    """

    def __init__(
        self, reader: TableSource, guess: list[ColumnStats], *, reuse_numbers: bool
    ) -> None:
        self.stats = [replace(column) for column in guess]
        self.widened = False
        self._reader = reader
        self._guessed = passes.types_of(guess)
        self._reuse = [reuse_numbers and kind == "number" for kind in self._guessed]

    def confirmed(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The batches whose every cell fits the guessed types."""
        for batch in batches:
            passes.observe(self.stats, self._reader, batch)
            if passes.types_of(self.stats) != self._guessed:
                self.widened = True
                return
            if any(self._reuse):
                pairs = zip(self.stats, self._reuse, strict=True)
                stored = [column.parsed if reuse else None for column, reuse in pairs]
                batch = replace(batch, stored=stored)
            yield batch
        passes.observe_all(self.stats, self._reader, ())


def _first_rows(batches: Iterator[Batch], rows: int) -> Iterator[Batch]:
    seen = 0
    for batch in batches:
        yield batch
        seen += batch.size
        if seen >= rows:
            return


def _analyze(connection: Connection, table: Table) -> None:
    """Fresh planner statistics on PostgreSQL, so the first queries plan well."""
    if connection.dialect.name == "postgresql":
        preparer = connection.dialect.identifier_preparer
        connection.exec_driver_sql(f"ANALYZE {preparer.format_table(table)}")
