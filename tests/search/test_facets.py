"""search.facets through search.query: facet counts are computed within the reader's
bounds, both from the kept counts (browsing) and from the matches (searching)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cityshare.catalogue import datasets, versions
from cityshare.catalogue.search import FACETS, SearchQuery, search_datasets
from cityshare.search.facets import FACET_LIMIT, top
from tests.catalogue.support import actor, write_file
from tests.search.support import grant_to
from tests.world import World

EVERY_FACET = tuple(FACETS)
# The visibility facet each reader gets when browsing the world (a table and a sensor
# dataset per visibility).
BROWSED = {
    "anonymous": {"open": 2},
    "outsider": {"open": 2, "shared": 2},
    "member": {"open": 2, "shared": 2, "private": 2},
}


def facets(world: World, who: str, **query: Any) -> tuple[int, dict[str, dict[str, int]]]:
    """The count and facets (value: count) a search gives actor ``who``."""
    wanted = SearchQuery(facets=EVERY_FACET, **query)
    result = search_datasets(world.site, actor(world, who), wanted)
    counted = {
        facet: {v["name"]: v["count"] for v in values} for facet, values in result.facets.items()
    }
    return result.count, counted


def mark_private_dataset(world: World) -> None:
    """Give the private table a tag and a licence no visible dataset has."""
    changes = {"tags": ["internal-only"], "licence": "LicenseRef-internal"}
    datasets.update_dataset(world.site, actor(world, "admin"), "private-counts", changes)


@pytest.mark.parametrize("who", sorted(BROWSED))
def test_browsing_counts_only_what_the_reader_sees(world: World, who: str) -> None:
    count, counted = facets(world, who)
    assert counted["visibility"] == BROWSED[who]
    assert count == sum(BROWSED[who].values())
    assert counted["kind"] == {"table": count // 2, "sensor": count // 2}
    assert counted["organisation"] == {"city": count}
    assert counted["format"] == {"CSV": count, "JSON": count, "NDJSON": count}


@pytest.mark.parametrize("text", ["", "counts"])
def test_a_private_datasets_tag_and_licence_are_not_counted_for_outsiders(
    world: World, text: str
) -> None:
    """Browsing reads the kept counts; a search with words counts its matches: both
    leave out what the reader may not see."""
    mark_private_dataset(world)
    for who in ("anonymous", "outsider"):
        _count, counted = facets(world, who, text=text)
        assert "internal-only" not in counted["tag"], who
        assert "LicenseRef-internal" not in counted["licence"], who
        assert "private" not in counted["visibility"], who
    _count, owned = facets(world, "member", text=text)
    assert owned["tag"] == {"internal-only": 1}
    assert owned["licence"] == {"LicenseRef-internal": 1}


def test_a_search_counts_the_facets_of_its_matches(world: World) -> None:
    assert facets(world, "outsider", text="counts") == (
        2,
        {
            "organisation": {"city": 2},
            "tag": {},
            "licence": {},
            "format": {"CSV": 2, "JSON": 2, "NDJSON": 2},
            "kind": {"table": 2},
            "visibility": {"open": 1, "shared": 1},
        },
    )
    count, counted = facets(world, "member", kinds=("sensor",))
    assert count == 3 and counted["visibility"] == {"open": 1, "shared": 1, "private": 1}


def test_a_grantee_counts_the_dataset_granted_on_top(world: World) -> None:
    mark_private_dataset(world)
    grant_to(world, "private-counts", "grantee")
    for text in ("", "counts"):
        count, counted = facets(world, "grantee", text=text)
        assert counted["visibility"]["private"] == 1, text
        assert counted["tag"] == {"internal-only": 1}, text
        assert count == sum(counted["visibility"].values())
    assert facets(world, "grantee")[1]["visibility"] == {"open": 2, "shared": 2, "private": 1}


def test_the_kept_counts_follow_visibility_changes_and_deletions(world: World) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(world.site, admin, "private-counts", {"visibility": "open"})
    assert facets(world, "anonymous")[1]["visibility"] == {"open": 3}
    assert facets(world, "member")[1]["visibility"] == {"open": 3, "shared": 2, "private": 1}
    datasets.delete_dataset(world.site, admin, "open-counts")
    count, counted = facets(world, "anonymous")
    assert (count, counted["visibility"], counted["kind"]) == (
        2,
        {"open": 2},
        {"sensor": 1, "table": 1},
    )


def test_the_filters_on_organisation_and_visibility_narrow_the_counts(world: World) -> None:
    count, counted = facets(world, "member", visibilities=("shared", "private"))
    assert count == 4 and counted["visibility"] == {"shared": 2, "private": 2}
    assert facets(world, "member", organisations=("partner",)) == (
        0,
        {facet: {} for facet in EVERY_FACET},
    )


def test_geojson_is_counted_only_for_readers_of_the_coordinates(
    world: World, tmp_path: Path
) -> None:
    admin = actor(world, "admin")
    source = write_file(tmp_path, "stops.csv", "stop,latitude,longitude\nA,53.8,-1.55\n")
    versions.publish_version(world.site, admin, "open-counts", source=source, media_type="text/csv")
    assert facets(world, "anonymous", text="stop")[1]["format"]["GeoJSON"] == 1
    datasets.update_dataset(
        world.site, admin, "open-counts", {"column_classes": {"latitude": "personal"}}
    )
    for text in ("", "stop"):
        assert "GeoJSON" not in facets(world, "anonymous", text=text)[1]["format"], text
        assert facets(world, "member", text=text)[1]["format"]["GeoJSON"] == 1, text
    assert (
        search_datasets(
            world.site, actor(world, "anonymous"), SearchQuery(formats=("geojson",))
        ).datasets
        == []
    )


def test_top_keeps_the_largest_counts_ties_by_value() -> None:
    counts = Counter({"b": 2, "a": 2, "c": 5, "gone": 0, "minus": -1})
    assert top(counts) == [
        {"name": "c", "count": 5},
        {"name": "a", "count": 2},
        {"name": "b", "count": 2},
    ]
    many = Counter({f"v{n:03d}": n + 1 for n in range(FACET_LIMIT + 10)})
    kept = top(many)
    assert len(kept) == FACET_LIMIT and kept[0] == {"name": f"v{FACET_LIMIT + 9:03d}", "count": 60}
