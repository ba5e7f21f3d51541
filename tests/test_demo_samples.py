"""Tests for the deterministic demo sample datasets (``cityshare.demo.samples``)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from cityshare.demo.samples import (
    BBOX,
    COLUMNS,
    ORGANISATIONS,
    SAMPLES,
    SampleDataset,
    write_samples,
)

SMALL = 0.05
FULL_COUNTS = {
    "traffic-counts": 12 * 60 * 24,
    "air-quality": 8 * 30 * 24,
    "bike-share-stations": 120,
    "car-parks": 40,
    "street-lighting-faults": 2000,
    "council-staff-directory": 150,
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV file as dicts, or the feature properties of a GeoJSON file."""
    if path.suffix == ".geojson":
        collection = json.loads(path.read_text(encoding="utf-8"))
        return [feature["properties"] for feature in collection["features"]]
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def by_name(written: list[tuple[SampleDataset, Path]]) -> dict[str, Path]:
    return {sample.name: path for sample, path in written}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[SampleDataset, Path]]:
    return write_samples(tmp_path_factory.mktemp("small"), scale=SMALL)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    written = write_samples(tmp_path_factory.mktemp("full"))
    return {sample.name: read_rows(path) for sample, path in written}


def test_every_sample_is_written_once(small: list[tuple[SampleDataset, Path]]) -> None:
    assert [sample for sample, _ in small] == list(SAMPLES)
    for sample, path in small:
        assert path.name == sample.filename
        assert path.is_file() and path.stat().st_size > 0


def test_csv_files_parse_with_declared_columns(small: list[tuple[SampleDataset, Path]]) -> None:
    for sample, path in small:
        if sample.media_type != "text/csv":
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert tuple(reader.fieldnames or ()) == COLUMNS[sample.name], sample.name
        assert len(rows) >= 10, sample.name
        assert all(None not in row and len(row) == len(COLUMNS[sample.name]) for row in rows)


def test_geojson_is_a_point_feature_collection(small: list[tuple[SampleDataset, Path]]) -> None:
    path = by_name(small)["bike-share-stations"]
    collection = json.loads(path.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) >= 10
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        assert tuple(feature["properties"]) == COLUMNS["bike-share-stations"]
        props = feature["properties"]
        assert isinstance(props["is_operational"], bool)
        assert 0 <= props["e_bikes_available"] <= props["bikes_available"] <= props["capacity"]
    ids = [feature["properties"]["station_id"] for feature in collection["features"]]
    assert len(set(ids)) == len(ids)


def test_two_runs_are_byte_identical(tmp_path: Path) -> None:
    first = write_samples(tmp_path / "one", scale=SMALL)
    second = write_samples(tmp_path / "two", scale=SMALL)
    for (_, a), (_, b) in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_row_counts_scale(tmp_path: Path, full: dict[str, list[dict[str, Any]]]) -> None:
    def counts(scale: float) -> dict[str, int]:
        written = write_samples(tmp_path / str(scale), scale=scale)
        return {sample.name: len(read_rows(path)) for sample, path in written}

    tiny, small, half = counts(1e-6), counts(SMALL), counts(0.5)
    for name, expected in FULL_COUNTS.items():
        assert len(full[name]) == expected, name
        assert 10 <= tiny[name] <= small[name] < half[name] < expected, name
        assert tiny[name] < 20, name  # the floor: 10 rows, or whole hours x stations
        assert half[name] == pytest.approx(expected * 0.5, rel=0.02), name
        assert small[name] == pytest.approx(max(10, expected * SMALL), rel=0.05), name


def test_invalid_scale_is_rejected(tmp_path: Path) -> None:
    for scale in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale"):
            write_samples(tmp_path, scale=scale)


def test_metadata_is_consistent() -> None:
    names = [sample.name for sample in SAMPLES]
    assert len(set(names)) == len(names)
    assert len({sample.filename for sample in SAMPLES}) == len(SAMPLES)
    assert set(COLUMNS) == set(names)
    org_slugs = [slug for slug, _, _ in ORGANISATIONS]
    assert len(set(org_slugs)) == len(org_slugs)
    for sample in SAMPLES:
        assert sample.organisation in org_slugs
        assert sample.licence in {"CC-BY-4.0", "OGL-UK-3.0", "ODbL-1.0"}
        assert "Northbridge" in sample.description
        assert 2 <= sample.description.count(". ") + 1 <= 4
        expected_type = (
            "application/geo+json" if sample.filename.endswith(".geojson") else "text/csv"
        )
        assert sample.media_type == expected_type
        if sample.temporal_start and sample.temporal_end:
            assert date.fromisoformat(sample.temporal_start) <= date.fromisoformat(
                sample.temporal_end
            )


