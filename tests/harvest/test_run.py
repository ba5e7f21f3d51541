"""Harvest runs against a plain CKAN site served from memory, on SQLite and PostgreSQL:
what arrives, what never does, how a second run matches the first, and that one bad
dataset never stops a run."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from cityshare.accounts import organisations, users
from cityshare.accounts.console import console_actor, initialise
from cityshare.app import create_app
from cityshare.catalogue import datasets, versions
from cityshare.errors import Forbidden, NotFound
from cityshare.harvest import FetchPolicy, HarvestOptions, HarvestSummary, harvest
from cityshare.harvest.fetch import SourceError, UnsafeURL
from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.storage.schema import datasets as dataset_table
from tests.harvest.fake_sources import FakeCkan, fake_ckan, page_one, page_two
from tests.world import audit_entries, make_site

ORG = "mirror"
ROADS = "segment,lanes,length_km,opened\nA1,2,1.5,2020-01-02\nB7,4,0.25,2021-06-30\n"
ROADS_V2 = ROADS + "C3,1,3.75,2024-02-01\n"
POLICY = FetchPolicy(
    allow_networks=(ipaddress.ip_network("127.0.0.1/32"),),
    total_seconds=30.0,
    max_bytes=1_000_000,
)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A fresh site with an admin and the organisation ``mirror``."""
    opened = make_site(database_url, tmp_path / "data")
    initialise(opened, "admin")
    admin = console_actor(opened, "admin")
    organisations.create_organisation(opened, admin, name=ORG, title="Mirror")
    yield opened
    opened.close()


@pytest.fixture
def source() -> Iterator[FakeCkan]:
    """A plain CKAN site with one package of each kind a harvest meets."""
    with fake_ckan() as ckan:
        ckan.add("roads", csv=ROADS)
        ckan.add("budget", private=True, csv="item,amount\nsecret,1\n")
        ckan.add("shared-thing", visibility="shared", csv="a\n1\n")
        ckan.add("draft", state="draft", csv="a\n1\n")
        ckan.add("plans", extras=[{"key": "update_frequency", "value": "monthly"}])
        ckan.add("two-files", csv="a\n1\n")
        ckan.packages["two-files"]["resources"].append(
            {"format": "csv", "url": ckan.file_url("two-files") + "&copy=1"}
        )
        ckan.add(
            "odd",
            license_id="not a licence",
            extras=[
                {"key": "spatial", "value": '{"type": "Point", "coordinates": [500, 0]}'},
                {"key": "temporal_start", "value": "2024-01-01"},
            ],
        )
        ckan.packages["zz-broken"] = "not a package"  # type: ignore[assignment]
        yield ckan


def run(site: Site, url: str, user: str = "admin", **options: Any) -> HarvestSummary:
    """Harvest ``url`` into ``mirror`` as ``user``."""
    actor = console_actor(site, user)
    return harvest(site, actor, HarvestOptions(url, ORG, **options), POLICY)


def statuses(summary: HarvestSummary) -> dict[str, str]:
    """Each dataset's status in a run."""
    return {outcome.name: outcome.status for outcome in summary.outcomes}


def detail(summary: HarvestSummary, name: str) -> str:
    """The detail of one dataset's outcome."""
    return next(outcome.detail for outcome in summary.outcomes if outcome.name == name)


def rows(site: Site, name: str) -> list[dict[str, Any]]:
    """The rows of an open dataset, as an anonymous visitor reads them over HTTP."""
    with TestClient(create_app(Runtime(site))) as client:
        answer = client.get(f"/api/v1/datasets/{name}/rows")
    assert answer.status_code == 200, answer.text
    return [{k: v for k, v in row.items() if k != "_id"} for row in answer.json()["rows"]]


def dataset_count(site: Site) -> int:
    """How many datasets the store holds."""
    with site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(dataset_table)).scalar_one())


def version_count(site: Site, name: str) -> int:
    """How many versions a dataset has."""
    return len(versions.list_versions(site, console_actor(site, "admin"), name))


