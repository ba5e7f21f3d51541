"""Guessing a CSV file's delimiter, and refusing very wide files before reading them.

Both work on a sample of the first bytes, decoded provisionally, so that a file
with 100 000 columns is refused at once instead of after a pass over the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from cityshare.config import Limits
from cityshare.tables.source import check_column_count

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 256 * 1024
SNIFF_RECORDS = 100


@dataclass(frozen=True)
class CsvDialect:
    """How records are split: a one-character delimiter, ``"`` quoting (doubled inside)."""

    delimiter: str


def read_sample(path: Path, encoding: str) -> str:
    """The first bytes of ``path`` as text (undecodable bytes replaced; for guessing only)."""
    with path.open("rb") as stream:
        data = stream.read(SAMPLE_BYTES)
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(data, final=False)


def sniff_delimiter(sample: str) -> str:
    """The delimiter among ``, ; TAB |`` that splits the sample into the most regular table.

    A candidate scores by (every record as wide as the header with more than one
    column, header wider than one column, share of records as wide as the header,
    header width); ties go to the earlier candidate.

    >>> sniff_delimiter("name;price\\nbread;1,20\\n")
    ';'
    """
    cut = sample.rfind("\n")
    text = sample[: cut + 1] if cut >= 0 else sample
    best, best_score = DELIMITERS[0], (False, False, 0.0, 0)
    for delimiter in DELIMITERS:
        widths = _widths(text, delimiter)
        if not widths:
            continue
        header = widths[0]
        share = sum(1 for width in widths if width == header) / len(widths)
        score = (share == 1.0 and header > 1, header > 1, share, header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _widths(text: str, delimiter: str) -> list[int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    widths: list[int] = []
    try:
        for record in islice(reader, SNIFF_RECORDS):
            if record:
                widths.append(len(record))
    except csv.Error:
        pass
    return widths


def check_sample_width(sample: str, delimiter: str, limits: Limits) -> None:
    """BadRequest when the first record of the sample has more columns than allowed."""
    cut = sample.find("\n")
    first = sample if cut < 0 else sample[: cut + 1]
    try:
        record = next(csv.reader(io.StringIO(first, newline=""), delimiter=delimiter), [])
        count = len(record)
    except csv.Error:
        count = 0
    if cut < 0:  # a header longer than the sample: count its delimiters
        count = max(count, first.count(delimiter) + 1)
    check_column_count(count, limits, at_least=cut < 0)
