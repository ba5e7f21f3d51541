"""Slow queries leave the event loop for a worker thread, and stop at the time limit."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor, initialise
from cityshare.accounts.organisations import create_organisation
from cityshare.app import create_app
from cityshare.catalogue import datasets, versions
from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.storage.engine import time_limited

ROWS = 60_000


def _publish_scan_dataset(site: Site, folder: Path) -> None:
    initialise(site, "admin")
    admin = console_actor(site, "admin")
    create_organisation(site, admin, name="city", title="City")
    datasets.create_dataset(site, admin, organisation="city", name="notes", visibility="open")
    source = folder / "notes.csv"
    source.write_text("n,note\n" + "".join(f"{i},note number {i}\n" for i in range(ROWS)))
    versions.publish_version(site, admin, "notes", source=source, media_type="text/csv")


def test_a_query_too_slow_for_the_event_loop_still_answers(site: Site, tmp_path: Path) -> None:
    _publish_scan_dataset(site, tmp_path)
    # No time at all inline: every query must be cancelled there and finish in a thread.
    site.__dict__["inline_reader"] = time_limited(site.engine, 1e-9)
    with TestClient(create_app(Runtime(site)), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/datasets/notes/rows?note__contains=zzz&_count=true")
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


def test_a_query_past_the_time_limit_is_a_503_problem(site: Site, tmp_path: Path) -> None:
    _publish_scan_dataset(site, tmp_path)
    site.__dict__["inline_reader"] = time_limited(site.engine, 1e-9)
    site.__dict__["query_reader"] = time_limited(site.engine, 1e-9)
    with TestClient(create_app(Runtime(site)), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/datasets/notes/rows?note__contains=zzz&_count=true")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "time limit" in response.json()["detail"]
