"""Why a batch of readings was refused: one error class, stable reasons, and their counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from cityshare.clock import utcnow
from cityshare.errors import CityshareError
from cityshare.site import Site
from cityshare.storage.schema import ingest_refusals

# Each reason with the HTTP status it is answered with.
REASONS = {
    "unknown-device": 401,
    "revoked-device": 401,
    "bad-signature": 401,
    "revoked-key": 401,
    "malformed": 400,
    "stale": 400,
    "bad-time": 400,
    "unknown-stream": 400,
    "wrong-type": 400,
    "too-many-readings": 413,
    "replay": 409,
    "duplicate-reading": 409,
}
UNKNOWN_DEVICE = "(unknown)"  # refusals of unknown ids are counted together, not per id


class IngestRefused(CityshareError):
    """A batch refused as a whole; ``reason`` is one of :data:`REASONS`."""

    title = "Readings refused"
    slug = "readings-refused"

    def __init__(self, reason: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, reason=reason, **extra)
        self.reason = reason

    @property
    def status(self) -> int:  # type: ignore[override]
        """The HTTP status for this reason."""
        return REASONS[self.reason]


def record_refusals(site: Site, refusals: Sequence[tuple[str | None, str]]) -> None:
    """Count refusals per device (uid, or None when unknown) and reason."""
    if not refusals:
        return
    counts = Counter((device or UNKNOWN_DEVICE, reason) for device, reason in refusals)
    with site.writer.begin() as connection:
        for (device, reason), count in sorted(counts.items()):
            _bump(connection, device[:40], reason, count)


def _bump(connection: Connection, device: str, reason: str, count: int) -> None:
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(ingest_refusals).values(
        device=device, reason=reason, count=count, last_at=utcnow()
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["device", "reason"],
            set_={
                "count": ingest_refusals.c.count + statement.excluded.count,
                "last_at": statement.excluded.last_at,
            },
        )
    )
