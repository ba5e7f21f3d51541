"""interop.ckan_mapping: datasets, resources and organisations as CKAN's Action API shows
them, read through the catalogue's services (so the access policy decides what exists)."""

from __future__ import annotations

import pytest

from cityshare.catalogue import datasets, versions
from cityshare.errors import NotFound
from cityshare.interop import ckan_mapping
from tests.catalogue.support import actor
from tests.search.support import make_dataset
from tests.world import World

BASE = "https://data.example.org/"
ROWS = "https://data.example.org/api/v1/datasets/open-counts/rows"


def test_an_open_package_maps_every_field(world: World) -> None:
    admin = actor(world, "admin")
    changes = {"licence": "CC-BY-4.0", "tags": ["traffic"], "description": "Hourly counts."}
    datasets.update_dataset(world.site, admin, "open-counts", changes)
    package = ckan_mapping.show_package(world.site, actor(world, "anonymous"), "open-counts", BASE)
    assert package["id"] == package["name"] == "open-counts"
    assert package["notes"] == "Hourly counts."
    assert (package["license_id"], package["isopen"], package["private"]) == (
        "CC-BY-4.0",
        True,
        False,
    )
    assert package["version"] == "1"
    assert package["owner_org"] == "city" and package["organization"]["title"] == "City"
    assert [tag["name"] for tag in package["tags"]] == ["traffic"] and package["num_tags"] == 1
    assert package["metadata_created"] and not package["metadata_created"].endswith("Z")
    assert {"key": "kind", "value": "table"} in package["extras"]
    ids = [resource["id"] for resource in package["resources"]]
    assert ids == ["open-counts.csv", "open-counts.json", "open-counts.ndjson"]
    assert package["num_resources"] == 3
    assert package["resources"][0]["url"] == f"{ROWS}?_format=csv"


def test_the_csv_resource_carries_the_schema_the_reader_gets(world: World) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(
        world.site, admin, "open-counts", {"column_classes": {"note": "personal"}}
    )
    for who in ("anonymous", "member"):
        reader = actor(world, who)
        package = ckan_mapping.show_package(world.site, reader, "open-counts", BASE)
        expected = versions.get_version(world.site, reader, "open-counts", None).schema_.document()
        assert package["resources"][0]["schema"] == expected, who
    public = ckan_mapping.show_package(world.site, actor(world, "anonymous"), "open-counts", BASE)
    assert "note" not in [f["name"] for f in public["resources"][0]["schema"]["fields"]]


def test_a_private_package_is_answered_like_a_missing_one(world: World) -> None:
    outsider = actor(world, "outsider")
    with pytest.raises(NotFound) as hidden:
        ckan_mapping.show_package(world.site, outsider, "private-counts", BASE)
    with pytest.raises(NotFound) as missing:
        ckan_mapping.show_package(world.site, outsider, "missing-counts", BASE)
    assert hidden.value.detail == missing.value.detail.replace("missing-counts", "private-counts")
    member = ckan_mapping.show_package(world.site, actor(world, "member"), "private-counts", BASE)
    assert member["private"] is True and member["visibility"] == "private"


def test_a_licence_outside_the_open_list_is_not_open(world: World) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(world.site, admin, "open-counts", {"licence": "LicenseRef-city-1"})
    package = ckan_mapping.show_package(world.site, admin, "open-counts", BASE)
    assert package["isopen"] is False and package["license_id"] == "LicenseRef-city-1"


def test_a_sensor_package_has_a_resource_per_stream_and_format(world: World) -> None:
    package = ckan_mapping.show_package(world.site, actor(world, "anonymous"), "open-air", BASE)
    stream = world.streams["open"]
    assert [r["id"] for r in package["resources"]] == [
        f"open-air.stream-{stream}.{param}" for param in ("csv", "json", "ndjson")
    ]
    assert all(r["datastore_active"] is False for r in package["resources"])
    assert package["resources"][0]["description"] == "no2 (µg/m³)"


def test_a_dataset_without_data_has_no_resources(world: World) -> None:
    make_dataset(world, "empty-table", visibility="open")
    package = ckan_mapping.show_package(world.site, actor(world, "anonymous"), "empty-table", BASE)
    assert package["resources"] == [] and package["version"] is None


def test_show_resource_finds_only_a_visible_datasets_resources(world: World) -> None:
    anonymous = actor(world, "anonymous")
    resource = ckan_mapping.show_resource(world.site, anonymous, "open-counts.json", BASE)
    assert resource["package_id"] == "open-counts" and resource["format"] == "JSON"
    for identifier in (
        "open-counts",
        "open-counts.geojson",
        "open-counts.xml",
        "shared-counts.csv",
    ):
        with pytest.raises(NotFound):
            ckan_mapping.show_resource(world.site, anonymous, identifier, BASE)


def test_the_datastore_reads_tables_only(world: World) -> None:
    reader = actor(world, "outsider")
    assert (
        ckan_mapping.datastore_dataset(world.site, reader, "shared-counts.csv") == "shared-counts"
    )
    assert ckan_mapping.datastore_dataset(world.site, reader, "shared-counts") == "shared-counts"
    for identifier in (
        "shared-air",
        "shared-counts.geojson",
        "shared-counts.pdf",
        "private-counts",
    ):
        with pytest.raises(NotFound):
            ckan_mapping.datastore_dataset(world.site, reader, identifier)


@pytest.mark.parametrize(
    ("who", "visibilities", "expected"),
    [
        ("anonymous", (), ["open-air", "open-counts"]),
        ("outsider", (), ["open-air", "open-counts", "shared-air", "shared-counts"]),
        ("member", ("private",), ["private-air", "private-counts"]),
        ("outsider", ("private",), []),
    ],
)
def test_all_visible_datasets_lists_what_the_reader_sees_by_name(
    world: World, who: str, visibilities: tuple[str, ...], expected: list[str]
) -> None:
    found = ckan_mapping.all_visible_datasets(
        world.site, actor(world, who), "city", visibilities=visibilities
    )
    assert [dataset.name for dataset in found] == expected


def test_packages_of_a_search_use_its_formats(world: World) -> None:
    reader = actor(world, "outsider")
    found = ckan_mapping.all_visible_datasets(world.site, reader)
    packages = ckan_mapping.packages_of(world.site, reader, found, BASE)
    assert [package["name"] for package in packages] == [dataset.name for dataset in found]
    tables = [package for package in packages if package["extras"][-1]["value"] == "table"]
    assert all(package["num_resources"] == 3 for package in tables)
    assert all("schema" not in package["resources"][0] for package in tables)


def test_resource_ids_split_at_the_first_dot() -> None:
    assert ckan_mapping.resource_id("bus-stops", "stream-4.csv") == "bus-stops.stream-4.csv"
    assert ckan_mapping.split_resource_id("bus-stops.stream-4.csv") == ("bus-stops", "stream-4.csv")
    assert ckan_mapping.split_resource_id("bus-stops") == ("bus-stops", "")
    assert ckan_mapping.ckan_time("2024-03-04T08:00:00Z") == "2024-03-04T08:00:00"
    assert ckan_mapping.ckan_time(None) is None
