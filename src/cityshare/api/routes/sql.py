"""Read-only SQL over datasets: ``GET /api/v1/sql?q=SELECT …``."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from cityshare.catalogue.models import SqlResult
from cityshare.http.deps import ActorDep, RuntimeDep
from cityshare.http.responses import JSON
from cityshare.query.export import csv_cell, neutralise
from cityshare.sql import run_sql
from cityshare.sql.pool import client_address

router = APIRouter(tags=["sql"])

MAX_STATEMENT_CHARS = 20_000


@router.get(
    "/sql",
    response_model=None,
    responses={
        200: {
            "model": SqlResult,
            "description": "The result; with _format=csv, its columns and rows as CSV.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def sql(
    request: Request,
    runtime: RuntimeDep,
    actor: ActorDep,
    q: Annotated[
        str,
        Query(
            max_length=MAX_STATEMENT_CHARS,
            description="One SELECT over datasets, named like tables (see docs/query.md).",
        ),
    ],
    format_: Annotated[
        Literal["json", "csv"], Query(alias="_format", description="json (default) or csv.")
    ] = "json",
) -> Response:
    """Run one read-only SELECT over the datasets you may read."""
    address = client_address(request.client.host if request.client else None)
    reader = runtime.reader
    body = await runtime.sql_pool.run(actor, address, run_sql, reader, actor, q, output=format_)
    if format_ == "csv":
        return Response(
            _csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="sql.csv"'},
        )
    return JSON(body)


def _csv(body: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(name) for name in body["columns"]])
    writer.writerows([csv_cell(value) for value in row] for row in body["rows"])
    return buffer.getvalue().encode()
