"""Routes for datastreams and their observations (under the dataset's access policy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from cityshare.access import Actor
from cityshare.api.models import StreamCreate
from cityshare.catalogue.reader import Reader
from cityshare.errors import BadRequest
from cityshare.http.deps import ActorDep, ReaderDep, SiteDep
from cityshare.http.responses import JSON
from cityshare.streams import datastreams, observations
from cityshare.streams.models import BucketPage, Latest, ObservationPage, Stream

router = APIRouter(tags=["streams"])

_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
_DOC = {
    "from": "Readings at or after this RFC 3339 time.",
    "to": "Readings before this RFC 3339 time.",
    "_limit": "Readings (or buckets) per page; default 100, at most 10 000.",
    "_next": "The opaque cursor from the previous page's `next`.",
    "_sort": "time (oldest first, the default) or -time (newest first).",
    "_bucket": "Time buckets, e.g. 5m, 1h, 1d (aligned on the Unix epoch).",
    "_agg": "With _bucket: avg, min, max, count, sum (comma-separated).",
    "_format": "json (default), csv or ndjson; exports are streamed.",
}
_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
    for name, d in _DOC.items()
]
# The answers observations sends, written by the hot path itself (not through pydantic).
_EXPORT = {"schema": {"type": "string"}}
_OBSERVATIONS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ObservationPage | BucketPage,
        "description": "A page of readings, or of buckets with _bucket (JSON); with "
        "_format=csv or ndjson, every matching one, streamed.",
        "content": {"text/csv": _EXPORT, "application/x-ndjson": _EXPORT},
    }
}


@router.get("/datasets/{name}/streams", response_model=list[Stream])
def list_streams(name: str, site: SiteDep, actor: ActorDep) -> list[Stream]:
    """A sensor dataset's datastreams."""
    return datastreams.list_streams(site, actor, name)


@router.post("/datasets/{name}/streams", status_code=201, response_model=Stream)
def create_stream(name: str, body: StreamCreate, site: SiteDep, actor: ActorDep) -> Stream:
    """Add a datastream fed by one of the organisation's devices (editors)."""
    return datastreams.create_stream(site, actor, name, **body.model_dump())


@router.get("/datasets/{name}/latest", response_model=Latest)
def latest(name: str, reader: ReaderDep, actor: ActorDep) -> Latest:
    """The latest reading of every stream of a sensor dataset."""
    return observations.latest(reader, actor, name)


@router.get("/streams/{stream_id}", response_model=Stream)
def get_stream(stream_id: int, site: SiteDep, actor: ActorDep) -> Stream:
    """One datastream's description."""
    return datastreams.get_stream(site, actor, stream_id)


@router.get(
    "/streams/{stream_id}/observations",
    response_model=None,
    responses=_OBSERVATIONS,
    openapi_extra={"parameters": _PARAMETERS},
)
def list_observations(
    stream_id: int, request: Request, reader: ReaderDep, actor: ActorDep
) -> Response:
    """A stream's readings in a time range (keyset paged), time buckets, or an export."""
    site = reader.site
    params = _single_params(request)
    query = observations.parse_query(site, params)
    stream = observations.open_stream(site, actor, stream_id)
    query = observations.with_cursor(reader, stream, query, params.get("_next"))
    if query.format == "json":
        body = observations.page(reader, stream, query)
        returned = len(body.get("observations", body.get("buckets", ())))
        _audit_read(reader, actor, stream, request, returned, "json")
        return JSON(body)
    _audit_read(reader, actor, stream, request, None, query.format)
    return StreamingResponse(
        observations.export(site, stream, query),
        media_type=_MEDIA_TYPES[query.format],
        headers={
            "Content-Disposition": f'attachment; filename="stream-{stream_id}.{query.format}"'
        },
    )


def _audit_read(
    reader: Reader,
    actor: Actor,
    stream: observations.StreamView,
    request: Request,
    rows: int | None,
    output: str,
) -> None:
    observations.audit_stream_read(reader, actor, stream, request.url.query, rows, output)


def _single_params(request: Request) -> dict[str, str]:
    items = request.query_params.multi_items()
    params = dict(items)
    if len(params) != len(items):
        repeated = next(key for key, _ in items if request.query_params.getlist(key)[1:])
        raise BadRequest(f"Parameter {repeated[:40]!r} is given twice.", parameter=repeated[:40])
    return params
