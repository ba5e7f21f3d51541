"""Walking the audit chain: the first broken link, named, or proof that it is whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from cityshare.audit.chain import GENESIS, content_hash, link
from cityshare.storage.schema import audit_head, audit_log

_STREAM_ROWS = 5000


@dataclass(frozen=True)
class Verdict:
    """The outcome of a walk: whole (``ok``), or where and how it first breaks."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None


def verify_chain(
    connection: Connection, *, progress: Callable[[int], None] | None = None
) -> Verdict:
    """Check every entry in order, then the head; stop at the first broken link."""
    expected_seq, running = 1, GENESIS
    query = select(audit_log).order_by(audit_log.c.seq)
    streaming = connection.execution_options(stream_results=True, yield_per=_STREAM_ROWS)
    with streaming.execute(query) as result:
        for row in result:
            problem = _check(row, expected_seq, running)
            if problem is not None:
                broken = min(expected_seq, int(row.seq))
                return Verdict(False, expected_seq - 1, expected_seq - 1, running, broken, problem)
            running = row.hash
            expected_seq += 1
            if progress is not None and expected_seq % _STREAM_ROWS == 0:
                progress(_STREAM_ROWS)
    count = expected_seq - 1
    head = connection.execute(select(audit_head).where(audit_head.c.id == 1)).one()
    if (int(head.seq), head.hash) != (count, running):
        problem = (
            f"the log ends at entry {count} but its head says {head.seq}: entries at the end "
            "were removed, or the head was edited"
        )
        return Verdict(False, count, count, running, count + 1, problem)
    return Verdict(True, count, count, running)


def _check(row: Any, expected_seq: int, running: str) -> str | None:
    if int(row.seq) != expected_seq:
        return f"entry {expected_seq} is missing (the next entry is {row.seq}): deleted"
    if row.prev_hash != running:
        return (
            f"entry {row.seq} does not follow entry {expected_seq - 1} (its previous hash "
            "differs): entries were inserted, deleted or reordered"
        )
    if content_hash(row.content) != row.content_hash or link(running, row.content_hash) != row.hash:
        return f"entry {row.seq} does not match its hash: it was edited"
    return _columns_disagree(row)


def _columns_disagree(row: Any) -> str | None:
    try:
        hashed = _hashed_columns(row.content)
    except (ValueError, TypeError, KeyError, AttributeError):
        return f"entry {row.seq}: its content is not an audit entry: edited"
    columns = {
        "seq": int(row.seq),
        "action": row.action,
        "outcome": row.outcome,
        "user_id": row.user_id,
        "dataset_id": row.dataset_id,
        "at": row.at,
    }
    for name, value in columns.items():
        if value != hashed[name]:
            return f"entry {row.seq}: its {name} column differs from its hashed content: edited"
    return None


def _hashed_columns(text: str) -> dict[str, Any]:
    """The columns an entry's hashed content gives (an error for content that is not an
    entry: not JSON, not an object, a field missing or of another type)."""
    content = orjson.loads(text)
    at = datetime.fromisoformat(content["at"].removesuffix("Z"))
    return {
        "seq": content["seq"],
        "action": content["action"],
        "outcome": content["outcome"],
        "user_id": content["actor"].get("user_id"),
        "dataset_id": content["dataset_id"],
        "at": at,
    }
