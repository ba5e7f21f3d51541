"""Catalogue search: full text, ranking, filters, facets, sorting, paging, and no leaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from cityshare.accounts import organisations
from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets, versions
from cityshare.catalogue import search as search_module
from cityshare.runtime import open_site
from cityshare.search.index import index_if_empty, reindex_all
from cityshare.site import Site
from cityshare.storage.schema import dataset_facet_lists, dataset_facets, facet_counts
from cityshare.streams import datastreams
from tests.sensors import add_device, add_sensor_dataset
from tests.sharing_support import add_user, make_grant
from tests.world import OTHER, OWNER, World

URL = "/api/v1/datasets"
BUS_STOPS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-1.61, 54.97]},
            "properties": {"stop_code": "NC01", "shelter": True},
        }
    ],
}
AIR_CSV = "station,measured_at,no2_ugm3\nS1,2024-03-04T08:00:00Z,31.5\n"
PLAIN_CSV = "day,count\n2024-03-04,5\n"


def _add(site: Site, folder: Path, name: str, **metadata: Any) -> None:
    admin = console_actor(site, "admin")
    organisation = metadata.pop("organisation", OWNER)
    body, media_type = metadata.pop("data", (PLAIN_CSV, "text/csv"))
    datasets.create_dataset(site, admin, organisation=organisation, name=name, **metadata)
    if body is not None:
        source = folder / f"{name}.data"
        source.write_text(body)
        versions.publish_version(site, admin, name, source=source, media_type=media_type)


@pytest.fixture
def catalogue(world: World, site: Site, tmp_path: Path) -> World:
    """The world's datasets and a handful with real metadata, in both organisations."""
    _add(
        site, tmp_path, "bus-stops", title="Bus stops", visibility="open",
        tags=["transport", "bus"], licence="CC-BY-4.0",
        description="Every stop with its shelter.",
        data=(json.dumps(BUS_STOPS), "application/geo+json"),
    )  # fmt: skip
    _add(
        site, tmp_path, "bus-timetable", title="Timetable", visibility="open",
        tags=["transport"], licence="CC-BY-4.0", description="Departures of every bus line.",
    )  # fmt: skip
    _add(
        site, tmp_path, "air-quality", title="Air quality", visibility="open", organisation=OTHER,
        tags=["environment"], licence="ODbL-1.0",
        description="Nitrogen dioxide measured at roadside stations.",
        data=(AIR_CSV, "text/csv"),
    )  # fmt: skip
    _add(
        site, tmp_path, "parking-occupancy", title="Parking occupancy", visibility="shared",
        tags=["transport", "parking"], licence="CC-BY-4.0", description="Bays in use.",
    )  # fmt: skip
    _add(
        site, tmp_path, "secret-traffic-plan", title="Secret traffic plan", visibility="private",
        tags=["transport", "confidential"], licence="LicenseRef-internal",
        description="Roadworks plan for the bus lanes.", data=(None, ""),
    )  # fmt: skip
    return world


def search(client: TestClient, world: World, actor: str, **params: Any) -> dict[str, Any]:
    """A successful search as ``actor``."""
    response = client.get(URL, params=params, headers=world.headers(actor))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def names(result: dict[str, Any]) -> list[str]:
    """The names of the datasets found, in order."""
    return [dataset["name"] for dataset in result["datasets"]]


def facet(result: dict[str, Any], field: str) -> dict[str, int]:
    """One facet as value -> count."""
    return {item["name"]: item["count"] for item in result["facets"][field]}


