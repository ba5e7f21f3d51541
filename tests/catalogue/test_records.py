"""catalogue.records: versions made from records — published, changed by primary key
and deleted by filters — each a whole new version, refused without leaving a trace."""

from __future__ import annotations

from typing import Any

import pytest

from cityshare.catalogue import datasets, records
from cityshare.errors import BadRequest, Forbidden, NotFound, Unauthorized
from tests.catalogue.support import (
    REFUSED_KINDS,
    actor,
    current_rows,
    last_audit,
    store_state,
    stored_dataset,
    stored_versions,
)
from tests.search.support import grant_to
from tests.world import OWNER, World

BAYS = "parking-bays"
SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "bay", "type": "string"},
        {"name": "spaces", "type": "integer"},
        {"name": "street", "type": "string"},
    ],
    "primaryKey": ["bay"],
}
FIRST = [
    {"bay": "B1", "spaces": 4, "street": "High Street"},
    {"bay": "B2", "spaces": 6, "street": "Mill Lane"},
]


@pytest.fixture
def bays(world: World) -> str:
    """A dataset of parking bays keyed by ``bay``, version 1 published from FIRST."""
    editor = actor(world, "editor")
    datasets.create_dataset(world.site, editor, organisation=OWNER, name=BAYS, visibility="private")
    records.publish_records(world.site, editor, BAYS, records=FIRST, schema=SCHEMA)
    return BAYS


# --- publish_records -----------------------------------------------------------------------


def test_records_are_published_typed_by_their_schema(world: World, bays: str) -> None:
    (version,) = stored_versions(world.site, bays)
    assert (version.number, version.row_count, version.source_name) == (1, 2, "records")
    assert version.schema["primaryKey"] == ["bay"]
    assert current_rows(world.site, bays) == FIRST
    assert last_audit(world.site)["action"] == "dataset.upload"


def test_records_without_a_schema_get_one_inferred(world: World) -> None:
    editor = actor(world, "editor")
    given = [{"stop": "S1", "boardings": 12, "ratio": 0.5}, {"stop": "S2", "boardings": 3}]
    published = records.publish_records(
        world.site, editor, "private-counts", records=given, schema=None
    )
    assert published.number == 2 and published.row_count == 2
    schema = stored_versions(world.site, "private-counts")[-1].schema
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("stop", "string"),
        ("boardings", "integer"),
        ("ratio", "number"),
    ]
    assert current_rows(world.site, "private-counts")[1] == {
        "stop": "S2",
        "boardings": 3,
        "ratio": None,
    }


def test_an_empty_table_needs_a_schema(world: World, bays: str) -> None:
    editor = actor(world, "editor")
    before = store_state(world.site)
    with pytest.raises(BadRequest, match="Give records"):
        records.publish_records(world.site, editor, bays, records=[], schema=None)
    assert store_state(world.site) == before
    published = records.publish_records(world.site, editor, bays, records=[], schema=SCHEMA)
    assert published.row_count == 0 and current_rows(world.site, bays) == []


BAD_RECORDS: list[tuple[list[Any], dict[str, Any] | None, str]] = [
    ([["B3", 2]], SCHEMA, "Record 1 is not an object"),
    ([{"bay": "B3"}, "B4"], SCHEMA, "Record 2 is not an object"),
    ([{"bay": "B3", "colour": "red"}], SCHEMA, "'colour', which is not a field"),
    ([{"bay": "B3"}], {"fields": "bay"}, "list of fields"),
]


def test_bad_records_publish_nothing(world: World, bays: str) -> None:
    editor = actor(world, "editor")
    before = store_state(world.site)
    for given, schema, message in BAD_RECORDS:
        with pytest.raises(BadRequest, match=message):
            records.publish_records(world.site, editor, bays, records=given, schema=schema)
    assert store_state(world.site) == before
    assert list((world.site.settings.data_dir / "uploads").iterdir()) == []  # no spool left


# --- change_records ------------------------------------------------------------------------


def test_upsert_changes_and_adds_rows_by_key(world: World, bays: str) -> None:
    editor = actor(world, "editor")
    changes = [{"bay": "B2", "spaces": 5}, {"bay": "B3", "spaces": 1, "street": "Quay"}]
    changed = records.change_records(world.site, editor, bays, records=changes)
    assert (changed.number, changed.updated, changed.inserted) == (2, 1, 1)
    assert current_rows(world.site, bays) == [
        FIRST[0],
        {"bay": "B2", "spaces": 5, "street": "Mill Lane"},  # fields not given keep their values
        {"bay": "B3", "spaces": 1, "street": "Quay"},
    ]
    assert stored_dataset(world.site, bays).current_version == 2


