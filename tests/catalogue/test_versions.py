"""catalogue.versions: publishing a file as a new version, all or nothing, and listing
and describing versions within the reader's bounds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cityshare.catalogue import datasets, versions
from cityshare.errors import (
    Conflict,
    Forbidden,
    InvalidData,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from tests.catalogue.support import (
    REFUSED_KINDS,
    actor,
    last_audit,
    store_state,
    stored_dataset,
    stored_versions,
    write_file,
)
from tests.world import SAMPLE_CSV, World

CSV_V2 = "junction,counted_at,cars\nJ9,2024-03-05T08:00:00Z,7\nJ8,2024-03-05T09:00:00Z,9\n"
FIGURES = {"row_count", "byte_size", "sha256"}


def publish(world: World, who: str, name: str, path: Path, **options: object) -> dict[str, object]:
    """Publish ``path`` (CSV) as a new version of ``name`` as actor ``who``."""
    return versions.publish_version(
        world.site, actor(world, who), name, source=path, media_type="text/csv", **options
    )


# --- publish_version -----------------------------------------------------------------------


def test_an_editor_publishes_a_new_current_version(world: World, tmp_path: Path) -> None:
    path = write_file(tmp_path, "v2.csv", CSV_V2)
    published = publish(world, "editor", "private-counts", path, source_name="counts-v2.csv")
    assert published.number == 2 and published.row_count == 2
    assert published.sha256 == hashlib.sha256(CSV_V2.encode()).hexdigest()
    assert published.byte_size == len(CSV_V2.encode())
    assert published.source_name == "counts-v2.csv"
    assert stored_dataset(world.site, "private-counts").current_version == 2
    stored = stored_versions(world.site, "private-counts")
    assert [row.number for row in stored] == [1, 2]  # version 1 stays
    assert [field["name"] for field in stored[1].schema["fields"]] == [
        "junction",
        "counted_at",
        "cars",
    ]
    entry = last_audit(world.site)
    assert entry["action"] == "dataset.upload"
    assert entry["detail"]["version"] == 2 and entry["detail"]["rows"] == 2


def test_the_first_version_of_a_new_dataset_is_number_one(world: World, tmp_path: Path) -> None:
    datasets.create_dataset(world.site, actor(world, "editor"), organisation="city", name="fresh")
    published = publish(world, "editor", "fresh", write_file(tmp_path, "a.csv", SAMPLE_CSV))
    assert published.number == 1 and published.row_count == 3
    assert stored_dataset(world.site, "fresh").current_version == 1


REFUSAL_OF_UPLOAD = {
    "anonymous": ("open-counts", Unauthorized),
    "outsider": ("shared-counts", Forbidden),
    "member": ("private-counts", Forbidden),
    "readonly": ("private-counts", Forbidden),
}


@pytest.mark.parametrize("kind", REFUSED_KINDS)
def test_those_below_editor_may_not_publish(world: World, tmp_path: Path, kind: str) -> None:
    name, error = REFUSAL_OF_UPLOAD[kind]
    path = write_file(tmp_path, "v2.csv", CSV_V2)
    before = store_state(world.site)
    with pytest.raises(error):
        publish(world, kind, name, path)
    assert store_state(world.site) == before


def test_an_outsider_publishing_to_a_private_dataset_finds_nothing(
    world: World, tmp_path: Path
) -> None:
    before = store_state(world.site)
    with pytest.raises(NotFound):
        publish(world, "outsider", "private-counts", write_file(tmp_path, "v2.csv", CSV_V2))
    assert store_state(world.site) == before


BAD_FILES = {
    "duplicate header": ("junction,cars,cars\nJ1,1,2\n", "Duplicate column"),
    "unnamed column": ("junction,,cars\nJ1,1,2\n", "no name"),
    "empty file": ("", "empty"),
    "blank lines only": ("\n\n", "empty"),
    "ragged row": ("junction,cars\nJ1,1,2\n", "has 3 cells"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_leaves_the_current_version(world: World, tmp_path: Path, case: str) -> None:
    text, message = BAD_FILES[case]
    before = store_state(world.site)
    with pytest.raises(InvalidData, match=message):
        publish(world, "editor", "open-counts", write_file(tmp_path, "bad.csv", text))
    assert store_state(world.site) == before  # no version row, no table left behind


def test_a_ragged_row_is_located(world: World, tmp_path: Path) -> None:
    path = write_file(tmp_path, "bad.csv", "junction,cars\nJ1,1\nJ2,2,3\n")
    with pytest.raises(InvalidData) as refused:
        publish(world, "editor", "open-counts", path)
    assert refused.value.extra == {"row": 2, "line": 3, "cells": 3, "columns": 2}


def test_a_value_that_does_not_fit_the_schema_is_refused(world: World, tmp_path: Path) -> None:
    schema = {
        "fields": [{"name": "junction", "type": "string"}, {"name": "cars", "type": "integer"}]
    }
    path = write_file(tmp_path, "typed.csv", "junction,cars\nJ1,12\nJ2,many\n")
    before = store_state(world.site)
    with pytest.raises(InvalidData) as refused:
        publish(world, "editor", "open-counts", path, schema=schema)
    assert refused.value.extra["column"] == "cars" and refused.value.extra["value"] == "many"
    assert store_state(world.site) == before


def test_a_given_schema_types_the_columns(world: World, tmp_path: Path) -> None:
    schema = {
        "fields": [{"name": "junction", "type": "string"}, {"name": "cars", "type": "string"}]
    }
    path = write_file(tmp_path, "typed.csv", "junction,cars\nJ1,0012\n")
    publish(world, "editor", "open-counts", path, schema=schema)
    stored = stored_versions(world.site, "open-counts")[-1].schema
    assert [(f["name"], f["type"]) for f in stored["fields"]] == [
        ("junction", "string"),
        ("cars", "string"),
    ]


def test_an_unsupported_format_is_refused(world: World, tmp_path: Path) -> None:
    before = store_state(world.site)
    with pytest.raises(UnsupportedMediaType):
        versions.publish_version(
            world.site,
            actor(world, "editor"),
            "open-counts",
            source=write_file(tmp_path, "a.pdf", "%PDF-1.4"),
            media_type="application/pdf",
        )
    assert store_state(world.site) == before


def test_files_go_to_datasets_of_tables_only(world: World, tmp_path: Path) -> None:
    before = store_state(world.site)
    with pytest.raises(Conflict, match="sensor"):
        publish(world, "editor", "open-air", write_file(tmp_path, "a.csv", SAMPLE_CSV))
    assert store_state(world.site) == before


def test_a_change_based_on_an_old_version_is_a_conflict(world: World, tmp_path: Path) -> None:
    publish(world, "editor", "open-counts", write_file(tmp_path, "v2.csv", CSV_V2))
    before = store_state(world.site)
    with pytest.raises(Conflict, match="Version 2"):
        publish(world, "editor", "open-counts", write_file(tmp_path, "v3.csv", CSV_V2), based_on=1)
    assert store_state(world.site) == before
    third = publish(
        world, "editor", "open-counts", write_file(tmp_path, "v3.csv", CSV_V2), based_on=2
    )
    assert third.number == 3


def test_a_classified_column_dropped_without_a_decision_is_a_conflict(
    world: World, tmp_path: Path
) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(
        world.site, admin, "open-counts", {"column_classes": {"note": "personal"}}
    )
    path = write_file(tmp_path, "v2.csv", CSV_V2)  # lacks the personal column "note"
    before = store_state(world.site)
    with pytest.raises(Conflict, match="'note' \\(personal\\)"):
        publish(world, "admin", "open-counts", path)
    assert store_state(world.site) == before
    published = publish(world, "admin", "open-counts", path, carry_classes={"note": None})
    assert published.number == 2
    assert last_audit(world.site)["detail"]["carry_classes"] == {"note": None}


# --- list_versions and get_version ---------------------------------------------------------


def test_versions_are_listed_newest_first_with_figures_for_owners(
    world: World, tmp_path: Path
) -> None:
    publish(world, "editor", "shared-counts", write_file(tmp_path, "v2.csv", CSV_V2))
    listed = versions.list_versions(world.site, actor(world, "member"), "shared-counts")
    assert [version.number for version in listed] == [2, 1]
    assert [version.row_count for version in listed] == [2, 3]
    assert all(version.model_fields_set >= FIGURES for version in listed)
    assert all("schema" not in version.model_dump(by_alias=True) for version in listed)


def test_who_sees_the_whole_table_figures(world: World) -> None:
    """Readers of every row and column (an open dataset) see them; one who may see a
    shared dataset but not read its data sees none."""
    anonymous = versions.list_versions(world.site, actor(world, "anonymous"), "open-counts")
    assert anonymous[0].model_fields_set >= FIGURES
    outsider = versions.get_version(world.site, actor(world, "outsider"), "shared-counts", 1)
    assert not FIGURES & outsider.model_fields_set
    assert next(field.name for field in outsider.schema_.fields) == "junction"


def test_the_public_do_not_see_a_personal_column(world: World) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(
        world.site, admin, "open-counts", {"column_classes": {"note": "personal"}}
    )
    public = versions.get_version(world.site, actor(world, "anonymous"), "open-counts", None)
    owned = versions.get_version(world.site, actor(world, "member"), "open-counts", None)
    assert "note" not in [field.name for field in public.schema_.fields]
    # rows yes, the file no
    assert "byte_size" not in public.model_fields_set and public.row_count == 3
    assert {
        "name": "note",
        "type": "string",
        "classification": "personal",
    } in owned.schema_.document()["fields"]


def test_get_version_defaults_to_the_current_one(world: World, tmp_path: Path) -> None:
    publish(world, "editor", "open-counts", write_file(tmp_path, "v2.csv", CSV_V2))
    editor = actor(world, "editor")
    assert versions.get_version(world.site, editor, "open-counts", None).number == 2
    first = versions.get_version(world.site, editor, "open-counts", 1)
    assert first.number == 1 and first.row_count == 3


@pytest.mark.parametrize("number", [0, 2, 99, -1])
def test_a_version_that_does_not_exist_is_not_found(world: World, number: int) -> None:
    with pytest.raises(NotFound):
        versions.get_version(world.site, actor(world, "admin"), "open-counts", number)


def test_a_dataset_without_data_has_no_current_version(world: World) -> None:
    datasets.create_dataset(world.site, actor(world, "editor"), organisation="city", name="fresh")
    editor = actor(world, "editor")
    assert versions.list_versions(world.site, editor, "fresh") == []
    with pytest.raises(NotFound, match="no data yet"):
        versions.get_version(world.site, editor, "fresh", None)


@pytest.mark.parametrize("kind", ["anonymous", "outsider"])
def test_the_versions_of_a_private_dataset_are_invisible(world: World, kind: str) -> None:
    reader = actor(world, kind)
    with pytest.raises(NotFound):
        versions.list_versions(world.site, reader, "private-counts")
    with pytest.raises(NotFound):
        versions.get_version(world.site, reader, "private-counts", 1)