def test_words_in_the_title_rank_above_words_in_the_description(
    catalogue: World, client: TestClient
) -> None:
    found = search(client, catalogue, "anonymous", q="bus")
    assert names(found) == ["bus-stops", "bus-timetable"]
    assert found["count"] == 2


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("nitrogen", "air-quality"),  # the description
        ("no2_ugm3", "air-quality"),  # a column name
        ("ugm3", "air-quality"),  # a word of a column name
        ("shelter", "bus-stops"),  # a column of the GeoJSON, and the description
        ("partner", "air-quality"),  # the organisation
        ("environment", "air-quality"),  # a tag
        ("stations measured", "air-quality"),  # several words, stemmed, any order
        ("departu", "bus-timetable"),  # the last word as a prefix, as people type
        ("DEPARTURE", "bus-timetable"),  # case and plural
    ],
)
def test_finds_datasets_by_every_part_of_their_metadata(
    catalogue: World, client: TestClient, words: str, expected: str
) -> None:
    assert names(search(client, catalogue, "anonymous", q=words)) == [expected]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("dep", ["bus-timetable"]),  # three letters: a prefix
        ("de", []),  # two: a word of its own, which no dataset has
        ("timetable de", []),
    ],
)
def test_only_a_last_word_of_three_letters_or_more_is_a_prefix(
    catalogue: World, client: TestClient, words: str, expected: list[str]
) -> None:
    """A one- or two-letter prefix would match much of a large catalogue, slowly."""
    assert names(search(client, catalogue, "anonymous", q=words)) == expected


def test_finds_sensor_datasets_by_their_streams(world: World, client: TestClient) -> None:
    add_sensor_dataset(world.site, "river-levels", visibility="open")
    gauge = add_device(world.site, "gauge")
    datastreams.create_stream(
        world.site, console_actor(world.site, "admin"), "river-levels",
        device=gauge.uid, name="level", observed_property="water_level", unit="m",
    )  # fmt: skip
    found = search(client, world, "anonymous", q="water level", facets="format,kind")
    assert names(found) == ["river-levels"]
    assert found["datasets"][0]["formats"] == ["CSV", "JSON", "NDJSON"]
    assert facet(found, "kind") == {"sensor": 1}


def test_a_private_dataset_is_never_found_counted_or_faceted_by_outsiders(
    catalogue: World, client: TestClient
) -> None:
    for actor in ("anonymous", "outsider"):
        found = search(client, catalogue, actor, q="plan roadworks", facets="all")
        assert found["count"] == 0 and found["datasets"] == []
        assert all(values == [] for values in found["facets"].values())
        everything = search(client, catalogue, actor, facets="all", limit=1000)
        assert "secret-traffic-plan" not in names(everything)
        assert "confidential" not in facet(everything, "tag")
        assert "LicenseRef-internal" not in facet(everything, "licence")
        assert "private" not in facet(everything, "visibility") or actor == "outsider"
        assert facet(everything, "tag")["transport"] == (2 if actor == "anonymous" else 3)
    member = search(client, catalogue, "member", q="plan roadworks", facets="tag")
    assert names(member) == ["secret-traffic-plan"]
    assert facet(member, "tag") == {"confidential": 1, "transport": 1}


def test_shared_datasets_are_found_only_by_people_signed_in(
    catalogue: World, client: TestClient
) -> None:
    assert search(client, catalogue, "anonymous", q="parking")["count"] == 0
    assert names(search(client, catalogue, "outsider", q="parking")) == ["parking-occupancy"]


def test_the_outsiders_own_private_datasets_are_found_and_counted(
    catalogue: World, client: TestClient, tmp_path: Path
) -> None:
    _add(catalogue.site, tmp_path, "partner-plan", title="Plan", visibility="private",
         organisation=OTHER)  # fmt: skip
    outsider = search(client, catalogue, "outsider", q="plan", facets="visibility,organisation")
    assert names(outsider) == ["partner-plan"]
    assert facet(outsider, "organisation") == {OTHER: 1}
    assert facet(outsider, "visibility") == {"private": 1}


