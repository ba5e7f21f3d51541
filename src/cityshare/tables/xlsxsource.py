"""Reading .xlsx workbooks (first sheet, first row the header) as column batches.

Before openpyxl opens anything, :func:`check_zip` reads the zip directory and
refuses decompression bombs: too many members, too much uncompressed data, or a
compression ratio above ``limits.max_xlsx_ratio``. The sizes in the directory
bind: :mod:`zipfile` stops at the declared size and fails on a CRC mismatch.

Cells become text: dates and datetimes ISO 8601 (a datetime at midnight is a
date), booleans ``true``/``false``, numbers their shortest text. Formulas give
their cached values (``data_only``). Empty rows are skipped.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from collections.abc import Generator, Iterator
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any

import openpyxl

from cityshare.config import Limits
from cityshare.errors import CityshareError, InvalidData, PayloadTooLarge
from cityshare.tables.source import Batch, HeaderFirstSource, check_cells, check_column_count

BATCH_ROWS = 1000
MAX_MEMBERS = 10_000
RATIO_MIN_BYTES = 1 << 20
_MIDNIGHT = time(0, 0)


def check_zip(path: Path, limits: Limits) -> None:
    """Refuse a workbook whose zip is not one, or would inflate too much."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InvalidData("The file is not a valid .xlsx workbook (not a zip file).") from None
    if len(members) > MAX_MEMBERS:
        raise PayloadTooLarge(f"The workbook has more than {MAX_MEMBERS} parts.")
    total = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if total > limits.max_upload_bytes:
        raise PayloadTooLarge(
            f"The workbook would inflate to {total} bytes; at most "
            f"{limits.max_upload_bytes} are allowed."
        )
    for size, compressed in [(total, packed)] + [(m.file_size, m.compress_size) for m in members]:
        if size > RATIO_MIN_BYTES and size > limits.max_xlsx_ratio * max(compressed, 1):
            raise PayloadTooLarge(
                f"The workbook is compressed more than {limits.max_xlsx_ratio} to 1; "
                "it looks like a decompression bomb."
            )


class XlsxSource(HeaderFirstSource):
    """The first sheet of a workbook; see the module docstring."""

    def __init__(self, path: Path, limits: Limits) -> None:
        check_zip(path, limits)
        self._path = path
        self._limits = limits
        self._header: list[str] = []
        for header in self._read(header_only=True):
            self._header = header
        if not self._header:
            raise InvalidData("The file is empty: the first sheet has no header row.")

    def batches(self) -> Generator[Batch, None, None]:
        """The data rows, in batches."""
        width = len(self._header)
        rows = self._read(header_only=False)
        first = 1
        while chunk := list(islice(rows, BATCH_ROWS)):
            columns = [list(column) for column in zip(*chunk, strict=True)]
            batch = Batch(columns or [[] for _ in range(width)], first, len(chunk))
            check_cells(batch, self._header, self._limits)
            yield batch
            first += len(chunk)

    def _read(self, *, header_only: bool) -> Iterator[list[str]]:
        """The header (``header_only``) or the data rows as lists of text cells."""
        # A file object, not a path: openpyxl would judge a path by its extension.
        with self._path.open("rb") as stream:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions
                try:
                    workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
                except Exception:  # openpyxl raises many kinds for a damaged workbook
                    raise InvalidData("The file is not a valid .xlsx workbook.") from None
            try:
                yield from self._rows(workbook.worksheets[0], header_only)
            except CityshareError:
                raise
            except Exception:
                raise InvalidData("The .xlsx workbook is damaged and cannot be read.") from None
            finally:
                workbook.close()

    def _rows(self, sheet: Any, header_only: bool) -> Iterator[list[str]]:
        header_seen = False
        data_row = 0
        width = len(self._header)
        for values in sheet.iter_rows(values_only=True):
            cells = [_cell(value) for value in values]
            if not any(cells):
                continue
            if not header_seen:
                header_seen = True
                if header_only:
                    yield _trim(cells, self._limits)
                    return
                continue
            data_row += 1
            yield _fit(cells, width, data_row)


def _trim(cells: list[str], limits: Limits) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    check_column_count(len(cells), limits)
    return cells


def _fit(cells: list[str], width: int, row: int) -> list[str]:
    if len(cells) > width and any(cells[width:]):
        found = max(index for index, cell in enumerate(cells) if cell) + 1
        raise InvalidData(
            f"Row {row} has {found} cells but the header has {width} columns.",
            row=row,
            cells=found,
            columns=width,
        )
    return cells[:width] + [""] * (width - len(cells))


def _cell(value: Any) -> str:
    """The text of an openpyxl cell value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == _MIDNIGHT:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
