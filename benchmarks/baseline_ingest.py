"""The baseline of ``bench_ingest.py``: a minimal Starlette endpoint storing readings.

``POST /api/v1/ingest`` takes the very bytes cityshare takes (the signature header is
ignored: the batches are treated as unsigned), parses them with orjson, maps each
reading's stream name to its id through a dict loaded at start-up (the device from
``X-Device-Id``), parses the RFC 3339 times and stores the readings with one
``executemany`` into an ``observations``-like table (same columns, ``WITHOUT ROWID``,
primary key ``(stream_id, time)``), one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per request on
one ``sqlite3`` connection per worker process used directly from the async endpoint, in
WAL mode with ``synchronous=FULL``: every acknowledged reading is durable, as in cityshare.

No checks beyond what parsing needs, no provenance, no nonce, no group commit. Served by
uvicorn (``baseline_ingest:app``, a factory) with the same worker count as cityshare; its
configuration comes from ``BENCH_INGEST_BASELINE`` (JSON: ``db`` and ``devices``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CONFIG_ENV = "BENCH_INGEST_BASELINE"
# The columns of cityshare's observations table (src/cityshare/storage/schema.py).
TABLE_SQL = """
CREATE TABLE observations (
    stream_id INTEGER NOT NULL,
    time BIGINT NOT NULL,
    value_num FLOAT,
    value_text TEXT,
    received_at BIGINT NOT NULL,
    device_id INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    batch_id BIGINT NOT NULL,
    verified BOOLEAN NOT NULL,
    PRIMARY KEY (stream_id, time)
) WITHOUT ROWID
"""
INSERT_SQL = "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def create_table(path: Path) -> None:
    """A fresh SQLite file holding the empty ``observations`` table (WAL mode)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in PRAGMAS:
            connection.execute(pragma)
        connection.execute(TABLE_SQL)
    finally:
        connection.close()


def micros(text: str) -> int:
    """An RFC 3339 time as microseconds since the epoch (as cityshare stores it)."""
    delta = datetime.fromisoformat(text) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def app() -> Any:
    """The baseline app (a uvicorn factory): one connection per worker process."""
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    config = json.loads(os.environ[CONFIG_ENV])
    devices: dict[str, dict[str, Any]] = config["devices"]
    connection = sqlite3.connect(config["db"], isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        connection.execute(pragma)

    async def ingest(request: Request) -> Response:
        body = await request.body()
        device = devices[request.headers["x-device-id"]]
        streams: dict[str, int] = device["streams"]
        document = orjson.loads(body)
        received_at = time.time_ns() // 1000
        rows = [
            (
                streams[reading["stream"]],
                micros(reading["time"]),
                float(reading["value"]),
                None,
                received_at,
                device["id"],
                0,
                0,
                True,
            )
            for reading in document["readings"]
        ]
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(INSERT_SQL, rows)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        answer = {"accepted": len(rows), "nonce": document["nonce"]}
        return Response(orjson.dumps(answer), status_code=201, media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/api/v1/ingest", ingest, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
