"""Whether the store answers: which errors mean "unreachable", and one log line per outage.

An unreachable store (PostgreSQL stopped or restarting, its network gone, a SQLite file
that cannot be opened or read) is not a bug: every adapter answers it with ``503`` and
``Retry-After`` (:class:`~cityshare.errors.StoreUnavailable`), and the log says so once,
not once per request. :func:`is_unavailable_error` decides which errors those are;
everything else stays an unexpected error (a ``500`` with its traceback in the log).

:class:`StoreHealth` (one per :class:`~cityshare.site.Site`, ``site.health``) holds the
state; :func:`watch_store` ties it to an engine with two SQLAlchemy events:

- ``handle_error``: a statement or a connection attempt failed with an unreachable-store
  error, so the store is down (logged once, as a WARNING naming the error's class);
- ``after_cursor_execute``: a statement ran, so the store is back (logged once, as a
  WARNING saying how long it was down). "Back" is therefore seen by the first request
  or background job that reaches the store after the outage: nothing polls it.

Example::

    health = StoreHealth()
    watch_store(engine, health)
    try:
        run(engine)
    except Exception as error:
        if is_unavailable_error(error):
            ...  # answer 503; the log has its line already
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cityshare.errors import StoreUnavailable

log = logging.getLogger("cityshare.store")

RETRY_AFTER_SECONDS = 5
# PostgreSQL SQLSTATEs of a server that is gone, going or not there yet (connection
# exceptions are class 08): admin_shutdown, crash_shutdown, cannot_connect_now.
_PG_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})
# SQLite result codes (the low byte of an extended code): the file cannot be opened or read.
_SQLITE_CANTOPEN = 14
_SQLITE_IOERR = 10
_SQLITE_GONE_TEXT = ("unable to open database file", "disk i/o error")


def is_unavailable_error(error: BaseException) -> bool:
    """True when ``error`` means the store cannot be reached now (try again later), not a
    bug: a lost or refused connection, a server shutting down or starting up, no free
    connection in the pool in time, a SQLite file that cannot be opened or read.

    A busy SQLite write lock, a statement cancelled by its time limit and a full disk are
    not "unavailable": they have their own answers.
    """
    if isinstance(error, PoolTimeout | DisconnectionError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        return _driver_error_unavailable(error.orig)
    return _driver_error_unavailable(error)


def _driver_error_unavailable(error: BaseException | None) -> bool:
    if isinstance(error, sqlite3.Error):
        return _sqlite_unavailable(error)
    psycopg: Any = sys.modules.get("psycopg")  # never imported: not a psycopg error
    if psycopg is None or not isinstance(error, psycopg.Error):
        return False
    if isinstance(error, psycopg.InterfaceError):  # "the connection is closed"
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    # No SQLSTATE: libpq itself failed (connection refused, server closed the connection).
    return state is None or state.startswith("08") or state in _PG_GONE_STATES


def _sqlite_unavailable(error: sqlite3.Error) -> bool:
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in (_SQLITE_CANTOPEN, _SQLITE_IOERR):
        return True
    return str(error).lower().startswith(_SQLITE_GONE_TEXT)


def unavailable() -> StoreUnavailable:
    """The service error to answer an unreachable store with (``503``, ``Retry-After``)."""
    return StoreUnavailable(
        "The data store cannot be reached right now; nothing was changed. Try again in a "
        "few seconds.",
        retry_after=RETRY_AFTER_SECONDS,
    )


class StoreHealth:
    """Whether the store was reachable when last used; logs each change once.

    Thread-safe: requests, the ingest committer and the audit writer report to it from
    their own threads. Reading :attr:`is_down` takes no lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None

    @property
    def is_down(self) -> bool:
        """True between an unreachable-store error and the next statement that ran."""
        return self._down_since is not None

    def mark_down(self, error: BaseException) -> None:
        """Record that the store is unreachable; the first report of an outage logs one
        WARNING naming the error's class (never a traceback)."""
        if self._down_since is not None:
            return
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.warning("The store is unreachable (%s); answering 503 until it is back", _named(error))

    def mark_up(self) -> None:
        """Record that the store answered; after an outage, logs one WARNING with its length."""
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("The store is back after %.1f s out of reach", time.monotonic() - since)


def _named(error: BaseException) -> str:
    """``module.Class: first line of the message`` of the driver's error (no SQL)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    kind = type(cause)
    message = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    name = f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}: {message}" if message else name


def watch_store(engine: Engine, health: StoreHealth) -> None:
    """Report ``engine``'s unreachable-store errors and its next success to ``health``."""

    def failed(context: Any) -> None:
        # A failed pre-ping only makes the pool reconnect: not an outage by itself.
        if context.is_pre_ping:
            return
        error = context.sqlalchemy_exception or context.original_exception
        if context.is_disconnect or is_unavailable_error(error):
            health.mark_down(error)

    def ran(*_args: Any) -> None:
        if health.is_down:
            health.mark_up()

    event.listen(engine, "handle_error", failed)
    event.listen(engine, "after_cursor_execute", ran)


def ping(engine: Engine) -> None:
    """Run a trivial statement: raises when the store cannot be reached."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


__all__ = [
    "RETRY_AFTER_SECONDS",
    "StoreHealth",
    "is_unavailable_error",
    "ping",
    "unavailable",
    "watch_store",
]
