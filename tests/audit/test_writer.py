"""The background audit writer (cityshare.audit.writer): what adapters queue reaches the
chain when the writer closes, reads only when the site records them, repeated refusals
counted."""

from __future__ import annotations

from pathlib import Path

from cityshare.access import ANONYMOUS, Actor
from cityshare.audit.events import data_read, refused
from cityshare.audit.log import Event
from cityshare.audit.writer import AuditWriter
from cityshare.site import Site
from tests.audit.helpers import head, verdict
from tests.world import audit_entries, make_site

DAVE = Actor(user_id=8, username="dave")


def read(number: int) -> Event:
    return data_read(DAVE, 3, "counts", query=f"cars__gte={number}", rows=number)


def bad_token(reason: str = "Unknown token.") -> Event:
    return refused(
        ANONYMOUS, method="GET", path="/api/v1/me", status=401, reason=reason, address="192.0.2.9"
    )


def test_queued_events_are_appended_in_order_on_close(site: Site) -> None:
    start, _ = head(site)
    writer = AuditWriter(site)
    for number in range(5):
        writer.submit(read(number))
    writer.close()
    entries = audit_entries(site, start)
    assert [entry["detail"]["rows"] for entry in entries] == [0, 1, 2, 3, 4]
    assert all(entry["at"].endswith("Z") for entry in entries)  # stamped when submitted
    assert verdict(site).ok


def test_reads_are_recorded_unless_switched_off(database_url: str, tmp_path: Path) -> None:
    quiet = make_site(database_url, tmp_path, audit_reads=False)
    try:
        writer = AuditWriter(quiet)
        writer.submit_read(read(1))
        writer.submit(bad_token())  # refusals are recorded all the same
        writer.close()
        assert [entry["action"] for entry in audit_entries(quiet)] == ["access.refused"]
    finally:
        quiet.close()


def test_reads_are_recorded_by_default(site: Site) -> None:
    start, _ = head(site)
    writer = AuditWriter(site)
    writer.submit_read(read(7))
    writer.close()
    [entry] = audit_entries(site, start)
    assert entry["action"] == "dataset.read" and entry["detail"]["rows"] == 7


def test_repeated_refusals_reach_the_log_as_a_count(site: Site) -> None:
    start, _ = head(site)
    writer = AuditWriter(site)
    for _ in range(5):
        writer.submit(bad_token())
    writer.submit(bad_token("Expired token."))
    writer.close()
    entries = audit_entries(site, start)
    assert [(entry["detail"]["reason"], entry["detail"].get("count")) for entry in entries] == [
        ("Unknown token.", None),
        ("Expired token.", None),
        ("Unknown token.", 4),
    ]
    assert {entry["outcome"] for entry in entries} == {"deny"}
    assert entries[2]["detail"]["address"] == "192.0.2.9"


def test_a_malformed_event_does_not_cost_the_others_their_entries(site: Site) -> None:
    start, _ = head(site)
    writer = AuditWriter(site, retry_seconds=0)
    writer.handle([read(1), Event("dataset.read", DAVE, outcome="unknown"), read(2)])
    assert [entry["detail"]["rows"] for entry in audit_entries(site, start)] == [1, 2]
