"""Splitting a CSV chunk into columns without a Python step per row.

:func:`split_chunk` handles the common case, a chunk whose every record is one
line, with the semantics of :func:`csv.reader` (``"`` quoting, doubled quotes,
strict). It returns None whenever it is not sure (a quoted line break, a quote
that does not start or end a field, a blank line, mixed line ends, a line with
another number of cells, a chunk holding one of the private marks), and the
caller then parses the chunk record by record with :mod:`csv`, which also names
the row and line of any problem.

How: with quotes, the text is split on ``"`` so that odd pieces are quoted
content and even pieces the rest; delimiters in even pieces become a private
separator (the ASCII unit separator), and an empty even piece between two quoted
pieces is a doubled quote. Then each line end becomes separator + record mark +
separator, one ``split`` gives every cell, and the record marks must sit exactly
every ``width + 1`` cells: that proves every line has ``width`` cells without
looking at lines one by one.
"""

from __future__ import annotations

from operator import itemgetter

SEPARATOR = "\x1f"  # ASCII unit separator
RECORD_MARK = "\x1e"  # ASCII record separator
_GLUE = "\x1d"  # ASCII group separator, joins pieces for one bulk replace
_MARKS = (SEPARATOR, RECORD_MARK, _GLUE)
_FIRST = itemgetter(0)
_LAST = itemgetter(-1)

Columns = list[list[str]]


def split_chunk(text: str, delimiter: str, width: int) -> Columns | None:
    """The columns of ``text`` (whole lines), or None to take the exact path."""
    if not text:
        return [[] for _ in range(width)]
    if any(mark in text for mark in _MARKS):
        return None
    newline = "\r\n" if "\r" in text else "\n"
    if newline * 2 in text or text.startswith(newline):
        return None  # blank lines, which are not records
    complete = text.endswith(newline)
    separator = delimiter
    if '"' in text:
        dequoted = _dequote(text, delimiter, newline)
        if dequoted is None:
            return None
        text, separator = dequoted, SEPARATOR
    body = text[: -len(newline)] if complete else text
    records = body.count(newline) + 1
    joined = body.replace(newline, separator + RECORD_MARK + separator)
    if newline == "\r\n" and ("\r" in joined or "\n" in joined):
        return None  # mixed line ends
    cells = joined.split(separator)
    stride = width + 1
    if len(cells) != records * stride - 1 or cells[width::stride].count(RECORD_MARK) != records - 1:
        return None
    return [cells[index::stride] for index in range(width)]


def _dequote(text: str, delimiter: str, newline: str) -> str | None:
    """``text`` with quoting resolved and delimiters as separators; None if unsure."""
    parts = text.split('"')
    if len(parts) % 2 == 0:
        return None  # an odd number of quotes
    outside, inside = parts[0::2], parts[1::2]
    # A quote opens a field (after a delimiter or a line end) and closes it (before one).
    opening = set(map(_LAST, filter(None, outside[:-1])))
    closing = set(map(_FIRST, filter(None, outside[1:])))
    if not opening <= {delimiter, "\n"} or not closing <= {delimiter, newline[0]}:
        return None
    quoted = _GLUE.join(inside)
    if "\n" in quoted or "\r" in quoted:
        return None  # a line break inside quotes: records span lines
    outside = _GLUE.join(outside).replace(delimiter, SEPARATOR).split(_GLUE)
    if "" in outside[1:-1]:  # "" between two quoted pieces is a doubled quote
        outside[1:-1] = ['"' if piece == "" else piece for piece in outside[1:-1]]
    parts[0::2] = outside
    return "".join(parts)
