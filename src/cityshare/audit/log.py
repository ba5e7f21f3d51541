"""Appending to the audit log: one chain, grown one entry at a time under a lock.

Appenders lock the single ``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's write lock does the same), read the newest sequence number and hash, and
append after it, so concurrent processes can never fork the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from cityshare.access import Actor
from cityshare.audit.chain import canonical, content_hash, link
from cityshare.clock import utcnow
from cityshare.site import Site
from cityshare.storage.schema import audit_head, audit_log

OUTCOMES = ("allow", "deny", "hidden", "error")


@dataclass(frozen=True)
class Event:
    """One thing that happened: who did what to what, and how it ended."""

    action: str
    actor: Actor | None = None
    outcome: str = "allow"
    dataset_id: int | None = None
    resource: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None


def record(site: Site, *events: Event) -> list[int]:
    """Append ``events`` in their own transaction; their sequence numbers."""
    with site.writer.begin() as connection:
        return append(connection, events)


def append(connection: Connection, events: Sequence[Event]) -> list[int]:
    """Append ``events`` inside the caller's write transaction."""
    head = connection.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).one()
    seq, previous = int(head.seq), str(head.hash)
    rows: list[dict[str, Any]] = []
    for event in events:
        seq += 1
        rows.append(_row(seq, previous, event))
        previous = rows[-1]["hash"]
    if rows:
        connection.execute(audit_log.insert(), rows)
        connection.execute(
            update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=previous)
        )
    return [row["seq"] for row in rows]


def entry_content(seq: int, event: Event, at: datetime) -> dict[str, Any]:
    """What an entry says, as hashed."""
    if event.outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {event.outcome!r}")
    return {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds") + "Z",
        "action": event.action,
        "outcome": event.outcome,
        "actor": actor_summary(event.actor),
        "dataset_id": event.dataset_id,
        "resource": event.resource,
        "detail": event.detail,
    }


def actor_summary(actor: Actor | None) -> dict[str, Any]:
    """Who acted, as the log keeps it."""
    if actor is None:
        return {"kind": "system"}
    if actor.device_id is not None:
        return {"kind": "device", "device_id": actor.device_id}
    if actor.user_id is None:
        return {"kind": "anonymous"}
    return {
        "kind": "user",
        "user_id": actor.user_id,
        "username": actor.username,
        "token_id": actor.token_id,
        "site_admin": actor.is_site_admin,
    }


def _row(seq: int, previous: str, event: Event) -> dict[str, Any]:
    at = event.at or utcnow()
    content = entry_content(seq, event, at)
    text = canonical(content)
    digest = content_hash(text)
    return {
        "seq": seq,
        "at": at,
        "action": event.action,
        "outcome": event.outcome,
        "user_id": content["actor"].get("user_id"),
        "dataset_id": event.dataset_id,
        "content": text,
        "prev_hash": previous,
        "content_hash": digest,
        "hash": link(previous, digest),
    }


def audit(
    connection: Connection,
    actor: Actor | None,
    action: str,
    *,
    dataset_id: int | None = None,
    outcome: str = "allow",
    **resource: Any,
) -> None:
    """Append one event in the caller's write transaction: it commits with the change."""
    detail = resource.pop("detail", {})
    append(
        connection,
        [Event(action, actor, outcome, dataset_id, resource=resource, detail=detail)],
    )