def test_facets_count_what_matches_and_filters_narrow(catalogue: World, client: TestClient) -> None:
    found = search(client, catalogue, "anonymous", tag="transport", facets="all")
    assert sorted(names(found)) == ["bus-stops", "bus-timetable"]
    assert facet(found, "tag") == {"transport": 2, "bus": 1}
    assert facet(found, "licence") == {"CC-BY-4.0": 2}
    assert facet(found, "format") == {"CSV": 2, "JSON": 2, "NDJSON": 2, "GeoJSON": 1}
    assert facet(found, "organisation") == {OWNER: 2}
    both_tags = search(client, catalogue, "anonymous", tag=["transport", "bus"])
    assert names(both_tags) == ["bus-stops"]
    geo = search(client, catalogue, "anonymous", format="geojson")
    assert names(geo) == ["bus-stops"]
    either = search(client, catalogue, "anonymous", organisation=[OWNER, OTHER], licence="ODbL-1.0")
    assert names(either) == ["air-quality"]
    sensors = search(client, catalogue, "anonymous", kind="sensor")
    assert names(sensors) == ["open-air"]
    shared = search(client, catalogue, "member", visibility="shared", kind="table", sort="name")
    assert names(shared) == ["parking-occupancy", "shared-counts"]


def test_sorting_and_paging_walk_every_dataset_once(catalogue: World, client: TestClient) -> None:
    everything = names(search(client, catalogue, "member", sort="name", limit=1000))
    assert everything == sorted(everything) and len(everything) == 11
    descending = names(search(client, catalogue, "member", sort="-name", limit=1000))
    assert descending == everything[::-1]
    seen: list[str] = []
    response = client.get(
        URL, params={"sort": "name", "limit": 3}, headers=catalogue.headers("member")
    )
    pages = 0
    while True:
        page = response.json()
        assert page["count"] == 11
        seen.extend(names(page))
        pages += 1
        if page["next"] is None:
            break
        assert "limit=3" in page["next"] and "sort=name" in page["next"]
        response = client.get(page["next"], headers=catalogue.headers("member"))
    assert seen == everything and pages == 4


def test_without_words_the_newest_changes_come_first(catalogue: World, client: TestClient) -> None:
    admin = console_actor(catalogue.site, "admin")
    datasets.update_dataset(catalogue.site, admin, "air-quality", {"description": "Revised."})
    assert names(search(client, catalogue, "anonymous"))[0] == "air-quality"
    assert names(search(client, catalogue, "anonymous", sort="modified"))[-1] == "air-quality"


def test_the_index_follows_every_change(
    catalogue: World, client: TestClient, tmp_path: Path
) -> None:
    site = catalogue.site
    admin = console_actor(site, "admin")
    datasets.update_dataset(
        site, admin, "bus-timetable",
        {"title": "Coach schedule", "description": "Weekday services.", "tags": []},
    )  # fmt: skip
    assert names(search(client, catalogue, "anonymous", q="coach")) == ["bus-timetable"]
    assert search(client, catalogue, "anonymous", q="departures")["count"] == 0
    assert "bus-timetable" not in names(search(client, catalogue, "anonymous", tag="transport"))
    source = tmp_path / "v2.csv"
    source.write_text("route,frequency_minutes\n1,10\n")
    versions.publish_version(site, admin, "bus-timetable", source=source, media_type="text/csv")
    assert names(search(client, catalogue, "anonymous", q="frequency")) == ["bus-timetable"]
    organisations.update_organisation(site, admin, OTHER, {"title": "Northern Air Authority"})
    assert names(search(client, catalogue, "anonymous", q="northern")) == ["air-quality"]
    datasets.update_dataset(site, admin, "air-quality", {"visibility": "private"})
    assert search(client, catalogue, "anonymous", q="northern")["count"] == 0
    datasets.delete_dataset(site, admin, "bus-stops")
    assert search(client, catalogue, "member", q="shelter")["count"] == 0
    with site.engine.connect() as connection:
        tagged = dataset_facets.select().where(dataset_facets.c.value == "bus")
        assert connection.execute(tagged).first() is None
        kept = facet_counts.select().where(facet_counts.c.value == "bus")
        assert connection.execute(kept).first() is None


