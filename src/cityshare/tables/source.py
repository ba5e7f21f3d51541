"""What every reader produces: a header and batches of text cells, column by column.

Readers turn a file into :class:`Batch` objects: one sequence of text cells per
header column (``""`` is an empty cell), so that inference and conversion work
on whole columns with C-speed operations instead of cell by cell. A reader can
be iterated more than once (inference pass, then loading pass).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cityshare.config import Limits
from cityshare.errors import BadRequest, InvalidData

SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive data rows, column by column; ``first_row`` is the 1-based row number.

    ``stored`` may hold, per column, values already in stored form (or None).
    """

    columns: Sequence[Sequence[str]]
    first_row: int
    size: int
    stored: Sequence[Sequence[Any] | None] = ()


class TableSource(Protocol):
    """A readable upload: its header and its rows in batches."""

    @property
    def header(self) -> list[str]:
        """Column names; for JSON readers complete only after one full iteration."""
        ...

    @property
    def fixed_types(self) -> dict[str, str]:
        """Columns whose type the format decides (a GeoJSON feature's geometry)."""
        ...

    @property
    def needs_scan(self) -> bool:
        """True when the header is only known after reading the whole file."""
        ...

    def batches(self) -> Generator[Batch, None, None]:
        """The data rows from the start of the file, in batches."""
        ...

    def use_order(self, names: list[str]) -> None:
        """Produce columns in the order of ``names`` (a permutation of the header)."""
        ...


def shown(value: str) -> str:
    """``value`` cut to about 80 characters for an error message."""
    return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"


def check_column_count(count: int, limits: Limits, *, at_least: bool = False) -> None:
    """BadRequest when a file has more columns than the site allows (``at_least``: the
    count is a lower bound, from the first part of a long header)."""
    if count > limits.max_columns:
        bound = "at least " if at_least else ""
        raise BadRequest(
            f"The file has {bound}{count} columns; at most {limits.max_columns} are allowed.",
            columns=count,
            max_columns=limits.max_columns,
        )


def check_header(names: Sequence[str], limits: Limits) -> None:
    """InvalidData for empty or duplicate column names; BadRequest for too many columns.

    Names are never SQL (columns are stored as ``c<i>``), so keywords, quotes and
    semicolons are fine.
    """
    if not names:
        raise InvalidData("The file is empty: it has no columns.")
    check_column_count(len(names), limits)
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise InvalidData(f"Column {position} has no name.", column_position=position)
        if "\x00" in name or not _encodable(name):
            raise InvalidData(
                f"The name of column {position} contains a NUL character or an unpaired surrogate.",
                column_position=position,
            )
    seen: set[str] = set()
    duplicates: list[str] = []
    for name in names:
        if name in seen:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        listed = ", ".join(f"'{shown(name)}'" for name in dict.fromkeys(duplicates))
        raise InvalidData(f"Duplicate column names: {listed}.", duplicates=list(duplicates))


def check_cells(
    batch: Batch, header: Sequence[str], limits: Limits, *, unlimited: Sequence[str] = ()
) -> None:
    """InvalidData for a cell longer than allowed, a NUL or a lone surrogate in a batch.

    For readers whose cells do not come from already checked text (JSON, XLSX).
    Columns in ``unlimited`` (GeoJSON geometries, bounded by their vertex cap instead)
    may be longer.
    """
    for name, column in zip(header, batch.columns, strict=False):
        if not column:
            continue
        if name not in unlimited and max(map(len, column)) > limits.max_cell_chars:
            index = next(i for i, cell in enumerate(column) if len(cell) > limits.max_cell_chars)
            raise InvalidData(
                f"Row {batch.first_row + index}, column '{shown(name)}': the value is longer "
                f"than {limits.max_cell_chars} characters.",
                row=batch.first_row + index,
                column=name,
            )
        _check_characters(batch, name, column)


def _check_characters(batch: Batch, name: str, column: Sequence[str]) -> None:
    joined = "".join(column)
    if "\x00" not in joined and _encodable(joined):
        return
    index = next(i for i, cell in enumerate(column) if "\x00" in cell or not _encodable(cell))
    raise InvalidData(
        f"Row {batch.first_row + index}, column '{shown(name)}': the value contains a NUL "
        "character or an unpaired surrogate, which text cannot hold.",
        row=batch.first_row + index,
        column=name,
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class HeaderFirstSource:
    """The shared part of sources whose first record is the header and whose columns are
    positional (CSV and .xlsx). Subclasses set ``_header`` and provide ``batches``."""

    _header: list[str]

    @property
    def header(self) -> list[str]:
        """The column names from the first non-blank record."""
        return self._header

    @property
    def fixed_types(self) -> dict[str, str]:
        """No column has a type fixed by the format; every type is inferred."""
        return {}

    @property
    def needs_scan(self) -> bool:
        """The header is known without reading the data."""
        return False

    def use_order(self, names: list[str]) -> None:
        """Columns are positional; nothing to reorder."""
