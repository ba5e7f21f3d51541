"""Streaming JSON: one value at a time from a file, through a sliding text window.

The standard library's C scanner (:meth:`json.JSONDecoder.raw_decode`) parses
each value; the window only keeps the text of the value being parsed, so memory
stays bounded by the largest single value (``max_value_chars``), never by the
file. When a value is cut by the end of the window, the window grows
geometrically and the value is parsed again, so a large value costs linear time.

``NaN``, ``Infinity`` and ``-Infinity`` (which Python's parser accepts but JSON does
not) are refused; numbers too large for a float are left to the callers' checks.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn, TextIO

from cityshare.errors import InvalidData

CHUNK_CHARS = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_TRUNCATION_MARGIN = 64


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class JsonWindow:
    """A cursor over the JSON text of ``stream``; see the module docstring."""

    def __init__(self, stream: TextIO, max_value_chars: int) -> None:
        self._stream = stream
        self._max_value_chars = max_value_chars
        self._decoder = json.JSONDecoder(parse_constant=_refuse_constant)
        self._buffer = ""
        self._position = 0
        self._lines_before = 0
        self._eof = False

    @property
    def line(self) -> int:
        """The 1-based line of the cursor, for error messages."""
        return self._lines_before + self._buffer.count("\n", 0, self._position) + 1

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        while True:
            match = _WHITESPACE.match(self._buffer, self._position)
            self._position = match.end() if match else self._position
            if self._position < len(self._buffer):
                return self._buffer[self._position]
            if self._eof:
                return ""
            self._read(CHUNK_CHARS)

    def expect(self, character: str, what: str) -> None:
        """Step over ``character``; InvalidData naming ``what`` was expected otherwise."""
        if self.peek() != character:
            self.fail(f"expected {what}")
        self._position += 1

    def value(self) -> Any:
        """The next JSON value (after whitespace); InvalidData if it is not valid JSON."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._position)
            except json.JSONDecodeError as error:
                if self._eof or not self._truncated(error):
                    self.fail(error.msg)
                self._grow()
                continue
            except RecursionError:
                self.fail("the value is nested too deeply")
            except ValueError as error:  # refused constants, integers with too many digits
                self.fail(str(error))
            if end == len(self._buffer) and not self._eof:
                self._grow()  # a number may go on in the next chunk
                continue
            self._position = end
            return value

    def fail(self, reason: str) -> NoReturn:
        """Raise InvalidData naming the line of the cursor."""
        line = self.line
        raise InvalidData(f"The file is not valid JSON at line {line}: {reason}.", line=line)

    def _truncated(self, error: json.JSONDecodeError) -> bool:
        near_end = error.pos >= len(self._buffer) - _TRUNCATION_MARGIN
        return near_end or error.msg.startswith("Unterminated string")

    def _grow(self) -> None:
        pending = len(self._buffer) - self._position
        if pending > self._max_value_chars:
            self.fail(f"a single value is longer than {self._max_value_chars} characters")
        self._read(max(CHUNK_CHARS, pending))

    def _read(self, size: int) -> None:
        data = self._stream.read(size)
        self._eof = not data
        self._lines_before += self._buffer.count("\n", 0, self._position)
        self._buffer = self._buffer[self._position :] + data
        self._position = 0