def test_reindexing_rebuilds_a_lost_index(catalogue: World, client: TestClient) -> None:
    site = catalogue.site
    with site.writer.begin() as connection:
        connection.execute(dataset_facets.delete())
        connection.execute(facet_counts.delete())
        connection.execute(dataset_facet_lists.delete())
        from cityshare.search.text import delete_document

        for dataset_id in range(1, 50):
            delete_document(connection, dataset_id)
    assert search(client, catalogue, "anonymous", q="bus")["count"] == 0
    open_site(site.settings).close()  # opening a store indexes it again when it has lost it
    assert search(client, catalogue, "anonymous", q="bus")["count"] == 2
    with site.writer.begin() as connection:
        assert index_if_empty(connection) == 0
        assert reindex_all(connection) == 11
    found = search(client, catalogue, "anonymous", q="bus", facets="format")
    assert names(found) == ["bus-stops", "bus-timetable"]
    assert facet(found, "format")["GeoJSON"] == 1


def test_indexing_everything_again_leaves_a_compact_text_index(catalogue: World) -> None:
    """Every document replaced leaves SQLite's FTS5 index twice its size until merged."""
    site = catalogue.site
    if site.engine.dialect.name != "sqlite":
        pytest.skip("the GIN index of PostgreSQL is kept by autovacuum")
    pages = text("SELECT count(*) FROM dataset_text_data")
    with site.writer.begin() as connection:
        for _ in range(3):
            reindex_all(connection)
        compacted = connection.execute(pages).scalar_one()
        connection.execute(text("INSERT INTO dataset_text(dataset_text) VALUES ('optimize')"))
        assert connection.execute(pages).scalar_one() == compacted


def test_a_store_without_facet_lists_gets_them_when_opened(
    catalogue: World, client: TestClient
) -> None:
    """As a store upgraded from the schema before facet lists (0007) is."""
    site = catalogue.site
    before = search(client, catalogue, "anonymous", q="bus", facets="format,tag")
    with site.writer.begin() as connection:
        connection.execute(dataset_facet_lists.delete())
    assert search(client, catalogue, "anonymous", q="bus", facets="format")["count"] == 0
    open_site(site.settings).close()
    assert search(client, catalogue, "anonymous", q="bus", facets="format,tag") == before