def test_the_first_run_creates_the_public_datasets_only(site: Site, source: FakeCkan) -> None:
    summary = run(site, source.url)
    assert (summary.source, summary.source_type) == (source.url, "ckan")
    assert statuses(summary) == {
        "odd": "created",
        "plans": "created",
        "roads": "created",
        "two-files": "created",
        "(unreadable package)": "failed",
    }
    assert summary.not_public == 3 and summary.complete
    admin = console_actor(site, "admin")
    roads = datasets.get_dataset(site, admin, "roads")
    assert (roads.visibility, roads.organisation, roads.title) == ("open", ORG, "Roads")
    assert (roads.licence, roads.tags, roads.description) == (
        "CC-BY-4.0",
        ["roads", "city"],
        "About roads.",
    )
    assert rows(site, "roads") == [
        {"segment": "A1", "lanes": 2, "length_km": 1.5, "opened": "2020-01-02"},
        {"segment": "B7", "lanes": 4, "length_km": 0.25, "opened": "2021-06-30"},
    ]
    assert datasets.get_dataset(site, admin, "plans").update_frequency == "monthly"
    assert "no data (no CSV resource)" in detail(summary, "plans")
    assert "2 CSV resources" in detail(summary, "two-files")
    odd = datasets.get_dataset(site, admin, "odd")
    assert odd.spatial is None and odd.temporal.start == "2024-01-01"
    assert "licence left out" in detail(summary, "odd") and "spatial left out" in detail(
        summary, "odd"
    )
    for hidden in ("budget", "shared-thing", "draft"):
        with pytest.raises(NotFound):
            datasets.get_dataset(site, admin, hidden)
        assert f"/files?name={hidden}" not in source.seen.paths  # never even downloaded
    last = [entry for entry in audit_entries(site) if entry["action"] == "harvest.run"][-1]
    assert last["action"] == "harvest.run" and last["resource"]["source"] == source.url
    assert last["detail"]["counts"]["created"] == 4 and last["detail"]["counts"]["not_public"] == 3


def test_running_again_updates_and_never_duplicates(site: Site, source: FakeCkan) -> None:
    run(site, source.url)
    again = run(site, source.url)
    assert again.counts()["created"] == 0 and again.counts()["unchanged"] == 4
    assert detail(again, "roads") == "data unchanged" and version_count(site, "roads") == 1
    source.packages["roads"]["title"] = "Roads of the city"
    source.files["roads"] = ROADS_V2.encode()
    source.packages["plans"]["notes"] = "Plans, revised."
    changed = run(site, source.url)
    assert statuses(changed)["roads"] == "updated" and statuses(changed)["plans"] == "updated"
    assert "metadata: title" in detail(changed, "roads") and "version 2" in detail(changed, "roads")
    assert detail(changed, "plans").startswith("metadata: description")
    assert version_count(site, "roads") == 2 and len(rows(site, "roads")) == 3
    admin = console_actor(site, "admin")
    assert datasets.get_dataset(site, admin, "roads").title == "Roads of the city"
    assert run(site, source.url).counts()["unchanged"] == 4
    assert version_count(site, "roads") == 2


def test_datasets_the_source_stops_offering_are_reported_then_deleted_on_request(
    site: Site, source: FakeCkan
) -> None:
    run(site, source.url)
    del source.packages["two-files"]
    source.packages["roads"]["private"] = True  # made private at the source
    summary = run(site, source.url)
    assert statuses(summary)["roads"] == "missing" and statuses(summary)["two-files"] == "missing"
    assert "no longer offered as public by the source; kept" in detail(summary, "roads")
    limited = run(site, source.url, limit=1, delete_missing=True)
    assert not limited.complete and "missing" not in statuses(limited).values()
    deleted = run(site, source.url, delete_missing=True)
    assert statuses(deleted)["roads"] == "deleted" and statuses(deleted)["two-files"] == "deleted"
    with pytest.raises(NotFound):
        datasets.get_dataset(site, console_actor(site, "admin"), "roads")
    assert "roads" not in statuses(run(site, source.url))  # gone, and not made again


def test_a_local_name_that_is_taken_is_never_overwritten(site: Site, source: FakeCkan) -> None:
    admin = console_actor(site, "admin")
    datasets.create_dataset(site, admin, organisation=ORG, name="roads", title="Our roads")
    summary = run(site, source.url)
    assert statuses(summary)["roads"] == "skipped"
    assert "a local dataset named 'roads' exists that was not harvested" in detail(summary, "roads")
    ours = datasets.get_dataset(site, admin, "roads")
    assert (ours.title, ours.visibility, ours.current_version) == (
        "Our roads",
        "private",
        None,
    )
    prefixed = run(site, source.url, name_prefix="ext-")
    assert statuses(prefixed)["ext-roads"] == "created"
    assert statuses(prefixed)["plans"] == "unchanged"  # matched by its record, not its name
    assert rows(site, "ext-roads")[0]["segment"] == "A1"


