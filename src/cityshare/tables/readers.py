"""Opening an upload as a :class:`~cityshare.tables.source.TableSource` by its media type."""

from __future__ import annotations

from pathlib import Path

from cityshare.config import Limits
from cityshare.tables import formats
from cityshare.tables.csvsniff import (
    CsvDialect,
    check_sample_width,
    read_sample,
    sniff_delimiter,
)
from cityshare.tables.csvsource import CsvSource
from cityshare.tables.encoding import examine_text, provisional_encoding
from cityshare.tables.jsonsource import JsonSource
from cityshare.tables.source import TableSource
from cityshare.tables.xlsxsource import XlsxSource

MAX_LINE_CHARS = 64 * 1024 * 1024


def open_source(media: formats.MediaType, path: Path, limits: Limits) -> TableSource:
    """A reader for ``path``; InvalidData/BadRequest/PayloadTooLarge if it cannot be read."""
    if media.essence == formats.XLSX:
        return XlsxSource(path, limits)
    if media.essence in (formats.CSV, formats.TSV):
        return _open_csv(media, path, limits)
    info = examine_text(path, media.charset, max_line_chars=None)
    return JsonSource(path, info.encoding, limits, geojson=media.essence == formats.GEOJSON)


def _open_csv(media: formats.MediaType, path: Path, limits: Limits) -> CsvSource:
    """Guess the delimiter and refuse too many columns from a sample, then check the text."""
    with path.open("rb") as stream:
        head = stream.read(4)
    sample = read_sample(path, provisional_encoding(head, media.charset))
    delimiter = "\t" if media.essence == formats.TSV else sniff_delimiter(sample)
    check_sample_width(sample, delimiter, limits)
    info = examine_text(path, media.charset, max_line_chars=MAX_LINE_CHARS)
    return CsvSource(path, info.encoding, CsvDialect(delimiter), limits)