def test_a_key_given_as_text_finds_an_integer_key(world: World) -> None:
    editor = actor(world, "editor")
    schema = {"fields": [{"name": "id", "type": "integer"}, {"name": "v", "type": "string"}]}
    schema["primaryKey"] = "id"
    given = [{"id": 1, "v": "a"}]
    records.publish_records(world.site, editor, "private-counts", records=given, schema=schema)
    changed = records.change_records(
        world.site, editor, "private-counts", records=[{"id": "1", "v": "b"}], method="update"
    )
    assert changed.updated == 1
    assert current_rows(world.site, "private-counts") == [{"id": 1, "v": "b"}]


BAD_CHANGES: list[tuple[str, list[Any], str]] = [
    ("insert", [{"bay": "B1", "spaces": 9}], "already there"),
    ("insert", [{"bay": "B9"}, {"bay": "B9"}], "already there"),
    ("update", [{"bay": "B9", "spaces": 9}], "No row has the key"),
    ("upsert", [{"spaces": 9}], "lacks a value of the primary key"),
    ("upsert", [{"bay": {"nested": 1}}], "plain value"),
    ("upsert", [{"bay": "B1", "colour": "red"}], "not a field"),
    ("replace", [{"bay": "B1"}], "method must be one of"),
]


def test_bad_changes_publish_nothing(world: World, bays: str) -> None:
    editor = actor(world, "editor")
    before = store_state(world.site)
    for method, given, message in BAD_CHANGES:
        with pytest.raises(BadRequest, match=message):
            records.change_records(world.site, editor, bays, records=given, method=method)
    assert store_state(world.site) == before


def test_without_a_primary_key_only_insert_is_possible(world: World) -> None:
    editor = actor(world, "editor")
    row = {"junction": "J7", "counted_at": "2024-03-05T08:00:00Z", "cars": 1}
    before = store_state(world.site)
    with pytest.raises(BadRequest, match="no primary key"):
        records.change_records(world.site, editor, "private-counts", records=[row])
    assert store_state(world.site) == before
    changed = records.change_records(
        world.site, editor, "private-counts", records=[row], method="insert"
    )
    assert (changed.inserted, changed.row_count) == (1, 4)


# --- delete_records ------------------------------------------------------------------------


def test_delete_records_keeps_the_rows_not_matched(world: World, bays: str) -> None:
    editor = actor(world, "editor")
    deleted = records.delete_records(world.site, editor, bays, filters={"bay": ["B2", "B7"]})
    assert (deleted.number, deleted.deleted, deleted.row_count) == (2, 1, 1)
    assert current_rows(world.site, bays) == [FIRST[0]]
    emptied = records.delete_records(world.site, editor, bays, filters=None)
    assert (emptied.deleted, emptied.row_count) == (1, 0)
    assert [v.row_count for v in stored_versions(world.site, bays)] == [2, 1, 0]  # immutable


def test_a_filter_on_an_unknown_field_deletes_nothing(world: World, bays: str) -> None:
    before = store_state(world.site)
    with pytest.raises(BadRequest):
        records.delete_records(world.site, actor(world, "editor"), bays, filters={"colour": "red"})
    assert store_state(world.site) == before


# --- who may ------------------------------------------------------------------------------

REFUSAL = {
    "anonymous": ("open-counts", Unauthorized),
    "outsider": ("shared-counts", Forbidden),
    "member": ("private-counts", Forbidden),
    "readonly": ("private-counts", Forbidden),
}
ROW = {"junction": "J7", "counted_at": "2024-03-05T08:00:00Z", "cars": 1}


@pytest.mark.parametrize("kind", REFUSED_KINDS)
def test_those_below_editor_may_not_change_records(world: World, kind: str) -> None:
    name, error = REFUSAL[kind]
    who = actor(world, kind)
    before = store_state(world.site)
    with pytest.raises(error):
        records.publish_records(world.site, who, name, records=[ROW], schema=None)
    with pytest.raises(error):
        records.change_records(world.site, who, name, records=[ROW], method="insert")
    with pytest.raises(error):
        records.delete_records(world.site, who, name, filters=None)
    assert store_state(world.site) == before


def test_an_outsider_changing_a_private_dataset_finds_nothing(world: World) -> None:
    before = store_state(world.site)
    with pytest.raises(NotFound):
        records.delete_records(world.site, actor(world, "outsider"), "private-counts", filters=None)
    assert store_state(world.site) == before


def test_a_write_grantee_publishes_records_but_changes_no_rows(world: World) -> None:
    writer = grant_to(
        world, "shared-counts", "writer", permissions=["read", "write"], columns=["junction"]
    )
    before = store_state(world.site)
    with pytest.raises(Forbidden, match="rewrites the whole table"):
        records.change_records(world.site, writer, "shared-counts", records=[ROW], method="insert")
    with pytest.raises(Forbidden):
        records.delete_records(world.site, writer, "shared-counts", filters=None)
    assert store_state(world.site) == before
    published = records.publish_records(
        world.site, writer, "shared-counts", records=[ROW], schema=None
    )
    assert published.number == 2 and published.row_count == 1
