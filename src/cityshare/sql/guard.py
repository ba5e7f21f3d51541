"""Running rendered SQL read-only, within limits of time and bytes, and explaining failures.

PostgreSQL: the transaction is ``READ ONLY`` (and the engine's ``statement_timeout``
applies); the bounded string functions (:mod:`.bounded`) are created in the session
first; rows come through a server-side cursor. SQLite: the connection is ``query_only``
for the statement, LIKE is case-sensitive (as on PostgreSQL) and its patterns short, the
longest value a statement may build is capped, and an authorizer admits only SELECT,
reads of the columns the rendered SQL may read, and a short list of functions — a second
wall behind the allow-list. The connection is put back as it was before it returns to
the pool (or is discarded).

Rows are fetched one at a time and converted to JSON values as they come; fetching stops
at the row cap or when the answer would pass its byte budget, whichever comes first
(:class:`Fetched` says which), so memory holds at most the budget and one row.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from cityshare.errors import BadRequest, CityshareError, QueryTimeout
from cityshare.sql.bounded import MAX_LIKE_PATTERN_CHARS, install_postgresql, install_sqlite
from cityshare.sql.output import json_cell
from cityshare.sql.rewrite import Rendered
from cityshare.storage.engine import is_busy_error, is_time_limit_error

DEFAULT_VALUE_BYTES = 1024 * 1024  # the longest text a statement may build (a setting)
DEFAULT_ANSWER_BYTES = 50 * 1000 * 1000  # the byte budget of one answer (a setting)
POSTGRESQL_ROW_BUFFER = 16  # rows the server-side cursor fetches at a time
# SQLite functions the rendered SQL may call: those of the allow-list and the ones
# sqlglot and the row filters render them with.
SQLITE_FUNCTIONS = frozenset(
    {
        "count", "sum", "avg", "min", "max", "total", "coalesce", "ifnull", "nullif",
        "abs", "round", "lower", "upper", "length", "substr", "substring", "trim",
        "ltrim", "rtrim", "replace", "instr", "like", "date", "datetime",
        "cityshare_instr", "cityshare_replace", "cityshare_trim",
    }
)  # fmt: skip
# PostgreSQL error classes caused by the statement itself (SQLSTATE's first two chars):
# data exception, integrity, invalid transaction state (read only), syntax or access
# rule, program limit, feature not supported, cardinality.
USER_ERROR_CLASSES = frozenset({"22", "23", "25", "42", "54", "0A", "21"})
# SQLite result codes caused by the statement itself: SQLITE_ERROR (syntax, no such
# column…), SQLITE_READONLY, SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH,
# SQLITE_AUTH (the authorizer) and SQLITE_RANGE.
SQLITE_USER_ERRORS = frozenset({1, 8, 18, 19, 20, 23, 25})
_INTERNAL_TABLE = re.compile(r"dsv_[0-9]+_[0-9]+")


class Fetched(NamedTuple):
    """What a statement answered: its column names, its rows as JSON values, and what
    cut them short (``"rows"``: the row cap, ``"bytes"``: the byte budget; None: all)."""

    columns: list[str]
    rows: list[list[Any]]
    truncated_by: Literal["rows", "bytes"] | None


def run_read_only(
    engine: Engine,
    rendered: Rendered,
    limit: int,
    *,
    max_bytes: int = DEFAULT_ANSWER_BYTES,
    max_value_bytes: int = DEFAULT_VALUE_BYTES,
) -> Fetched:
    """At most ``limit`` rows of ``rendered`` (rendered with a LIMIT above ``limit``, so
    that a cut is seen), and at most about ``max_bytes`` of values, run read-only."""
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                install_postgresql(connection, max_value_bytes)
            with _read_only(connection, rendered.reads, max_value_bytes):
                result = connection.exec_driver_sql(
                    _driver_text(connection, rendered.sql),
                    execution_options=_streaming(connection),
                )
                with result:
                    rows, cut = _fetch(iter(result), limit, max_bytes)
                    return Fetched(list(result.keys()), rows, cut)
    except DBAPIError as error:
        problem = _problem(error, rendered.names)
        if problem is None:
            raise
        raise problem from None


def _streaming(connection: Connection) -> dict[str, Any]:
    if connection.dialect.name == "postgresql":  # else psycopg holds the whole result
        return {"stream_results": True, "max_row_buffer": POSTGRESQL_ROW_BUFFER}
    return {}


def _fetch(
    rows: Iterator[Any], limit: int, max_bytes: int
) -> tuple[list[list[Any]], Literal["rows", "bytes"] | None]:
    fetched: list[list[Any]] = []
    size = 2
    for row in rows:
        if len(fetched) == limit:
            return fetched, "rows"
        values = [json_cell(value) for value in row]
        size += sum(_cell_bytes(value) for value in values) + 3
        if size > max_bytes:
            return fetched, "bytes"
        fetched.append(values)
    return fetched, None


def _cell_bytes(value: Any) -> int:
    """About the bytes of one JSON value in the answer (text at one byte a character)."""
    return len(value) + 3 if isinstance(value, str) else 8


@contextmanager
def _read_only(
    connection: Connection, reads: Mapping[str, frozenset[str]], max_value_bytes: int
) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield
        return
    connection.exec_driver_sql("PRAGMA query_only = ON")  # starts the time limit too
    raw: Any = connection.connection.dbapi_connection
    raw.execute("PRAGMA case_sensitive_like = ON")  # LIKE as on PostgreSQL
    length = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
    pattern = raw.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN_CHARS)
    install_sqlite(raw, max_value_bytes)
    raw.set_authorizer(_authorizer(reads))
    try:
        yield
    finally:
        try:
            raw.set_authorizer(None)
            raw.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, pattern)
            raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)
            raw.execute("PRAGMA case_sensitive_like = OFF")
            raw.execute("PRAGMA query_only = OFF")
        except Exception:
            connection.invalidate()  # never pool a connection left read-only or guarded
            raise


def _authorizer(reads: Mapping[str, frozenset[str]]) -> Callable[..., int]:
    def decide(
        action: int, first: str | None, second: str | None, database: str | None, *_: Any
    ) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            if database is None:  # a CTE of the statement, not a table
                return sqlite3.SQLITE_OK
            columns = reads.get(first or "") if database == "main" else None
            allowed = columns is not None and (not second or second in columns)
            return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in SQLITE_FUNCTIONS:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    return decide


def _driver_text(connection: Connection, sql: str) -> str:
    # psycopg reads '%' as the start of a placeholder whenever parameters are passed
    # (SQLAlchemy passes an empty set): '%%' is a literal '%'.
    if connection.dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%")
    return sql


def _problem(error: DBAPIError, names: Mapping[str, str]) -> CityshareError | None:
    """The error to answer for a failed statement; None for failures of the store."""
    if is_time_limit_error(error):
        return QueryTimeout(
            "The statement ran past its time limit and was cancelled: read fewer rows, "
            "join on fewer rows, or add conditions."
        )
    message = _user_error_message(error)
    if message is None:
        return None
    if "not authorized" in message or "prohibited" in message:  # SQLite's authorizer
        return BadRequest("The statement tried to read or call something that is not allowed.")
    for generated, written in names.items():
        message = message.replace(generated, written)
    message = _INTERNAL_TABLE.sub("(dataset)", message)
    return BadRequest(f"The database could not run the statement: {message[:300]}")


def _user_error_message(error: DBAPIError) -> str | None:
    original = error.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        if is_busy_error(error) or code not in SQLITE_USER_ERRORS:
            return None
        return str(original)
    sqlstate = str(getattr(original, "sqlstate", "") or "")
    if sqlstate[:2] not in USER_ERROR_CLASSES:
        return None
    diagnostic = getattr(original, "diag", None)
    return str(getattr(diagnostic, "message_primary", None) or "invalid statement")
