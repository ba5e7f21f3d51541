"""Reading CSV and TSV files in column batches, fast and with exact error positions.

The file is read in text chunks that end at a line break. Each chunk is first
given to :func:`~cityshare.tables.csvfast.split_chunk`, which splits it into
columns with a handful of whole-text operations when every record is one line
(quotes included). Anything it is not sure about (quoted line breaks, lone
carriage returns, blank lines, a bad row) goes through :mod:`csv` record by
record instead, which also names the data row and line of any problem; a record
cut by the end of the chunk is carried over to the next one. Both paths have the
semantics of :func:`csv.reader` (``"`` quoting, doubled quotes, strict).

Blank lines are skipped and are not data rows. :mod:`csv` refuses cells longer
than ``limits.max_cell_chars`` through ``csv.field_size_limit``, which is process
wide: it is set to that limit whenever a file is opened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cityshare.config import Limits
from cityshare.errors import InvalidData
from cityshare.tables.csvfast import Columns, split_chunk
from cityshare.tables.csvsniff import CsvDialect
from cityshare.tables.source import Batch, HeaderFirstSource

CHUNK_CHARS = 64 * 1024


@dataclass
class _Position:
    """Where the reader is: data rows and characters before the current chunk."""

    rows: int = 0
    chars: int = 0
    pending: str = ""


@dataclass(frozen=True)
class _Parsed:
    columns: Columns
    size: int
    leftover: str = ""


@dataclass
class CsvSource(HeaderFirstSource):
    """A CSV/TSV upload whose encoding and dialect are settled; see the module docstring."""

    path: Path
    encoding: str
    dialect: CsvDialect
    limits: Limits
    _header: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        with self._open() as stream:
            self._header, _, _ = _read_header(stream, self._csv_options(), self.limits)

    def batches(self) -> Generator[Batch, None, None]:
        """The data rows, in batches of one chunk each."""
        with self._open() as stream:
            _, rest, consumed = _read_header(stream, self._csv_options(), self.limits)
            position = _Position(chars=consumed, pending=rest)
            yield from self._chunks(stream, position)

    def _lines_before(self, chars: int) -> int:
        """The line breaks in the first ``chars`` characters (for error messages only)."""
        with self._open() as stream:
            return _count_lines(stream, chars)

    def _open(self) -> TextIO:
        csv.field_size_limit(self.limits.max_cell_chars)
        return self.path.open(encoding=self.encoding, errors="strict", newline="")

    def _csv_options(self) -> dict[str, Any]:
        return {"delimiter": self.dialect.delimiter, "quotechar": '"', "strict": True}

    def _chunks(self, stream: TextIO, position: _Position) -> Iterator[Batch]:
        while True:
            block = stream.read(max(CHUNK_CHARS, len(position.pending)))
            final = not block
            text = position.pending + block
            cut = len(text) if final else text.rfind("\n") + 1
            if cut == 0 and not final:
                position.pending = text
                continue
            text, position.pending = text[:cut], text[cut:]
            parsed = self._parse(text, position, final)
            if parsed.size:
                yield Batch(parsed.columns, position.rows + 1, parsed.size)
            position.rows += parsed.size
            position.chars += len(text) - len(parsed.leftover)
            position.pending = parsed.leftover + position.pending
            if final:
                return

    def _parse(self, text: str, position: _Position, final: bool) -> _Parsed:
        columns = self._parse_fast(text)
        if columns is not None:
            return _Parsed(columns, len(columns[0]))
        return self._parse_records(text, position, final)

    def _parse_fast(self, text: str) -> Columns | None:
        columns = split_chunk(text, self.dialect.delimiter, len(self._header))
        if columns is None or not self._short_enough(text, columns):
            return None
        return columns

    def _short_enough(self, text: str, columns: Columns) -> bool:
        limit = self.limits.max_cell_chars
        return len(text) <= limit or all(max(map(len, column)) <= limit for column in columns)

    def _parse_records(self, text: str, position: _Position, final: bool) -> _Parsed:
        """The slow, exact path: record by record, naming the row and line of any problem."""
        buffer = io.StringIO(text, newline="")
        reader = csv.reader(buffer, **self._csv_options())
        rows: list[list[str]] = []
        width = len(self._header)
        done = previous_line = 0
        try:
            for record in reader:
                if record and len(record) != width:
                    _ragged(
                        position.rows + len(rows) + 1,
                        self._lines_before(position.chars) + previous_line + 1,
                        len(record),
                        width,
                    )
                if record:
                    rows.append(record)
                previous_line, done = reader.line_num, buffer.tell()
        except csv.Error as error:
            if not final and str(error).startswith("unexpected end of data"):
                return _Parsed(_transpose(rows, width), len(rows), text[done:])
            line = self._lines_before(position.chars) + previous_line + 1
            _csv_error(error, position.rows + len(rows) + 1, line, self.limits)
        return _Parsed(_transpose(rows, width), len(rows))


def _count_lines(stream: TextIO, chars: int) -> int:
    """Line breaks in the next ``chars`` characters of ``stream``."""
    lines = 0
    while chars > 0 and (block := stream.read(min(chars, CHUNK_CHARS))):
        lines += block.count("\n")
        chars -= len(block)
    return lines


def _transpose(rows: list[list[str]], width: int) -> Columns:
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _read_header(
    stream: TextIO, options: dict[str, Any], limits: Limits
) -> tuple[list[str], str, int]:
    """The first non-blank record, the text read after it, and the characters up to its end.

    InvalidData for a file without any record.
    """
    text = ""
    while True:
        block = stream.read(max(CHUNK_CHARS, len(text)))
        text += block
        cut = len(text) if not block else text.rfind("\n") + 1
        if cut == 0 and block:
            continue
        buffer = io.StringIO(text[:cut], newline="")
        try:
            for record in csv.reader(buffer, **options):
                if record:
                    end = buffer.tell()
                    return record, text[end:], end
        except csv.Error as error:
            if block and str(error).startswith("unexpected end of data"):
                continue
            _csv_error(error, 0, 1, limits)
        if not block:
            raise InvalidData("The file is empty: it has no header row.")


def _ragged(row: int, line: int, found: int, width: int) -> None:
    raise InvalidData(
        f"Row {row} (line {line}) has {found} cells but the header has {width} columns.",
        row=row,
        line=line,
        cells=found,
        columns=width,
    )


def _csv_error(error: csv.Error, row: int, line: int, limits: Limits) -> None:
    message = str(error)
    where = f"Row {row} (line {line})" if row else "The header row"
    if message.startswith("field larger than field limit"):
        detail = f"{where} has a value longer than {limits.max_cell_chars} characters."
    elif message.startswith("unexpected end of data"):
        detail = f"{where} starts a quoted value that never ends."
    else:
        detail = f"{where} is not valid CSV: {message}."
    raise InvalidData(detail, row=row, line=line)
