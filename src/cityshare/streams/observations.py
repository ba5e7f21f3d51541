"""Reading a stream's history: time ranges with keyset paging, time buckets, latest values.

Everything here reads through the dataset's access policy (``dataset.read``) and the
query time limit. Times are microseconds in the store; the API speaks RFC 3339.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, func, select

from cityshare.access import Actor
from cityshare.audit.events import data_read
from cityshare.bounds.view import reading_grant
from cityshare.catalogue.datasets import dataset_resource, dataset_row
from cityshare.catalogue.reader import Reader
from cityshare.errors import BadRequest
from cityshare.query.cursor import invalid_cursor
from cityshare.query.export import csv_chunks
from cityshare.query.params import parse_limit
from cityshare.site import Site
from cityshare.storage.schema import datastreams, device_keys, devices, observations
from cityshare.streams.datastreams import dataset_resource_of, stream_row
from cityshare.streams.models import Latest
from cityshare.streams.timefmt import MICROS, format_micros, parse_query_time

AGGREGATES = ("avg", "min", "max", "count", "sum")
FORMATS = ("json", "csv", "ndjson")
PARAMETERS = frozenset({"from", "to", "_limit", "_next", "_sort", "_bucket", "_agg", "_format"})
MAX_BUCKET_SECONDS = 366 * 86400
_BUCKET = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EXPORT_CHUNK_ROWS = 5000
_O = observations.c


@dataclass(frozen=True)
class ObservationQuery:
    """A checked request for a stream's readings."""

    start: int | None
    end: int | None
    limit: int | None
    after: int | None
    descending: bool
    bucket_micros: int | None
    aggregates: tuple[str, ...]
    format: str


@dataclass(frozen=True)
class StreamView:
    """What reading a stream needs: its id, value type and the device's key names."""

    id: int
    value_type: str
    device_uid: str
    key_names: Mapping[int, str]
    dataset_id: int
    dataset: str
    grant_id: int | None = None  # the grant the reader reads under, if any


def parse_query(site: Site, params: Mapping[str, str]) -> ObservationQuery:
    """Check the query parameters of an observations request."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        raise BadRequest(
            f"Unknown parameter {unknown[0][:40]!r}; use {', '.join(sorted(PARAMETERS))}.",
            parameter=unknown[0][:40],
        )
    output = params.get("_format", "json")
    if output not in FORMATS:
        raise BadRequest(f"_format must be one of {', '.join(FORMATS)}.", parameter="_format")
    start, end = _time(params, "from"), _time(params, "to")
    if start is not None and end is not None and start >= end:
        raise BadRequest("'from' must be before 'to'.", parameter="from")
    bucket = _bucket(params.get("_bucket"))
    sort = params.get("_sort", "time")
    if sort not in ("time", "-time"):
        raise BadRequest("_sort must be time or -time.", parameter="_sort")
    return ObservationQuery(
        start=start,
        end=end,
        limit=parse_limit(params.get("_limit"), site.settings.limits, export=output != "json"),
        after=None,  # set by with_cursor, once the stream (part of the cursor's context) is known
        descending=sort == "-time",
        bucket_micros=bucket,
        aggregates=_aggregates(params.get("_agg"), bucket),
        format=output,
    )


def open_stream(site: Site, actor: Actor, stream_id: int) -> StreamView:
    """The stream, if ``actor`` may read its dataset's data (NotFound/Forbidden otherwise)."""
    with site.engine.connect() as connection:
        row = stream_row(connection, actor, stream_id, "dataset.read")
        names = dict(
            connection.execute(
                select(device_keys.c.id, device_keys.c.key_id).where(
                    device_keys.c.device_id == row.device_id
                )
            ).all()
        )
    grant = reading_grant(actor, dataset_resource_of(row))
    return StreamView(
        row.id, row.value_type, row.device_uid, names, row.dataset_id, row.dataset, grant
    )


def audit_stream_read(
    reader: Reader,
    actor: Actor,
    stream: StreamView,
    query: str,
    rows: int | None,
    output: str = "json",
) -> None:
    """Record that ``actor`` read ``rows`` readings or buckets of ``stream`` with ``query``."""
    reader.audit.submit_read(
        data_read(
            actor,
            stream.dataset_id,
            stream.dataset,
            stream_id=stream.id,
            query=query,
            rows=rows,
            output=output,
            grant=stream.grant_id,
        )
    )


