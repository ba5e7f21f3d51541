"""The query API: filtered, sorted, paged rows, aggregates and streamed exports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from cityshare.access import Actor
from cityshare.catalogue.models import GeoJsonFeatures, GroupsPage, RowsPage
from cityshare.catalogue.reader import Reader
from cityshare.catalogue.table_reads import audit_read, limited_connection, plan_read
from cityshare.errors import QueryTimeout
from cityshare.http.deps import ActorDep, ReaderDep
from cityshare.http.middleware import actor_of
from cityshare.http.responses import JSON
from cityshare.query import export_next_cursor, run_json, stream_export
from cityshare.query.spec import MEDIA_TYPES

router = APIRouter(tags=["rows"])

_DOC = {
    "_fields": "Columns to return, comma-separated, in order.",
    "_sort": "Sort keys, comma-separated; '-' for descending (e.g. -counted_at,junction).",
    "_limit": "Rows per page (default 100, at most 10 000).",
    "_next": "The opaque cursor from the previous page's `next`.",
    "_count": "true for an exact `total` of matching rows.",
    "_format": "json (default), csv, ndjson or geojson; exports are streamed.",
    "_version": "Query an older version by number (default: the current one).",
    "_group": "Group by these columns (comma-separated) for aggregates.",
    "_agg": "Aggregates: count, avg:col, min:col, max:col, sum:col.",
    "_bucket": "Time bucket on a datetime column, e.g. counted_at:1h.",
    "bbox": "minx,miny,maxx,maxy in WGS84, for datasets with geometry.",
}


_PARAMETERS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }
    for name, description in _DOC.items()
]

# The answers, described for the OpenAPI document only: the route writes its own bytes.
ROWS_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": RowsPage | GroupsPage,
        "description": "A page of rows, or the groups of an aggregate (_group, _agg); "
        "with _format=csv, ndjson or geojson, every matching row, streamed.",
        "content": {
            "text/csv": {"schema": {"type": "string", "description": "A header, a line a row."}},
            MEDIA_TYPES["ndjson"]: {
                "schema": {"type": "string", "description": "A row as a JSON object a line."}
            },
            MEDIA_TYPES["geojson"]: {"schema": GeoJsonFeatures.model_json_schema()},
        },
    }
}


@router.get(
    "/datasets/{name}/rows",
    response_model=None,
    description="Filters: `column=value` or `column__op=value` with op in gt, gte, lt, lte, "
    "ne, in (comma-separated), contains, startswith, isnull. Every parameter is checked "
    "against the dataset's own columns; see docs/query.md.",
    openapi_extra={"parameters": _PARAMETERS},
    responses=ROWS_ANSWERS,
)
async def rows(name: str, request: Request, reader: ReaderDep, actor: ActorDep) -> Response:
    """Query a dataset's rows (anyone who may read its data)."""
    return await answer_rows(name, request, reader, actor)


async def rows_endpoint(request: Request) -> Response:
    """The same route as :func:`rows` as a plain Starlette endpoint, for the hot path.

    The app serves ``GET /datasets/{name}/rows`` with this endpoint, ahead of FastAPI's
    router: it skips dependency resolution, which costs more than the query itself.
    :func:`rows` stays registered so that the OpenAPI document describes the route.
    """
    reader = request.app.state.runtime.reader
    return await answer_rows(request.path_params["name"], request, reader, actor_of(request.state))


async def answer_rows(name: str, request: Request, reader: Reader, actor: Actor) -> Response:
    """Answer a rows query.

    Most queries read an index range and answer in a millisecond or two, so they run
    inline on the event loop under a short time limit: handing every request to a
    worker thread would cost more than the query. A query that runs past that limit
    is cancelled and run again in a worker thread under the full query time limit,
    so a slow query never holds up the others.
    """
    site = reader.site
    try:
        return _answer(name, request, reader, actor, site.inline_reader)
    except QueryTimeout:
        return await run_in_threadpool(_answer, name, request, reader, actor, site.query_reader)


def _answer(name: str, request: Request, reader: Reader, actor: Actor, engine: Engine) -> Response:
    # The dataset and version are looked up on the connection the rows are read on.
    params = request.query_params.multi_items()
    with limited_connection(engine) as connection:
        opened, plan = plan_read(reader, actor, name, params, connection)
        body = run_json(connection, plan) if plan.format == "json" else None
    if body is not None:
        body["version"] = opened.number
        returned = len(body.get("rows") or body.get("groups") or ())
        audit_read(reader, actor, opened, request.url.query, returned, plan.format)
        return JSON(body)
    audit_read(reader, actor, opened, request.url.query, None, plan.format)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{plan.format}"'}
    following = export_next_cursor(engine, plan)
    if following is not None:
        link = request.url.include_query_params(_next=following)
        headers["Link"] = f'<{link}>; rel="next"'
    body_chunks = stream_export(reader.site.export_reader, plan)
    return StreamingResponse(body_chunks, media_type=plan.media_type, headers=headers)