def test_visibilities_cover_open_shared_private() -> None:
    assert {sample.visibility for sample in SAMPLES} == {"open", "shared", "private"}
    visibility = {sample.name: sample.visibility for sample in SAMPLES}
    assert visibility["street-lighting-faults"] == "shared"
    assert visibility["council-staff-directory"] == "private"


def test_phone_extensions_keep_leading_zeros(small: list[tuple[SampleDataset, Path]]) -> None:
    path = by_name(small)["council-staff-directory"]
    extensions = [row["phone_extension"] for row in read_rows(path)]
    assert all(len(ext) == 4 and ext.isdigit() for ext in extensions)
    leading = [ext for ext in extensions if ext.startswith("0")]
    assert leading
    raw_lines = path.read_text(encoding="utf-8").splitlines()
    assert any(f",{leading[0]}," in line for line in raw_lines)


def test_coordinates_are_inside_city_bbox(small: list[tuple[SampleDataset, Path]]) -> None:
    min_lon, min_lat, max_lon, max_lat = BBOX
    points: list[tuple[float, float]] = []
    for sample, path in small:
        if sample.name == "bike-share-stations":
            collection = json.loads(path.read_text(encoding="utf-8"))
            points += [tuple(f["geometry"]["coordinates"]) for f in collection["features"]]
        elif "longitude" in COLUMNS[sample.name]:
            points += [(float(r["longitude"]), float(r["latitude"])) for r in read_rows(path)]
        if sample.spatial is not None:
            ring = sample.spatial["coordinates"][0]
            assert {tuple(corner) for corner in ring} == {
                (min_lon, min_lat), (max_lon, min_lat), (max_lon, max_lat), (min_lon, max_lat)
            }  # fmt: skip
    assert len(points) > 100
    assert all(min_lon <= lon <= max_lon and min_lat <= lat <= max_lat for lon, lat in points)


def test_time_series_cover_the_declared_period(full: dict[str, list[dict[str, Any]]]) -> None:
    declared = {sample.name: sample for sample in SAMPLES}
    for name, column in (("traffic-counts", "counted_at"), ("air-quality", "measured_at")):
        stamps = [row[column] for row in full[name]]
        assert all(stamp.endswith("Z") for stamp in stamps)
        days = sorted({datetime.fromisoformat(stamp).date() for stamp in stamps})
        assert days[0].isoformat() == declared[name].temporal_start
        assert days[-1].isoformat() == declared[name].temporal_end


def test_traffic_has_rush_hours_and_weekend_dips(full: dict[str, list[dict[str, Any]]]) -> None:
    totals: Counter[tuple[bool, int]] = Counter()
    for row in full["traffic-counts"]:
        if row["cars"]:
            moment = datetime.fromisoformat(row["counted_at"])
            totals[moment.weekday() < 5, moment.hour] += int(row["cars"])
    weekday_peak = totals[True, 8] / 5
    assert weekday_peak > 5 * totals[True, 3] / 5
    assert weekday_peak > 1.3 * totals[True, 12] / 5
    assert weekday_peak > 1.5 * totals[False, 8] / 2


def test_some_cells_are_empty(full: dict[str, list[dict[str, Any]]]) -> None:
    air = full["air-quality"]
    missing = sum(row[col] == "" for row in air for col in ("no2_ugm3", "pm25_ugm3"))
    assert 0 < missing < 0.05 * len(air)
    assert any(row["cars"] == "" for row in full["traffic-counts"])
    assert any(row["ev_charging_points"] == "" for row in full["car-parks"])


def test_fault_fix_dates_follow_status(full: dict[str, list[dict[str, Any]]]) -> None:
    faults = full["street-lighting-faults"]
    statuses = {row["status"] for row in faults}
    assert {"Open", "Fixed"} <= statuses
    for row in faults:
        if row["status"] == "Fixed":
            assert date.fromisoformat(row["fixed_on"]) >= date.fromisoformat(row["reported_on"])
        else:
            assert row["fixed_on"] == ""
    assert len({row["report_id"] for row in faults}) == len(faults)


def test_staff_emails_and_ids_are_unique(full: dict[str, list[dict[str, Any]]]) -> None:
    staff = full["council-staff-directory"]
    for column in ("staff_id", "email", "phone_extension"):
        values = [row[column] for row in staff]
        assert len(set(values)) == len(values), column
