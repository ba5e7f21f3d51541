"""interop.datapackage: a dataset as a Frictionless Data Package, whose resource schema
is the version's schema as the asker would read it."""

from __future__ import annotations

from pathlib import Path

import frictionless
import pytest

from cityshare.catalogue import datasets, versions
from cityshare.errors import NotFound
from cityshare.interop.datapackage import data_package
from tests.catalogue.support import actor, write_file
from tests.search.support import make_dataset
from tests.world import World

BASE = "https://data.example.org/"


def test_the_package_describes_the_current_version(world: World) -> None:
    admin = actor(world, "admin")
    changes = {"licence": "CC-BY-4.0", "tags": ["traffic"], "description": "Hourly."}
    datasets.update_dataset(world.site, admin, "open-counts", changes)
    anonymous = actor(world, "anonymous")
    package = data_package(world.site, anonymous, "open-counts", BASE)
    version = versions.get_version(world.site, anonymous, "open-counts", None)
    assert package["profile"] == "tabular-data-package"
    assert (package["name"], package["title"], package["description"]) == (
        "open-counts",
        "open-counts",
        "Hourly.",
    )
    assert package["keywords"] == ["traffic"]
    assert package["version"] == "1" and package["created"] == version.created_at
    assert package["licenses"] == [
        {"name": "CC-BY-4.0", "path": "https://spdx.org/licenses/CC-BY-4.0.html"}
    ]
    assert package["contributors"] == [{"title": "city", "role": "publisher"}]
    (resource,) = package["resources"]
    assert resource["schema"] == version.schema_.document()
    assert [field["name"] for field in resource["schema"]["fields"]] == [
        "junction",
        "counted_at",
        "cars",
        "speed",
        "note",
    ]
    assert (
        resource["path"] == "https://data.example.org/api/v1/datasets/open-counts/rows?_format=csv"
    )
    assert (resource["format"], resource["mediatype"]) == ("csv", "text/csv")


def test_the_package_follows_a_new_version(world: World, tmp_path: Path) -> None:
    source = write_file(tmp_path, "v2.csv", "gully,depth\nG1,0.4\n")
    editor = actor(world, "editor")
    versions.publish_version(
        world.site, editor, "open-counts", source=source, media_type="text/csv"
    )
    package = data_package(world.site, actor(world, "anonymous"), "open-counts", BASE)
    assert package["version"] == "2"
    fields = package["resources"][0]["schema"]["fields"]
    assert [(field["name"], field["type"]) for field in fields] == [
        ("gully", "string"),
        ("depth", "number"),
    ]


def test_the_schema_is_the_readers_own(world: World) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(
        world.site, admin, "open-counts", {"column_classes": {"note": "personal"}}
    )
    public = data_package(world.site, actor(world, "anonymous"), "open-counts", BASE)
    owned = data_package(world.site, actor(world, "member"), "open-counts", BASE)
    public_names = [field["name"] for field in public["resources"][0]["schema"]["fields"]]
    owned_names = [field["name"] for field in owned["resources"][0]["schema"]["fields"]]
    assert "note" not in public_names and "note" in owned_names
    assert owned_names[: len(public_names)] == public_names


@pytest.mark.parametrize(
    ("who", "name"),
    [
        ("anonymous", "shared-counts"),
        ("anonymous", "private-counts"),
        ("outsider", "private-counts"),
        ("outsider", "private-air"),
        ("member", "no-such-dataset"),
    ],
)
def test_a_dataset_the_reader_may_not_see_is_not_found(world: World, who: str, name: str) -> None:
    with pytest.raises(NotFound):
        data_package(world.site, actor(world, who), name, BASE)


def test_a_dataset_without_data_has_no_package(world: World) -> None:
    make_dataset(world, "empty-table", visibility="open")
    with pytest.raises(NotFound, match="no data yet"):
        data_package(world.site, actor(world, "anonymous"), "empty-table", BASE)


def test_a_sensor_dataset_has_a_resource_per_stream(world: World) -> None:
    package = data_package(world.site, actor(world, "outsider"), "shared-air", BASE)
    stream = world.streams["shared"]
    (resource,) = package["resources"]
    assert resource["name"] == f"stream-{stream}"
    assert resource["path"].endswith(f"/api/v1/streams/{stream}/observations?_format=csv")
    schema = resource["schema"]
    assert schema["primaryKey"] == ["time"]
    value = next(field for field in schema["fields"] if field["name"] == "value")
    assert value == {"name": "value", "type": "number", "description": "no2 (µg/m³)"}


def test_a_sensor_dataset_without_streams_has_no_package(world: World) -> None:
    make_dataset(world, "quiet-air", visibility="open", kind="sensor")
    with pytest.raises(NotFound, match="no streams"):
        data_package(world.site, actor(world, "anonymous"), "quiet-air", BASE)


@pytest.mark.parametrize("name", ["open-counts", "open-air"])
def test_the_descriptor_is_a_valid_data_package(world: World, name: str) -> None:
    package = data_package(world.site, actor(world, "anonymous"), name, BASE)
    report = frictionless.Package.validate_descriptor(package)
    assert report.valid, [error.message for error in report.errors]
