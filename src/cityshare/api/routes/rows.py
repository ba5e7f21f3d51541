"""The query API: filtered, sorted, paged rows, aggregates and streamed exports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.responses import Response, StreamingResponse

from cityshare.api.deps import ActorDep, SiteDep
from cityshare.api.responses import JSON
from cityshare.catalogue.versions import open_version
from cityshare.errors import BadRequest, QueryTimeout
from cityshare.query import (
    CursorSigner,
    QueryPlan,
    export_next_cursor,
    plan_query,
    run_json,
    stream_export,
)
from cityshare.storage.engine import is_time_limit_error, time_limited

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


@router.get(
    "/datasets/{name}/rows",
    response_model=None,
    description="Filters: `column=value` or `column__op=value` with op in gt, gte, lt, lte, "
    "ne, in (comma-separated), contains, startswith, isnull.",
)
def rows(
    name: str,
    request: Request,
    site: SiteDep,
    actor: ActorDep,
    fields: str | None = Query(None, alias="_fields", description=_DOC["_fields"]),
    sort: str | None = Query(None, alias="_sort", description=_DOC["_sort"]),
    limit: str | None = Query(None, alias="_limit", description=_DOC["_limit"]),
    next_cursor: str | None = Query(None, alias="_next", description=_DOC["_next"]),
    count: str | None = Query(None, alias="_count", description=_DOC["_count"]),
    format_: str | None = Query(None, alias="_format", description=_DOC["_format"]),
    version: str | None = Query(None, alias="_version", description=_DOC["_version"]),
    group: str | None = Query(None, alias="_group", description=_DOC["_group"]),
    agg: str | None = Query(None, alias="_agg", description=_DOC["_agg"]),
    bucket: str | None = Query(None, alias="_bucket", description=_DOC["_bucket"]),
    bbox: str | None = Query(None, description=_DOC["bbox"]),
) -> Response:
    """Query a dataset's rows (anyone who may read its data)."""
    opened = open_version(site, actor, name, _version_number(version))
    plan = plan_query(
        request.query_params.multi_items(),
        opened.table,
        limits=site.settings.limits,
        signer=CursorSigner(site.secret_key),
        scope=opened.table.table.name,
    )
    limits = site.settings.limits
    if plan.format == "json":
        body = _run_limited(time_limited(site.engine, limits.query_seconds), plan)
        body["version"] = opened.number
        return JSON(body)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{plan.format}"'}
    following = export_next_cursor(time_limited(site.engine, limits.query_seconds), plan)
    if following is not None:
        link = request.url.include_query_params(_next=following)
        headers["Link"] = f'<{link}>; rel="next"'
    body_chunks = stream_export(time_limited(site.engine, limits.export_seconds), plan)
    return StreamingResponse(body_chunks, media_type=plan.media_type, headers=headers)


def _run_limited(engine: Engine, plan: QueryPlan) -> dict[str, Any]:
    try:
        with engine.connect() as connection:
            return run_json(connection, plan)
    except OperationalError as error:
        if is_time_limit_error(error):
            raise QueryTimeout(
                "The query ran past its time limit: add filters on indexed columns, "
                "ask for fewer rows, or drop _count."
            ) from None
        raise


def _version_number(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise BadRequest(
            f"_version must be a positive whole number, not {raw[:40]!r}.", parameter="_version"
        )
    return int(raw)