def test_one_bad_dataset_never_stops_the_run(site: Site, source: FakeCkan) -> None:
    source.add("inside", csv="a\n1\n")
    source.packages["inside"]["resources"][0]["url"] = "http://169.254.169.254/latest/x.csv"
    source.add("gone", csv="a\n1\n")
    del source.files["gone"]
    source.add("not-csv", csv="<html></html>")
    source.file_types["not-csv"] = "text/html"
    source.add("too-wide", csv=",".join(f"c{i}" for i in range(1001)) + "\n")
    summary = run(site, source.url)
    assert statuses(summary)["roads"] == "created"
    for name, reason in (
        ("inside", "Refused http://169.254.169.254/latest/x.csv: 169.254.169.254 is a link-local"),
        ("gone", "answered HTTP 404"),
        ("too-wide", "1000"),
        ("not-csv", "answered text/html, not CSV"),
    ):
        assert statuses(summary)[name] == "failed" and reason in detail(summary, name)
        assert datasets.get_dataset(site, console_actor(site, "admin"), name).title
    source.files["gone"] = b"a\n2\n"
    assert statuses(run(site, source.url))["gone"] == "updated"  # the data is tried again


def test_a_refused_source_writes_nothing(site: Site, source: FakeCkan) -> None:
    admin = console_actor(site, "admin")
    with pytest.raises(UnsafeURL, match=r"127\.0\.0\.1 is a loopback address"):
        harvest(site, admin, HarvestOptions(source.url, ORG), FetchPolicy())
    assert source.seen.requests == []
    assert dataset_count(site) == 0
    with pytest.raises(SourceError, match=r"answered HTTP 404"):
        run(site, source.url + "/nothing-here", source_type="ckan")


def test_only_those_who_may_open_datasets_harvest_open_ones(site: Site, source: FakeCkan) -> None:
    admin = console_actor(site, "admin")
    users.create_user(site, admin, username="erin")
    organisations.set_member(site, admin, ORG, "erin", "editor")
    with pytest.raises(Forbidden):
        run(site, source.url, user="erin")
    assert source.seen.requests == []
    summary = run(site, source.url, user="erin", visibility="private")
    assert statuses(summary)["roads"] == "created"
    assert datasets.get_dataset(site, admin, "roads").visibility == "private"


def test_a_token_goes_to_the_api_only_and_never_with_data(site: Site, source: FakeCkan) -> None:
    run(site, source.url, token="remote-token")
    for path, headers in source.seen.requests:
        sent = headers.get("Authorization")
        assert sent == ("remote-token" if path.startswith("/api/3/action/") else None), path


def test_metadata_only(site: Site, source: FakeCkan) -> None:
    summary = run(site, source.url, with_data=False)
    assert statuses(summary)["roads"] == "created"
    assert not any(path.startswith("/files") for path in source.seen.paths)
    assert datasets.get_dataset(site, console_actor(site, "admin"), "roads").current_version is None


def test_a_dcat_catalogue_is_harvested_and_matched_again(site: Site, source: FakeCkan) -> None:
    source.documents["/catalog.ttl"] = ("text/turtle", page_one(source.url).encode())
    source.documents["/catalog.ttl?page=2"] = ("text/turtle", page_two(source.url).encode())
    source.files["trees"] = ROADS.encode()
    catalogue = f"{source.url}/catalog.ttl"
    summary = run(site, catalogue)  # not a CKAN API there: read as DCAT
    assert (summary.source, summary.source_type) == (catalogue, "dcat")
    assert statuses(summary) == {"street-trees": "created", "bus-stops": "created"}
    assert summary.not_public == 1  # salaries: NON_PUBLIC
    trees = datasets.get_dataset(site, console_actor(site, "admin"), "street-trees")
    assert (trees.title, trees.licence, trees.temporal.end) == (
        "Street trees",
        "CC-BY-4.0",
        "2024-12-31",
    )
    assert rows(site, "street-trees")[1]["segment"] == "B7"
    again = run(site, catalogue, source_type="dcat")
    assert again.counts()["unchanged"] == 2 and again.counts()["created"] == 0
    assert version_count(site, "street-trees") == 1


def test_a_listing_that_fails_part_way_keeps_what_was_read(site: Site, source: FakeCkan) -> None:
    run(site, source.url)
    for number in range(120):
        source.add(f"more-{number:03d}")
    source.fail_from = 100
    summary = run(site, source.url)
    assert not summary.complete and "answered HTTP 500" in (summary.stopped or "")
    assert summary.counts()["created"] > 0 and summary.counts()["missing"] == 0
    source.fail_from = 0  # nothing can be read: the run fails and writes nothing
    with pytest.raises(SourceError, match="answered HTTP 500"):
        run(site, source.url)
