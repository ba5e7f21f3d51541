"""Reading the audit log: a dataset's access log for its owners, the export for site admins.

Both page by sequence number (``after``) so a reader can continue exactly where it
stopped. The export gives every column of every entry, hashes included, so a copy
kept elsewhere can be checked link by link against the chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from pydantic import Field
from sqlalchemy import select

from cityshare.access import Actor, SiteResource, ensure_allowed
from cityshare.catalogue.datasets import dataset_row
from cityshare.errors import BadRequest
from cityshare.resource import Resource
from cityshare.site import Site
from cityshare.storage.rows import iso
from cityshare.storage.schema import audit_log

MAX_PAGE = 1000
EXPORT_CHUNK = 2000


class AccessLogEntry(Resource):
    """One entry of a dataset's access log: who did what to it, when, under which grant."""

    seq: int = Field(description="The entry's sequence number in the audit log.")
    at: str = Field(description="RFC 3339, UTC.")
    action: str = Field(description="What was done, e.g. dataset.read or grant.create.")
    outcome: str = Field(description="allow, deny, hidden or error.")
    who: str | None = Field(description="The username, or the kind of actor without one.")
    token_id: int | None = Field(description="The API token used, if any.")
    grant: int | None = Field(description="The grant it concerns or ran under; null for none.")
    resource: dict[str, Any] | None = Field(description="What was acted on, as audited.")
    detail: dict[str, Any] = Field(description="The action's details, as audited.")


class AccessLog(Resource):
    """A page of a dataset's access log, oldest first."""

    entries: list[AccessLogEntry]
    next_after: int | None = Field(
        description="Pass as ?after= for the next page; null when none follows."
    )


def access_log(
    site: Site, actor: Actor, name: str, *, after: int = 0, limit: int = 100
) -> AccessLog:
    """Who read or changed dataset ``name``, when, how and under which grant (its admins)."""
    _check_page(after, limit)
    with site.engine.connect() as connection:
        dataset = dataset_row(connection, actor, name, "dataset.access-log")
        rows = connection.execute(
            select(audit_log.c.seq, audit_log.c.content)
            .where(audit_log.c.dataset_id == dataset.id, audit_log.c.seq > after)
            .order_by(audit_log.c.seq)
            .limit(limit + 1)
        ).all()
    entries = [_log_entry(orjson.loads(row.content)) for row in rows[:limit]]
    following = entries[-1].seq if len(rows) > limit else None
    return AccessLog(entries=entries, next_after=following)


def export_log(site: Site, actor: Actor, *, after: int = 0) -> Iterator[bytes]:
    """Every entry after ``after`` as NDJSON lines, hashes included (site admins)."""
    ensure_allowed(actor, "audit.export", SiteResource())
    if after < 0:
        raise BadRequest("after must be 0 or more.", parameter="after")
    return _export_lines(site, after)


def _export_lines(site: Site, after: int) -> Iterator[bytes]:
    query = select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
    with site.engine.connect() as connection:
        streaming = connection.execution_options(stream_results=True, yield_per=EXPORT_CHUNK)
        with streaming.execute(query) as result:
            for row in result:
                line = {
                    "seq": row.seq,
                    "at": iso(row.at),
                    "content": row.content,
                    "prev_hash": row.prev_hash,
                    "content_hash": row.content_hash,
                    "hash": row.hash,
                }
                yield orjson.dumps(line) + b"\n"


def _log_entry(content: dict[str, Any]) -> AccessLogEntry:
    actor = content.get("actor") or {}
    detail = content.get("detail") or {}
    return AccessLogEntry.model_validate(
        {
            "seq": content["seq"],
            "at": content["at"],
            "action": content["action"],
            "outcome": content["outcome"],
            "who": actor.get("username") or actor.get("kind"),
            "token_id": actor.get("token_id"),
            "grant": detail.get("grant", content.get("resource", {}).get("grant")),
            "resource": content.get("resource"),
            "detail": detail,
        }
    )


def _check_page(after: int, limit: int) -> None:
    if after < 0:
        raise BadRequest("after must be 0 or more.", parameter="after")
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}.", parameter="limit")
