"""Values a store cannot hold, refused as bad input rather than met as a database error.

PostgreSQL cannot hold a NUL character in text, and neither engine an integer past 64
bits; a service that looks up or stores such a value would otherwise crash with a
``DataError`` (PostgreSQL) or an ``OverflowError`` (SQLite). :func:`refuse_unstorable`
runs before every statement on both engines, so the answer is the same ``400`` on both,
whatever path the value came by. What only the store can tell (an integer past a 32-bit
column, a text past its column's length) is recognised afterwards by
:func:`is_bad_value_error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.exc import DBAPIError, StatementError

from cityshare.errors import BadRequest

NUL = "\x00"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUL_DETAIL = "A text you sent contains a NUL character (U+0000), which cannot be stored: remove it."
RANGE_DETAIL = "A number you sent is too large to be stored or looked up: send a smaller one."
# PostgreSQL's SQLSTATE class 22, "data exception": out of range, too long, NUL, bad text.
_DATA_EXCEPTION = "22"


def refuse_unstorable(
    _connection: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> None:
    """A ``before_cursor_execute`` listener: BadRequest for a NUL in any text parameter
    or an integer past 64 bits. Bulk loads (``executemany``: a table's rows) are left to
    the file readers, so that this costs nothing per loaded cell."""
    if executemany:
        return
    for value in _values(parameters):
        if isinstance(value, str):
            if NUL in value:
                raise BadRequest(NUL_DETAIL)
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise BadRequest(RANGE_DETAIL)


def is_bad_value_error(error: BaseException) -> bool:
    """Whether the store refused a value it was sent (PostgreSQL's data exceptions, an
    integer SQLite cannot bind), which is the sender's error, not the store's."""
    cause = error.orig if isinstance(error, StatementError) else error
    if isinstance(cause, OverflowError):
        return True
    sqlstate = getattr(cause, "sqlstate", None) if isinstance(error, DBAPIError) else None
    return isinstance(sqlstate, str) and sqlstate.startswith(_DATA_EXCEPTION)


def _values(row: Any) -> Iterable[Any]:
    if isinstance(row, Mapping):
        return row.values()
    if isinstance(row, list | tuple):
        return row
    return ()