def page(reader: Reader, stream: StreamView, query: ObservationQuery) -> dict[str, Any]:
    """One JSON page of readings or buckets, with ``next`` when more follow: a hot path,
    so plain dictionaries, as :class:`~cityshare.streams.models.ObservationPage` or
    :class:`~cityshare.streams.models.BucketPage` describe them."""
    site = reader.site
    limit = query.limit or site.settings.limits.default_page_rows
    statement = _statement(stream, query).limit(limit + 1)
    with site.query_reader.connect() as connection:
        rows = connection.execute(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    records = [_record(stream, query, row) for row in rows]
    following = _cursor(reader, stream, query, rows[-1][0]) if more and rows else None
    key = "buckets" if query.bucket_micros else "observations"
    return {"stream": stream.id, key: records, "next": following}


def export(site: Site, stream: StreamView, query: ObservationQuery) -> Iterator[bytes]:
    """Every matching reading or bucket as CSV or NDJSON, streamed."""
    statement = _statement(stream, query)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    records = _stream_records(site, stream, query, statement)
    if query.format == "ndjson":
        return (orjson.dumps(record) + b"\n" for record in records)
    names = ["bucket", *query.aggregates] if query.bucket_micros else list(_READING_FIELDS)
    return csv_chunks(names, records)


def latest(reader: Reader, actor: Actor, dataset: str) -> Latest:
    """The newest reading of every stream of a sensor dataset."""
    with reader.site.query_reader.connect() as connection:
        owner = dataset_row(connection, actor, dataset, "dataset.read")
        newest = (
            select(func.max(_O.time))
            .where(_O.stream_id == datastreams.c.id)
            .correlate(datastreams)
            .scalar_subquery()
        )
        rows = connection.execute(
            select(
                datastreams.c.id,
                datastreams.c.name,
                datastreams.c.observed_property,
                datastreams.c.unit,
                datastreams.c.value_type,
                devices.c.uid,
                devices.c.name.label("device_name"),
                devices.c.location,
                _O.time,
                _O.value_num,
                _O.value_text,
                _O.received_at,
            )
            .join(devices, devices.c.id == datastreams.c.device_id)
            .outerjoin(observations, and_(_O.stream_id == datastreams.c.id, _O.time == newest))
            .where(datastreams.c.dataset_id == owner.id)
            .order_by(datastreams.c.id)
        ).all()
    reader.audit.submit_read(
        data_read(
            actor,
            owner.id,
            dataset,
            query="latest",
            rows=len(rows),
            grant=reading_grant(actor, dataset_resource(owner)),
        )
    )
    return Latest.model_validate(
        {"dataset": dataset, "streams": [_latest_record(row) for row in rows]}
    )


def _statement(stream: StreamView, query: ObservationQuery) -> Select[Any]:
    conditions = [_O.stream_id == stream.id]
    if query.start is not None:
        conditions.append(_O.time >= query.start)
    if query.end is not None:
        conditions.append(_O.time < query.end)
    if query.bucket_micros:
        return _bucketed(conditions, query)
    if query.after is not None:
        conditions.append(_O.time < query.after if query.descending else _O.time > query.after)
    order = _O.time.desc() if query.descending else _O.time.asc()
    return (
        select(_O.time, _O.value_num, _O.value_text, _O.received_at, _O.key_id, _O.batch_id)
        .where(*conditions)
        .order_by(order)
    )


def _bucketed(conditions: list[Any], query: ObservationQuery) -> Select[Any]:
    size = query.bucket_micros or 1
    bucket = ((_O.time // size) * size).label("bucket")
    if query.after is not None:
        # The cursor holds the last bucket's start; the next page starts past that bucket.
        bound = query.after if query.descending else query.after + size
        conditions.append(_O.time < bound if query.descending else _O.time >= bound)
    columns = [_aggregate(name) for name in query.aggregates]
    order = bucket.desc() if query.descending else bucket.asc()
    return select(bucket, *columns).where(*conditions).group_by(bucket).order_by(order)


def _aggregate(name: str) -> Any:
    if name == "count":
        return func.count().label(name)
    return getattr(func, name)(_O.value_num).label(name)


_READING_FIELDS = ("time", "value", "received_at", "device", "key_id", "batch", "verified")


def _record(stream: StreamView, query: ObservationQuery, row: Any) -> dict[str, Any]:
    if query.bucket_micros:
        values: dict[str, Any] = dict(zip(query.aggregates, row[1:], strict=True))
        return {"bucket": format_micros(int(row[0])), **values}
    time, number, text, received_at, key, batch = row
    return {
        "time": format_micros(time),
        "value": decode_value(stream.value_type, number, text),
        "received_at": format_micros(received_at),
        "device": stream.device_uid,
        "key_id": stream.key_names.get(key),
        "batch": batch,
        "verified": True,
    }


def _stream_records(
    site: Site, stream: StreamView, query: ObservationQuery, statement: Select[Any]
) -> Iterator[dict[str, Any]]:
    with site.export_reader.connect() as connection:
        streaming = _streaming(connection)
        with streaming.execute(statement) as result:
            for row in result:
                yield _record(stream, query, row)


def _streaming(connection: Connection) -> Connection:
    return connection.execution_options(stream_results=True, yield_per=_EXPORT_CHUNK_ROWS)


def decode_value(value_type: str, number: float | None, text: str | None) -> Any:
    """A stored value back in its stream's type."""
    if value_type == "number":
        return number
    if value_type == "boolean":
        return None if number is None else number != 0
    if value_type == "object" and text is not None:
        return orjson.loads(text)
    return text


def _latest_record(row: Any) -> dict[str, Any]:
    return {
        "stream": row.id,
        "name": row.name,
        "observed_property": row.observed_property,
        "unit": row.unit,
        "device": {"uid": row.uid, "name": row.device_name, "location": row.location},
        "time": None if row.time is None else format_micros(row.time),
        "value": decode_value(row.value_type, row.value_num, row.value_text),
        "received_at": None if row.received_at is None else format_micros(row.received_at),
    }


def _time(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    value = parse_query_time(raw)
    if value is None:
        raise BadRequest(
            f"'{name}' must be a date and time, e.g. 2026-11-28T08:00:00Z or "
            "2026-11-28T09:00:00+01:00 (without an offset it is taken as UTC).",
            parameter=name,
            value=raw[:60],
        )
    return value


def _bucket(raw: str | None) -> int | None:
    if raw is None:
        return None
    match = _BUCKET.fullmatch(raw)
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_BUCKET_SECONDS:
        raise BadRequest(
            "_bucket must be a whole number with a unit s, m, h or d (e.g. 5m, 1h, 1d), "
            "at most 366d.",
            parameter="_bucket",
            value=raw[:40],
        )
    return seconds * MICROS


def _aggregates(raw: str | None, bucket: int | None) -> tuple[str, ...]:
    if bucket is None:
        if raw is not None:
            raise BadRequest("_agg needs _bucket (e.g. _bucket=5m&_agg=avg).", parameter="_agg")
        return ()
    names = tuple(dict.fromkeys((raw or "avg,min,max,count").split(",")))
    unknown = [name for name in names if name not in AGGREGATES]
    if unknown or not names:
        raise BadRequest(
            f"_agg takes {', '.join(AGGREGATES)}, comma-separated.",
            parameter="_agg",
            value=(raw or "")[:60],
        )
    return names


def _cursor(reader: Reader, stream: StreamView, query: ObservationQuery, last: int) -> str:
    return reader.cursor_signer.sign(_context(stream, query), str(int(last)).encode())


def _context(stream: StreamView, query: ObservationQuery) -> bytes:
    binding = [stream.id, query.start, query.end, query.descending, query.bucket_micros]
    return b"observations:" + orjson.dumps(binding)


def with_cursor(
    reader: Reader, stream: StreamView, query: ObservationQuery, raw: str | None
) -> ObservationQuery:
    """The query with its ``_next`` cursor opened (signed for this stream and range)."""
    if raw is None:
        return query
    payload = reader.cursor_signer.open(_context(stream, query), raw)
    try:
        after = int(payload)
    except ValueError:
        raise invalid_cursor() from None
    return ObservationQuery(**{**query.__dict__, "after": after})
