"""search.index and search.text: the index follows every change in the transaction that
makes it, can be rebuilt, and never holds a column name a reader may not read."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from cityshare.accounts import organisations
from cityshare.catalogue import datasets, versions
from cityshare.catalogue.search import SearchQuery, search_datasets
from cityshare.search.index import index_if_empty, reindex_all, remove_dataset
from cityshare.search.text import MAX_TERMS, terms
from cityshare.storage.schema import dataset_facet_lists, dataset_facets, facet_counts
from cityshare.storage.schema import datasets as datasets_table
from tests.catalogue.support import actor, stored_dataset, write_file
from tests.search.support import grant_to
from tests.world import World


def names_found(world: World, who: str, text: str) -> list[str]:
    """What actor ``who`` finds for ``text``."""
    result = search_datasets(world.site, actor(world, who), SearchQuery(text=text, limit=100))
    return sorted(dataset.name for dataset in result.datasets)


def test_a_metadata_change_is_searchable_at_once(world: World) -> None:
    editor = actor(world, "editor")
    datasets.update_dataset(world.site, editor, "open-counts", {"title": "Pedestrian flows"})
    assert names_found(world, "anonymous", "pedestrian") == ["open-counts"]
    # The name stays searchable; the old title's words are gone with it.
    assert names_found(world, "anonymous", "counts") == ["open-counts"]
    datasets.update_dataset(world.site, editor, "open-counts", {"title": "Cyclist flows"})
    assert names_found(world, "anonymous", "pedestrian") == []


def test_a_new_version_changes_the_column_words(world: World, tmp_path: Path) -> None:
    source = write_file(tmp_path, "v2.csv", "gully,depth\nG1,0.4\n")
    editor = actor(world, "editor")
    versions.publish_version(
        world.site, editor, "open-counts", source=source, media_type="text/csv"
    )
    assert names_found(world, "anonymous", "gully") == ["open-counts"]
    assert names_found(world, "anonymous", "junction") == []


def test_an_organisation_title_is_searched(world: World) -> None:
    admin = actor(world, "admin")
    organisations.update_organisation(world.site, admin, "city", {"title": "Harbourtown Council"})
    assert names_found(world, "anonymous", "harbourtown") == ["open-air", "open-counts"]


def test_a_sensor_dataset_is_found_by_its_streams(world: World) -> None:
    assert names_found(world, "anonymous", "no2") == ["open-air"]
    assert names_found(world, "member", "no2") == ["open-air", "private-air", "shared-air"]


def test_a_deleted_dataset_leaves_nothing_in_the_index(world: World) -> None:
    dataset_id = stored_dataset(world.site, "open-counts").id
    datasets.delete_dataset(world.site, actor(world, "admin"), "open-counts")
    assert names_found(world, "anonymous", "counts") == []
    with world.site.engine.connect() as connection:
        for table in (dataset_facets, dataset_facet_lists):
            left = select(func.count()).where(table.c.dataset_id == dataset_id)
            assert connection.execute(left).scalar_one() == 0, table.name


def test_the_kept_counts_add_up_to_the_catalogue(world: World) -> None:
    with world.site.engine.connect() as connection:
        kept = connection.execute(
            select(func.sum(facet_counts.c.count)).where(facet_counts.c.facet == "visibility")
        ).scalar_one()
        total = connection.execute(select(func.count()).select_from(datasets_table)).scalar_one()
    assert kept == total == 6


def test_a_lost_index_is_rebuilt(world: World) -> None:
    before = names_found(world, "member", "counts")
    with world.site.writer.begin() as connection:
        assert index_if_empty(connection) == 0  # indexed already: nothing to do
        ids = connection.execute(select(datasets_table.c.id)).scalars().all()
        for dataset_id in ids:
            remove_dataset(connection, dataset_id)
    assert names_found(world, "member", "counts") == []
    with world.site.writer.begin() as connection:
        assert index_if_empty(connection) == 6
    assert names_found(world, "member", "counts") == before
    with world.site.writer.begin() as connection:
        assert reindex_all(connection) == 6
    assert names_found(world, "member", "counts") == before
    result = search_datasets(world.site, actor(world, "member"), SearchQuery(facets=("kind",)))
    assert result.facets["kind"] == [{"name": "sensor", "count": 3}, {"name": "table", "count": 3}]


def test_a_personal_column_is_found_only_by_those_who_read_it(world: World) -> None:
    admin = actor(world, "admin")
    changes = {"column_classes": {"speed": "personal"}}
    datasets.update_dataset(world.site, admin, "shared-counts", changes)
    assert names_found(world, "outsider", "speed") == ["open-counts"]
    assert names_found(world, "member", "speed") == [
        "open-counts",
        "private-counts",
        "shared-counts",
    ]
    named = grant_to(world, "shared-counts", "named", columns=["junction", "speed"])
    found = search_datasets(world.site, named, SearchQuery(text="speed"))
    assert sorted(d.name for d in found.datasets) == ["open-counts", "shared-counts"]
    # A grantee whose grant leaves out a public column does not find it either.
    found = search_datasets(world.site, named, SearchQuery(text="cars"))
    assert [d.name for d in found.datasets] == ["open-counts"]


def test_terms_are_plain_words() -> None:
    assert terms('"Bus" AND stops* -night NEAR(x) OR a:b') == [
        "bus",
        "and",
        "stops",
        "night",
        "near",
        "x",
        "or",
        "a",
        "b",
    ]
    assert terms("snake_case 'quoted'; DROP TABLE--") == [
        "snake",
        "case",
        "quoted",
        "drop",
        "table",
    ]
    assert terms("Zählstelle 東京 naïve") == ["zählstelle", "東京", "naïve"]
    assert terms("%_*()\"'") == []
    assert terms(" ".join(f"w{n}" for n in range(40))) == [f"w{n}" for n in range(MAX_TERMS)]
