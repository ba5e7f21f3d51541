"""Which text encoding an uploaded file uses, checked over the whole file before parsing.

:func:`examine_text` streams the file once (bounded memory) and settles the
encoding: a byte order mark wins (UTF-8, UTF-16, UTF-32), then a declared
``charset``, then UTF-8, then Windows-1252 (or Latin-1 when the file has bytes
Windows-1252 leaves undefined). On the way it refuses, as
:class:`~cityshare.errors.InvalidData` naming the byte offset and line:

* bytes that are not valid in the declared (or BOM) encoding;
* a file that mixes encodings: valid UTF-8 multi-byte text *and* bytes that are
  not UTF-8 (typically a Latin-1 file edited with a UTF-8 tool);
* NUL characters (no text format has them; PostgreSQL text cannot store them);
* physical lines longer than ``max_line_chars`` (they would be read into memory whole).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from cityshare.errors import InvalidData

CHUNK_BYTES = 1 << 20
UTF8 = "utf-8"
WINDOWS_1252 = "cp1252"
LATIN_1 = "latin-1"

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# A well-formed UTF-8 multi-byte sequence (RFC 3629); in Windows-1252 text such a
# pair of bytes is almost always mojibake, i.e. UTF-8 text mixed in.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


@dataclass(frozen=True)
class TextInfo:
    """What :func:`examine_text` found: the codec to open the file with."""

    encoding: str


@dataclass(frozen=True)
class _DecodeFailure:
    offset: int
    line: int
    saw_non_ascii: bool


def bom_encoding(head: bytes) -> str | None:
    """The encoding announced by a byte order mark at the start of ``head``, if any."""
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return encoding
    return None


def provisional_encoding(head: bytes, declared: str | None) -> str:
    """The encoding to try first: the BOM's, else the declared one, else UTF-8."""
    bom = bom_encoding(head)
    if bom is not None:
        return bom
    return declared or UTF8


def examine_text(path: Path, declared: str | None, *, max_line_chars: int | None) -> TextInfo:
    """Settle the encoding of the text file ``path``; InvalidData if it is not clean text."""
    with path.open("rb") as stream:
        head = stream.read(4)
    if not head:
        raise InvalidData("The file is empty.")
    encoding = provisional_encoding(head, declared)
    failure = _scan(path, encoding, max_line_chars)
    if failure is None:
        return TextInfo(encoding=encoding)
    if encoding != UTF8 or declared is not None:
        raise InvalidData(
            f"The file is not valid {encoding} text: byte offset {failure.offset} "
            f"(line {failure.line}) cannot be decoded.",
            offset=failure.offset,
            line=failure.line,
        )
    return TextInfo(encoding=_fallback(path, failure, max_line_chars))


def _fallback(path: Path, failure: _DecodeFailure, max_line_chars: int | None) -> str:
    """Windows-1252 or Latin-1 for a non-UTF-8 file, unless UTF-8 text is mixed in."""
    utf8_at = -1 if failure.saw_non_ascii else _find_utf8_multibyte(path, failure.offset)
    if failure.saw_non_ascii or utf8_at >= 0:
        where = "" if utf8_at < 0 else f" (e.g. at byte offset {utf8_at})"
        raise InvalidData(
            f"The file mixes text encodings: byte offset {failure.offset} (line {failure.line}) "
            f"is not valid UTF-8, but the file also contains UTF-8 text{where}. Save it as "
            "UTF-8, or declare its charset.",
            offset=failure.offset,
            line=failure.line,
        )
    if _scan(path, WINDOWS_1252, max_line_chars) is None:
        return WINDOWS_1252
    _scan(path, LATIN_1, max_line_chars)  # Latin-1 decodes any byte; this checks NUL and lines
    return LATIN_1


def _scan(path: Path, encoding: str, max_line_chars: int | None) -> _DecodeFailure | None:
    """Decode ``path`` strictly, chunk by chunk; the first undecodable byte, or None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = lines = run = 0
    non_ascii = False
    with path.open("rb") as stream:
        while True:
            data = stream.read(CHUNK_BYTES)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as error:
                start = offset - pending + error.start
                partial = data[: max(error.start - pending, 0)].decode(encoding, errors="ignore")
                seen = non_ascii or not partial.isascii()
                return _DecodeFailure(start, lines + partial.count("\n") + 1, seen)
            _refuse_nul(text, lines)
            run = _check_lines(text, run, lines, max_line_chars)
            lines += text.count("\n")
            non_ascii = non_ascii or not text.isascii()
            offset += len(data)
            if not data:
                return None


def _refuse_nul(text: str, lines: int) -> None:
    position = text.find("\x00")
    if position >= 0:
        line = lines + text.count("\n", 0, position) + 1
        raise InvalidData(
            f"The file contains a NUL character (line {line}): it is not text, or it is "
            "UTF-16/32 without a byte order mark (then declare its charset).",
            line=line,
        )


def _check_lines(text: str, run: int, lines: int, max_line_chars: int | None) -> int:
    """Track the length of the current line across chunks; InvalidData when too long.

    Only a line that spans chunk boundaries can be longer than a chunk, so the first
    and last newline of each chunk are enough.
    """
    if max_line_chars is None:
        return 0
    first = text.find("\n")
    if first < 0:
        run += len(text)
    elif run + first > max_line_chars:
        _too_long(lines + 1, max_line_chars)
    else:
        run = len(text) - text.rfind("\n") - 1
    if run > max_line_chars:
        _too_long(lines + text.count("\n") + 1, max_line_chars)
    return run


def _too_long(line: int, max_line_chars: int) -> None:
    raise InvalidData(
        f"Line {line} of the file is longer than {max_line_chars} characters.", line=line
    )


def _find_utf8_multibyte(path: Path, start: int) -> int:
    """Byte offset of the first well-formed UTF-8 multi-byte sequence at or after ``start``."""
    overlap = 3
    with path.open("rb") as stream:
        stream.seek(start)
        position = start
        carry = b""
        while data := stream.read(CHUNK_BYTES):
            window = carry + data
            found = _UTF8_MULTIBYTE.search(window)
            if found is not None:
                return position - len(carry) + found.start()
            carry = window[-overlap:]
            position += len(data)
    return -1
