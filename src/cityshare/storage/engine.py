"""Create SQLAlchemy engines for the embedded SQLite store and for PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cityshare.storage.values import refuse_unstorable
from cityshare.storage.watchdog import Deadline, Watchdog

TIME_LIMIT_OPTION = "cityshare_time_limit"
BUSY_TIMEOUT_OPTION = "cityshare_busy_timeout_ms"
DEFAULT_BUSY_TIMEOUT_MS = 10_000
PROGRESS_STEPS = 100_000  # SQLite VM steps between time-limit checks (about a millisecond)
_STATE_KEY = "cityshare_sqlite"

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: an acknowledged commit survives a killed process and a power cut.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-65536",
)


def create_store_engine(url: str, *, pool_size: int = 8) -> Engine:
    # SQLite connections are cheap and reads run in parallel threads: its pool is sized
    # for the HTTP thread pool (40) so connections are reused, not reopened.
    """An engine for ``url``: SQLite gets WAL and safe pragmas; PostgreSQL uses psycopg 3."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, max(pool_size, 20))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    event.listen(engine, "begin", _postgresql_begin)
    event.listen(engine, "before_cursor_execute", refuse_unstorable)
    return engine


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False},
    )
    # One watchdog per engine, handed to each new connection (no process-wide state).
    event.listen(engine, "connect", partial(_set_sqlite_pragmas, Watchdog()))
    # pysqlite's own transaction handling is off; SQLAlchemy emits BEGIN itself,
    # so DDL and bulk loads share one atomic transaction.
    event.listen(engine, "begin", _sqlite_begin)
    # A finished transaction has no deadline: the watchdog never interrupts a connection
    # between transactions (an interrupt could outlive a statement left open).
    event.listen(engine, "commit", _sqlite_end)
    event.listen(engine, "rollback", _sqlite_end)
    event.listen(engine, "before_cursor_execute", refuse_unstorable)
    return engine


@dataclass
class _SqliteState:
    """Per-connection settings that change between transactions."""

    deadline: Deadline = field(repr=False)
    busy_ms: int = DEFAULT_BUSY_TIMEOUT_MS


def _set_sqlite_pragmas(watchdog: Watchdog, dbapi_connection: Any, record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (*SQLITE_PRAGMAS, f"PRAGMA busy_timeout = {DEFAULT_BUSY_TIMEOUT_MS}"):
        cursor.execute(pragma)
    cursor.close()
    state = _SqliteState(deadline=watchdog.register(dbapi_connection))
    record.info[_STATE_KEY] = state
    # Installed once; a transaction only moves the deadline (see _sqlite_begin). The
    # handler cuts between steps; the watchdog also interrupts a step that runs long.
    dbapi_connection.set_progress_handler(state.deadline.passed, PROGRESS_STEPS)


def _sqlite_begin(connection: Any) -> None:
    options = connection.get_execution_options()
    state: _SqliteState = connection.connection.info[_STATE_KEY]
    limit = options.get(TIME_LIMIT_OPTION)
    state.deadline.set(float(limit) if limit else None)
    busy_ms = int(options.get(BUSY_TIMEOUT_OPTION, DEFAULT_BUSY_TIMEOUT_MS))
    if busy_ms != state.busy_ms:
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
        state.busy_ms = busy_ms
    # Writers take the write lock up front (IMMEDIATE) so that two writers queue on
    # busy_timeout instead of failing on a lock upgrade. Readers run each statement on
    # its own WAL snapshot and never block; they need no BEGIN/ROLLBACK round trip.
    if options.get("write", False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_end(connection: Any) -> None:
    try:
        state: _SqliteState | None = connection.connection.info.get(_STATE_KEY)
    except SQLAlchemyError:  # invalidated: it will not be used again
        return
    if state is not None:
        state.deadline.set(None)


def _postgresql_begin(connection: Any) -> None:
    limit = connection.get_execution_options().get(TIME_LIMIT_OPTION)
    if limit:
        milliseconds = max(1, int(float(limit) * 1000))
        # On the DBAPI cursor: a streaming connection would wrap exec_driver_sql in a
        # server-side cursor, which cannot hold SET.
        cursor = connection.connection.cursor()
        cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        cursor.close()


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions take the write lock at once."""
    return engine.execution_options(write=True)


def impatient_writer(engine: Engine, milliseconds: int) -> Engine:
    """A writer that waits at most ``milliseconds`` for SQLite's write lock (for writes
    that may be skipped, such as bookkeeping)."""
    return writer(engine).execution_options(**{BUSY_TIMEOUT_OPTION: milliseconds})


def is_busy_error(error: BaseException) -> bool:
    """True when ``error`` means the store's write lock could not be had in time."""
    return "database is locked" in str(getattr(error, "orig", error)).lower()


def time_limited(engine: Engine, seconds: float) -> Engine:
    """The same engine, whose transactions are cancelled after ``seconds``.

    SQLite: a progress handler and the watchdog thread (:mod:`.watchdog`) interrupt the
    statement; PostgreSQL: ``SET LOCAL statement_timeout``. :func:`is_time_limit_error`
    recognises the resulting error.
    """
    return engine.execution_options(**{TIME_LIMIT_OPTION: seconds})


def is_time_limit_error(error: BaseException) -> bool:
    """True when ``error`` comes from a statement cancelled by :func:`time_limited`."""
    text = str(getattr(error, "orig", error)).lower()
    return "interrupted" in text or "statement timeout" in text


def is_sqlite(engine: Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"