@pytest.mark.parametrize(
    "words",
    [
        '"', "'", "bus\"", "NEAR(bus stops)", "bus OR 1=1", "*", "bus*", "^bus", "title:bus",
        "'); DROP TABLE datasets; --", "a & b | !c", "bus:*", "\\", "😀 bus", "((((", "-bus",
    ],
)  # fmt: skip
def test_any_text_is_a_plain_search(catalogue: World, client: TestClient, words: str) -> None:
    found = search(client, catalogue, "anonymous", q=words)
    if any(character.isalnum() for character in words):
        assert set(names(found)) <= {"bus-stops", "bus-timetable"}
    else:  # no word at all: as if nothing was typed
        assert found["count"] == 5
    assert search(client, catalogue, "anonymous", q="bus")["count"] == 2


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"q": "x" * 501}, "q"),
        ({"limit": -1}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"offset": 1_000_001}, "offset"),
        ({"offset": -5}, "offset"),
        ({"sort": "size"}, "sort"),
        ({"facets": "colour"}, "facets"),
        ({"kind": "video"}, "kind"),
        ({"visibility": "secret"}, "visibility"),
    ],
)
def test_bad_search_parameters_get_a_clear_error(
    catalogue: World, client: TestClient, params: dict[str, Any], parameter: str
) -> None:
    response = client.get(URL, params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["parameter"] == parameter and parameter in problem["detail"]


def test_limit_zero_gives_the_count_and_facets_only(catalogue: World, client: TestClient) -> None:
    found = search(client, catalogue, "anonymous", limit=0, facets="organisation")
    assert found["datasets"] == [] and found["count"] == 5 and found["next"] is None
    assert facet(found, "organisation") == {OWNER: 4, OTHER: 1}


@pytest.mark.parametrize("actor", ["anonymous", "outsider", "member", "siteadmin"])
def test_kept_counts_equal_counting_the_datasets(
    catalogue: World, client: TestClient, actor: str, tmp_path: Path
) -> None:
    """Browsing reads the kept counts; a filter that keeps every dataset counts them one
    by one: after changes of every kind, both agree for every kind of actor."""
    site = catalogue.site
    admin = console_actor(site, "admin")
    datasets.update_dataset(site, admin, "bus-stops", {"tags": ["transport", "stops"]})
    datasets.update_dataset(site, admin, "parking-occupancy", {"visibility": "open"})
    datasets.update_dataset(site, admin, "air-quality", {"visibility": "shared"})
    datasets.delete_dataset(site, admin, "bus-timetable")
    _add(site, tmp_path, "partner-secret", visibility="private", organisation=OTHER, tags=["x"])
    browsed = search(client, catalogue, actor, facets="all", sort="name", limit=1000)
    counted = search(
        client, catalogue, actor, facets="all", sort="name", limit=1000, kind=["table", "sensor"]
    )
    assert browsed == counted | {"next": browsed["next"]}
    assert browsed["count"] == len(browsed["datasets"]) > 0
    visible = sum(item["count"] for item in browsed["facets"]["visibility"])
    assert visible == browsed["count"]


def test_a_grant_makes_its_private_dataset_findable_by_its_grantee_only(
    catalogue: World, client: TestClient
) -> None:
    grantee = add_user(catalogue, "analyst")
    before = client.get(URL, params={"facets": "all", "q": "plan"}, headers=grantee).json()
    assert before["count"] == 0
    make_grant(client, catalogue, "secret-traffic-plan", user="analyst")
    for params in ({"facets": "all"}, {"facets": "all", "q": "roadworks"}):
        found = client.get(URL, params=params, headers=grantee).json()
        assert "secret-traffic-plan" in names(found)
        assert facet(found, "tag")["confidential"] == 1
        assert facet(found, "visibility")["private"] == 1
    others = search(client, catalogue, "outsider", facets="all")
    assert "confidential" not in facet(others, "tag")


def test_points_from_coordinates_offer_geojson_and_it_is_served(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    csv = "station,longitude,latitude\nS1,-1.61,54.97\nS2,-1.60,54.98\n"
    _add(world.site, tmp_path, "bike-docks", visibility="open", data=(csv, "text/csv"))
    found = search(client, world, "anonymous", q="docks", format="GeoJSON")
    assert names(found) == ["bike-docks"]
    assert found["datasets"][0]["formats"] == ["CSV", "JSON", "NDJSON", "GeoJSON"]
    served = client.get("/api/v1/datasets/bike-docks/rows", params={"_format": "geojson"})
    assert served.status_code == 200
    assert len(served.json()["features"]) == 2


def test_ranking_every_match_when_the_best_few_are_filtered_out(
    catalogue: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page by relevance ranks only the best few text matches first; when the filters
    leave too few of them, it ranks them all and the answer is the same."""
    ranked = search(client, catalogue, "member", q="transport", limit=1000)["datasets"]
    best = ranked[0]
    last = next(found for found in ranked if found["licence"] != best["licence"])
    asked = {"q": "transport", "licence": last["licence"], "limit": 1}
    expected = search(client, catalogue, "member", **asked)
    wide = search(client, catalogue, "member", q="transport", limit=1, offset=1)
    monkeypatch.setattr(search_module, "RANK_FIRST_FACTOR", 1)
    monkeypatch.setattr(search_module, "RANK_FIRST_MORE", 0)
    narrow = search(client, catalogue, "member", **asked)
    assert names(narrow) == names(expected) == [last["name"]]
    assert search(client, catalogue, "member", q="transport", limit=1, offset=1) == wide
