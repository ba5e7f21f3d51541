"""catalogue.metadata and catalogue.names: the checks every dataset's metadata passes
(pure functions: no store)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cityshare import names
from cityshare.catalogue import metadata
from cityshare.errors import BadRequest


def test_clean_metadata_returns_storable_columns() -> None:
    cleaned = metadata.clean_metadata(
        {
            "title": "  Bus stops ",
            "description": None,
            "tags": ["transport", "transport ", " buses"],
            "temporal": {"start": "2024-01-01T00:00:00Z", "end": None},
            "licence": None,
        }
    )
    assert cleaned == {
        "title": "Bus stops",
        "description": "",
        "tags": ["transport", "buses"],
        "temporal_start": "2024-01-01T00:00:00Z",
        "temporal_end": None,
        "licence": None,
    }


def test_a_long_description_is_cut_not_refused() -> None:
    cleaned = metadata.clean_metadata({"description": "d" * 100_001})
    assert len(cleaned["description"]) == 100_000


@pytest.mark.parametrize(
    "tags",
    [[""], ["   "], ["x" * 101], [f"t{n}" for n in range(metadata.MAX_TAGS + 1)]],
)
def test_bad_tags_are_refused(tags: list[str]) -> None:
    with pytest.raises(BadRequest) as refused:
        metadata.check_tags(tags)
    assert refused.value.extra["parameter"] == "tags"


def test_fifty_tags_of_a_hundred_characters_are_accepted() -> None:
    tags = [f"{n:02d}" + "x" * 98 for n in range(metadata.MAX_TAGS)]
    assert metadata.check_tags(tags) == tags


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point"},
        {"type": "Feature", "coordinates": [1, 2]},
        {"type": "Point", "coordinates": [1]},
        {"type": "Point", "coordinates": [math.nan, 2]},
        {"type": "Point", "coordinates": [math.inf, 2]},
        {"type": "Point", "coordinates": [10, 91]},
        {"type": "Point", "coordinates": []},
        {"type": "Point", "coordinates": "1,2"},
        {"type": "Polygon", "coordinates": [[[[[[1, 2]]]]]]},
    ],
)
def test_a_bad_spatial_geometry_is_refused(geometry: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as refused:
        metadata.check_spatial(geometry)
    assert refused.value.extra["parameter"] == "spatial"


def test_a_spatial_geometry_keeps_only_its_type_and_coordinates() -> None:
    ring = [[-1.6, 53.7], [-1.5, 53.7], [-1.5, 53.8], [-1.6, 53.7]]
    given = {"type": "Polygon", "coordinates": [ring], "properties": {"x": 1}, "bbox": [0, 0]}
    assert metadata.check_spatial(given) == {"type": "Polygon", "coordinates": [ring]}


def test_a_geometry_of_too_many_positions_is_refused() -> None:
    line = [[0.0, 0.0]] * 10_001
    with pytest.raises(BadRequest, match="too many positions"):
        metadata.check_spatial({"type": "LineString", "coordinates": line})


@pytest.mark.parametrize(
    ("start", "end"), [("2024-02-01", "2024-01-31"), ("2024-13-01", None), (None, "soon")]
)
def test_a_bad_temporal_range_is_refused(start: str | None, end: str | None) -> None:
    with pytest.raises(BadRequest) as refused:
        metadata.check_temporal(start, end)
    assert refused.value.extra["parameter"] == "temporal"


def test_a_temporal_range_of_one_day_is_accepted() -> None:
    assert metadata.check_temporal("2024-01-01", "2024-01-01T23:59:59Z") == (
        "2024-01-01",
        "2024-01-01T23:59:59Z",
    )


def test_every_documented_update_frequency_is_known() -> None:
    for frequency in metadata.UPDATE_FREQUENCIES:
        assert metadata.check_update_frequency(frequency) == frequency
    assert metadata.check_update_frequency(None) is None
    with pytest.raises(BadRequest):
        metadata.check_update_frequency("Daily")


@pytest.mark.parametrize("value", ["a", "a1", "bus-stops", "1-2-3", "x" * 100])
def test_good_slugs(value: str) -> None:
    assert names.check_slug(value, "dataset") == value


@pytest.mark.parametrize("value", ["alice", "a.b_c-d", "x" * 64])
def test_good_usernames(value: str) -> None:
    assert names.check_username(value) == value


@pytest.mark.parametrize("value", ["", "Alice", ".alice", "alice.", "x" * 65, "al ice"])
def test_bad_usernames(value: str) -> None:
    with pytest.raises(BadRequest) as refused:
        names.check_username(value)
    assert refused.value.extra["parameter"] == "username"


def test_a_refused_name_is_shown_shortened() -> None:
    with pytest.raises(BadRequest) as refused:
        names.check_slug("X" * 10_000, "dataset")
    assert len(refused.value.detail) < 300
