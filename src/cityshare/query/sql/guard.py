"""Running rendered SQL read-only, within a time limit, and explaining its failures.

PostgreSQL: the transaction is ``READ ONLY`` (and the engine's ``statement_timeout``
applies). SQLite: the connection is ``query_only`` for the statement, LIKE is
case-sensitive (as on PostgreSQL), the longest value a statement may build is capped, and
an authorizer admits only SELECT, reads of the columns the rendered SQL may read, and a
short list of functions — a second wall behind the allow-list. The connection is put
back as it was before it returns to the pool (or is discarded).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from cityshare.errors import BadRequest, CityshareError, QueryTimeout
from cityshare.query.sql.rewrite import Rendered
from cityshare.storage.engine import is_busy_error, is_time_limit_error

MAX_VALUE_BYTES = 16 * 1024 * 1024  # SQLite: the longest text a statement may build
# SQLite functions the rendered SQL may call: those of the allow-list and the ones
# sqlglot and the row filters render them with.
SQLITE_FUNCTIONS = frozenset(
    {
        "count", "sum", "avg", "min", "max", "total", "coalesce", "ifnull", "nullif",
        "abs", "round", "lower", "upper", "length", "substr", "substring", "trim",
        "ltrim", "rtrim", "replace", "instr", "like", "date", "datetime",
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

Row = tuple[Any, ...]


def run_read_only(engine: Engine, rendered: Rendered, limit: int) -> tuple[list[str], list[Row]]:
    """Column names and at most ``limit`` rows of ``rendered``, run read-only."""
    try:
        with engine.connect() as connection, _read_only(connection, rendered.reads):
            result = connection.exec_driver_sql(_driver_text(connection, rendered.sql))
            return list(result.keys()), [tuple(row) for row in result.fetchmany(limit)]
    except DBAPIError as error:
        problem = _problem(error, rendered.names)
        if problem is None:
            raise
        raise problem from None


@contextmanager
def _read_only(connection: Connection, reads: Mapping[str, frozenset[str]]) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield
        return
    connection.exec_driver_sql("PRAGMA query_only = ON")  # starts the time limit too
    raw: Any = connection.connection.dbapi_connection
    raw.execute("PRAGMA case_sensitive_like = ON")  # LIKE as on PostgreSQL
    length = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    raw.set_authorizer(_authorizer(reads))
    try:
        yield
    finally:
        try:
            raw.set_authorizer(None)
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
