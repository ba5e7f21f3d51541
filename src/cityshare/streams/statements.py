"""The hot-path SQL of ingestion, compiled once per dialect and run on the DBAPI cursor.

SQLAlchemy's per-statement execution costs more than these statements themselves, so
the device lookup and the inserts of :mod:`cityshare.streams.ingest` are compiled once
from the Core tables and run on the connection's DBAPI cursor; DBAPI errors come out as
SQLAlchemy's, as from ``execute`` (:func:`dbapi_cursor`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, func, or_, select
from sqlalchemy.exc import DBAPIError

from cityshare.storage.schema import datastreams, device_keys, devices, ingest_batches, observations

_BATCH_COLUMNS = (
    "device_id",
    "key_id",
    "nonce",
    "body_sha256",
    "sent_at",
    "received_at",
    "readings",
    "channel",
)
_OBSERVATION_COLUMNS = (
    "stream_id",
    "time",
    "value_num",
    "value_text",
    "received_at",
    "device_id",
    "key_id",
    "batch_id",
    "verified",
)
_DEVICE_KEYS = (
    select(
        devices.c.id,
        devices.c.revoked_at,
        device_keys.c.id,
        device_keys.c.public_key,
        device_keys.c.revoked_at,
        device_keys.c.valid_until,
    )
    .select_from(devices.outerjoin(device_keys, device_keys.c.device_id == devices.c.id))
    .where(devices.c.uid == bindparam("uid"))
    .order_by(device_keys.c.id)
)
_STREAMS = select(datastreams.c.id, datastreams.c.name, datastreams.c.value_type).where(
    datastreams.c.device_id == bindparam("device_id")
)
# What a group's batches relied on, counted inside the transaction that stores them: the
# keys still live (their device not revoked) and the streams that still exist.
_LIVE_KEYS = (
    select(func.count())
    .select_from(device_keys.join(devices, devices.c.id == device_keys.c.device_id))
    .where(
        device_keys.c.id.in_(bindparam("key_ids", expanding=True)),
        device_keys.c.revoked_at.is_(None),
        devices.c.revoked_at.is_(None),
        or_(device_keys.c.valid_until.is_(None), device_keys.c.valid_until > bindparam("now")),
    )
    .scalar_subquery()
)
_EXISTING_STREAMS = (
    select(func.count())
    .where(datastreams.c.id.in_(bindparam("stream_ids", expanding=True)))
    .scalar_subquery()
)
_LIVE_COUNTS = select(_LIVE_KEYS, _EXISTING_STREAMS)
_INSERT_BATCH = ingest_batches.insert().returning(
    ingest_batches.c.id, ingest_batches.c.device_id, ingest_batches.c.nonce
)
# Rows per multi-row INSERT (qmark dialects): a group of any size takes a few statements,
# and only these few statement texts are ever compiled (and cached by the driver).
_CHUNKS = (1024, 256, 64, 16, 4, 1)
# Key ids and stream ids per liveness statement: under SQLite's smallest limit of 999
# bound parameters, padding included.
MOST_IDS = 256


class Statements:
    """The hot-path statements compiled for one dialect, and how to run them.

    On a ``qmark`` dialect (SQLite) many rows go in one multi-row ``INSERT ... VALUES
    (...), (...)``: the sqlite3 module releases the GIL around every step, so a row-by-row
    ``executemany`` from the committing thread would wait for the GIL once per row while
    request threads hold it. Elsewhere: one ``INSERT ... RETURNING`` per batch and an
    ``executemany`` of the readings, in SQLAlchemy's own parameter style.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.device_keys, self._uid = _compiled(_DEVICE_KEYS, dialect)
        self.streams, self._device = _compiled(_STREAMS, dialect)
        self._live_counts = _LIVE_COUNTS.compile(dialect=dialect)
        self._positional = dialect.positional
        self._store_time = device_keys.c.valid_until.type.dialect_impl(dialect).bind_processor(
            dialect
        )
        self._batch_sql, self._batch = _compiled(_INSERT_BATCH, dialect, _BATCH_COLUMNS)
        self._observation_sql, self._observation = _compiled(
            observations.insert(), dialect, _OBSERVATION_COLUMNS
        )
        processor = device_keys.c.valid_until.type.dialect_impl(dialect).result_processor(
            dialect, None
        )
        self.to_datetime: Callable[[Any], Any] | None = processor
        self._batch_rows = _multirow(self._batch_sql, dialect, self._batch, _BATCH_COLUMNS)
        self._observation_rows = _multirow(
            self._observation_sql, dialect, self._observation, _OBSERVATION_COLUMNS
        )

    def uid_parameters(self, uid: str) -> Any:
        return self._uid(("uid",), (uid,))

    def device_parameters(self, device_id: int) -> Any:
        return self._device(("device_id",), (device_id,))

    def live_counts(
        self, cursor: Any, key_ids: Sequence[int], stream_ids: Sequence[int], now: datetime
    ) -> tuple[int, int]:
        """How many of ``key_ids`` are live at ``now`` (their device not revoked) and how
        many of ``stream_ids`` exist (at most :data:`MOST_IDS` of each): one row."""
        state = self._live_counts.construct_expanded_state(
            {
                "key_ids": _padded(key_ids),
                "stream_ids": _padded(stream_ids),
                "now": self._store_time(now) if self._store_time is not None else now,
            }
        )
        given = state.parameters
        if self._positional:
            assert state.positiontup is not None
            cursor.execute(state.statement, tuple(given[name] for name in state.positiontup))
        else:
            cursor.execute(state.statement, given)
        live_keys, streams = cursor.fetchone()
        return int(live_keys), int(streams)

    def insert_batches(self, cursor: Any, values: list[tuple[Any, ...]]) -> list[int]:
        """Insert ``ingest_batches`` rows (values in :data:`_BATCH_COLUMNS` order); their
        ids, in the same order."""
        if self._batch_rows is None:
            ids = []
            for row in values:
                cursor.execute(self._batch_sql, self._batch(_BATCH_COLUMNS, row))
                ids.append(int(cursor.fetchone()[0]))
            return ids
        # RETURNING gives the rows in no set order: match them on (device, nonce), unique.
        found: dict[tuple[int, str], int] = {}
        for chunk in _chunked(values, _most_rows(cursor, len(_BATCH_COLUMNS))):
            cursor.execute(self._batch_rows(len(chunk)), [v for row in chunk for v in row])
            for batch_id, device_id, nonce in cursor.fetchall():
                found[(device_id, nonce)] = int(batch_id)
        return [found[(row[0], row[2])] for row in values]

    def insert_observations(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert readings (values in :data:`_OBSERVATION_COLUMNS` order)."""
        if self._observation_rows is None:
            parameters = [self._observation(_OBSERVATION_COLUMNS, row) for row in rows]
            cursor.executemany(self._observation_sql, parameters)
            return
        for chunk in _chunked(rows, _most_rows(cursor, len(_OBSERVATION_COLUMNS))):
            cursor.execute(self._observation_rows(len(chunk)), [v for row in chunk for v in row])


def _padded(ids: Sequence[int]) -> list[int]:
    """``ids`` repeated up to a power of two long (an id missing everywhere if empty):
    the IN lists, and so the statement texts the driver caches, come in a few sizes."""
    values = list(ids) or [-1]
    size = 1 << (len(values) - 1).bit_length()
    return values + [values[-1]] * (size - len(values))


def _compiled(
    statement: Any, dialect: Dialect, columns: Sequence[str] | None = None
) -> tuple[str, Callable[[Sequence[str], tuple[Any, ...]], Any]]:
    """The SQL of ``statement`` for ``dialect`` and a function turning values given in
    ``names`` order into that SQL's parameters."""
    compiled = statement.compile(
        dialect=dialect, column_keys=list(columns) if columns is not None else None
    )
    order = compiled.positiontup
    if not dialect.positional:
        return compiled.string, _as_dict
    assert order is not None
    if columns is not None and tuple(order) == tuple(columns):
        return compiled.string, _as_given
    if columns is None and len(order) == 1:
        return compiled.string, _as_given

    def reorder(names: Sequence[str], values: tuple[Any, ...]) -> tuple[Any, ...]:
        given = dict(zip(names, values, strict=True))
        return tuple(given[name] for name in order)

    return compiled.string, reorder


def _multirow(
    sql: str, dialect: Dialect, binder: Any, columns: Sequence[str]
) -> Callable[[int], str] | None:
    """For a single-row ``INSERT ... VALUES (?, ...) [RETURNING ...]`` compiled for a qmark
    dialect with its parameters in ``columns`` order: the same statement for ``n`` rows
    (texts cached). None when that does not hold (another dialect: use executemany)."""
    one = "(" + ", ".join("?" * len(columns)) + ")"
    head, found, tail = sql.partition(f" VALUES {one}")
    if dialect.paramstyle != "qmark" or binder is not _as_given or not found or one in tail:
        return None
    texts: dict[int, str] = {}

    def for_rows(count: int) -> str:
        text = texts.get(count)
        if text is None:
            text = texts[count] = f"{head} VALUES {', '.join([one] * count)}{tail}"
        return text

    return for_rows


def _chunked(rows: list[tuple[Any, ...]], most: int) -> Iterator[list[tuple[Any, ...]]]:
    """``rows`` in consecutive chunks of the sizes in :data:`_CHUNKS` (at most ``most``
    rows), largest first."""
    start, total = 0, len(rows)
    for size in _CHUNKS:
        while size <= most and total - start >= size:
            yield rows[start : start + size]
            start += size


def _most_rows(cursor: Any, columns: int) -> int:
    """The most rows of ``columns`` parameters one SQLite statement may bind."""
    try:
        limit = int(cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    except (AttributeError, sqlite3.Error):
        limit = 999  # SQLite's smallest default
    return max(1, limit // columns)


def _as_given(_names: Sequence[str], values: tuple[Any, ...]) -> tuple[Any, ...]:
    return values


def _as_dict(names: Sequence[str], values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(names, values, strict=True))


_STATEMENTS: dict[tuple[str, str, str], Statements] = {}


def statements_for(dialect: Dialect) -> Statements:
    """The compiled statements for ``dialect`` (made once; a race only makes them twice)."""
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    statements = _STATEMENTS.get(key)
    if statements is None:
        statements = _STATEMENTS[key] = Statements(dialect)
    return statements


@contextmanager
def dbapi_cursor(connection: Connection) -> Iterator[Any]:
    """A DBAPI cursor on ``connection``, inside its transaction; DBAPI errors come out as
    SQLAlchemy's (``OperationalError``, ``IntegrityError``...) as from ``execute``."""
    dialect = connection.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dbapi_error as error:
        raise DBAPIError.instance(None, None, error, dbapi_error, dialect=dialect) from error
    finally:
        cursor.close()
