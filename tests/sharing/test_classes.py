"""Column classes (cityshare.bounds.classes): checked, made stricter by a schema but never
looser, carried over a new version only by the publisher's decision."""

from __future__ import annotations

from typing import Any

import pytest

from cityshare.bounds.classes import (
    annotated_schema,
    carried_classes,
    checked_carry,
    checked_classes,
    class_of,
    public_columns,
    stricter_from_schema,
)
from cityshare.errors import BadRequest, Conflict

CLASSES = {"plate": "personal", "owner": "sensitive", "cars": "public"}


def schema(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"fields": list(fields)}


def test_unclassified_columns_are_public() -> None:
    assert [class_of(CLASSES, name) for name in ("plate", "owner", "cars", "new")] == [
        "personal",
        "sensitive",
        "public",
        "public",
    ]
    assert class_of(None, "plate") == "public"
    assert public_columns(["junction", "plate", "cars", "owner"], CLASSES) == ["junction", "cars"]
    assert public_columns(["plate"], None) == ["plate"]


def test_checked_classes_keep_good_entries() -> None:
    assert checked_classes({"plate": "personal", "cars": "public"}) == {
        "plate": "personal",
        "cars": "public",
    }
    assert checked_classes({}) == {}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"plate": "secret"}, id="unknown-class"),
        pytest.param({"plate": None}, id="no-class"),
        pytest.param({"": "personal"}, id="empty-name"),
        pytest.param({"x" * 301: "personal"}, id="long-name"),
        pytest.param({3: "personal"}, id="name-not-text"),
        pytest.param({f"c{n}": "public" for n in range(10_001)}, id="too-many"),
    ],
)
def test_bad_classes_are_refused(changes: dict[Any, Any]) -> None:
    with pytest.raises(BadRequest) as refused:
        checked_classes(changes)
    assert refused.value.extra["parameter"] == "column_classes"


def test_a_schema_makes_columns_stricter_never_looser() -> None:
    current = {"plate": "sensitive"}
    uploaded = schema(
        {"name": "plate", "classification": "public"},  # ignored: looser
        {"name": "owner", "classification": "personal"},
        {"name": "cars"},
    )
    assert stricter_from_schema(current, uploaded) == {"plate": "sensitive", "owner": "personal"}
    assert current == {"plate": "sensitive"}  # the caller's map is not changed
    assert (
        stricter_from_schema(current, schema({"name": "plate", "classification": "personal"}))
        is None
    )
    assert stricter_from_schema(None, schema({"name": "cars"})) is None


def test_a_schema_with_an_unknown_class_is_refused() -> None:
    with pytest.raises(BadRequest) as refused:
        stricter_from_schema({}, schema({"name": "plate", "classification": "private"}))
    assert refused.value.extra["parameter"] == "schema" and "'plate'" in refused.value.detail


def test_a_renamed_classified_column_carries_its_class() -> None:
    before, after = ["junction", "plate", "cars"], ["junction", "registration", "cars"]
    carried = carried_classes(CLASSES, before, after, {"plate": "registration"})
    assert carried == {**CLASSES, "registration": "personal"}  # plate keeps its class too


def test_a_dropped_classified_column_changes_nothing() -> None:
    assert carried_classes(CLASSES, ["junction", "plate"], ["junction"], {"plate": None}) is None
    assert carried_classes(CLASSES, ["cars"], ["speed"], None) is None  # cars is public


def test_a_carried_class_never_lowers_the_new_columns_class() -> None:
    current = {"plate": "personal", "registration": "sensitive"}
    carried = carried_classes(
        current, ["plate", "registration"], ["registration"], {"plate": "registration"}
    )
    assert carried is None


def test_a_missing_classified_column_without_a_decision_is_a_conflict() -> None:
    with pytest.raises(Conflict) as refused:
        carried_classes(CLASSES, ["junction", "plate", "owner"], ["junction", "registration"], {})
    detail = refused.value.detail
    assert "'plate' (personal)" in detail and "'owner' (sensitive)" in detail
    assert '{"plate": "registration"}' in detail  # a guess by position
    assert "Nothing was published" in detail


@pytest.mark.parametrize(
    "carry",
    [
        pytest.param({"cars": None}, id="decision-on-a-public-column"),
        pytest.param({"junction": None}, id="decision-on-a-kept-column"),
        pytest.param({"plate": "nowhere"}, id="to-a-column-the-file-lacks"),
    ],
)
def test_decisions_that_do_not_fit_are_refused(carry: dict[str, str | None]) -> None:
    with pytest.raises(BadRequest) as refused:
        carried_classes(CLASSES, ["junction", "plate", "cars"], ["junction", "registration"], carry)
    assert refused.value.extra["parameter"] == "carry_classes"


def test_carry_decisions_are_read_from_an_object_or_its_text() -> None:
    assert checked_carry(None) is None and checked_carry("") is None
    assert checked_carry('{"plate": "registration", "owner": null}') == {
        "plate": "registration",
        "owner": None,
    }
    assert checked_carry({"plate": None}) == {"plate": None}


@pytest.mark.parametrize(
    "value",
    ["not json", "[1, 2]", '"plate"', {"plate": 3}, {"plate": ["a"]}, 7],
)
def test_bad_carry_decisions_are_refused(value: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        checked_carry(value)
    assert refused.value.extra["parameter"] == "carry_classes"


def test_an_annotated_schema_names_every_fields_class() -> None:
    original = {
        "fields": [{"name": "plate", "type": "string"}, {"name": "cars"}],
        "primaryKey": "plate",
    }
    annotated = annotated_schema(original, CLASSES)
    assert annotated["fields"] == [
        {"name": "plate", "type": "string", "classification": "personal"},
        {"name": "cars", "classification": "public"},
    ]
    assert annotated["primaryKey"] == "plate"
    assert "classification" not in original["fields"][0]
