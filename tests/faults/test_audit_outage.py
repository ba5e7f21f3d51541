"""The audit writer keeps read events through a database outage longer than its retries.

Reads are audited off the request path: events queue in memory and one thread appends them.
A PostgreSQL cluster of the test's own is stopped while events wait; they must be in the
chain once it is started again, however many attempts failed in between.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from cityshare.audit.log import Event
from cityshare.audit.verify import verify_chain
from cityshare.audit.writer import MAX_ATTEMPTS, AuditWriter
from cityshare.storage.schema import audit_log
from tests.faults.pg_cluster import postgres_cluster
from tests.world import make_site

EVENTS = 5
RETRY_SECONDS = 0.01


def _outage_events(count: int) -> list[Event]:
    return [Event("dataset.read", resource={"outage": True, "n": n}) for n in range(count)]


def test_events_queued_during_a_long_outage_are_appended_when_the_store_is_back(
    tmp_path: Path,
) -> None:
    with postgres_cluster() as cluster:
        site = make_site(cluster.create_database("audit"), tmp_path / "data")
        writer = AuditWriter(site, retry_seconds=RETRY_SECONDS)
        try:
            writer.submit(Event("site.view"))  # starts the thread while the store is up
            cluster.stop()
            for event in _outage_events(EVENTS):
                writer.submit(event)
            # Longer than every attempt the writer once made before giving up (the waits
            # grow linearly: 0.01 s, 0.02 s, ... for MAX_ATTEMPTS attempts).
            time.sleep(RETRY_SECONDS * MAX_ATTEMPTS * (MAX_ATTEMPTS + 1) / 2 + 2)
            cluster.start()
            writer.close(timeout=60)
            with site.engine.connect() as connection:
                kept = connection.execute(
                    select(func.count())
                    .select_from(audit_log)
                    .where(audit_log.c.action == "dataset.read")
                ).scalar_one()
                assert kept == EVENTS
                assert verify_chain(connection).ok
        finally:
            writer.close(timeout=5)
            site.close()
