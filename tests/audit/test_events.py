"""The events adapters record (cityshare.audit.events): what a read and a refusal say."""

from __future__ import annotations

from cityshare.access import ANONYMOUS, Actor
from cityshare.audit.events import MAX_QUERY_CHARS, data_read, refused
from cityshare.audit.refusals import REFUSED

ERIN = Actor(user_id=2, username="erin")


def test_a_read_says_what_was_read_and_under_which_grant() -> None:
    event = data_read(
        ERIN, 4, "counts", query="cars__gte=10", rows=12, version=2, output="csv", grant=9
    )
    assert (event.action, event.actor, event.outcome, event.dataset_id) == (
        "dataset.read",
        ERIN,
        "allow",
        4,
    )
    assert event.resource == {"dataset": "counts", "version": 2}
    assert event.detail == {"query": "cars__gte=10", "rows": 12, "format": "csv", "grant": 9}


def test_a_stream_read_names_the_stream_and_a_long_query_is_cut() -> None:
    event = data_read(ERIN, 4, "air", query="x" * 5000, rows=None, stream_id=6)
    assert event.resource == {"dataset": "air", "stream_id": 6}
    assert event.detail["query"] == "x" * MAX_QUERY_CHARS and event.detail["grant"] is None


def test_a_hidden_thing_is_recorded_as_hidden_and_a_refusal_as_denied() -> None:
    hidden = refused(ERIN, method="GET", path="/api/v1/datasets/x", status=404, reason="No.")
    denied = refused(ERIN, method="POST", path="/api/v1/datasets/x", status=403, reason="No.")
    assert (hidden.action, hidden.outcome, denied.outcome) == (REFUSED, "hidden", "deny")
    assert hidden.resource == {"method": "GET", "path": "/api/v1/datasets/x"}
    assert "address" not in hidden.detail


def test_a_refusal_keeps_the_address_and_cuts_long_text() -> None:
    event = refused(
        ANONYMOUS,
        method="GET",
        path="/" + "p" * 600,
        status=401,
        reason="r" * 300,
        address="198.51.100.4",
    )
    assert event.detail == {"status": 401, "reason": "r" * 200, "address": "198.51.100.4"}
    assert len(event.resource["path"]) == 500
