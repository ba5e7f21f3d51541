"""The dataset query language: filters, bbox, keyset pages, aggregates and exports.

The HTTP adapter for ``GET /api/v1/datasets/{name}/rows`` does::

    plan = plan_query(params, version, limits=limits, signer=CursorSigner(secret), scope=scope)
    if plan.format == "json":
        with engine.connect() as conn:
            body = run_json(conn, plan)
    else:
        next_cursor = export_next_cursor(engine, plan)   # for a Link: rel="next" header
        body = stream_export(engine, plan)               # media type: plan.media_type

Parsing (:mod:`.params`, :mod:`.filters`, :mod:`.aggregate`, :mod:`.buckets`) builds
a :class:`QueryPlan` of plain values; SQL is built at run time for the connection's
dialect (:mod:`.dialect`, :mod:`.keyset`, :mod:`.rows`, :mod:`.export`).
"""

from cityshare.query.cursor import CursorSigner
from cityshare.query.export import export_next_cursor, stream_export
from cityshare.query.plan import QueryPlan, plan_query
from cityshare.query.rows import count_rows, run_json

__all__ = [
    "CursorSigner",
    "QueryPlan",
    "count_rows",
    "export_next_cursor",
    "plan_query",
    "run_json",
    "stream_export",
]
