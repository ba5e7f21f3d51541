"""Routes for the audit log as a whole (site administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import StreamingResponse

from cityshare.catalogue import access_log as reading
from cityshare.catalogue.models import AuditExportLine
from cityshare.http.deps import ActorDep, SiteDep

router = APIRouter(tags=["audit"])


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "NDJSON: one entry a line, each an AuditExportLine.",
            "content": {"application/x-ndjson": {"schema": AuditExportLine.model_json_schema()}},
        }
    },
)
def export_audit_log(
    site: SiteDep,
    actor: ActorDep,
    after: int = Query(0, ge=0, description="Only entries after this sequence number."),
) -> StreamingResponse:
    """Every audit entry as NDJSON, hashes included, to keep and verify elsewhere."""
    lines = reading.export_log(site, actor, after=after)
    headers = {"Content-Disposition": 'attachment; filename="cityshare-audit.ndjson"'}
    return StreamingResponse(lines, media_type="application/x-ndjson", headers=headers)
