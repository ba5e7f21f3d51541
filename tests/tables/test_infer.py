"""Schema inference over the whole file, and the exact values it stores."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from cityshare.tables import load as load_module
from cityshare.tables.model import POINT_PROPERTY
from tests.tables.conftest import Load


def column_file(name: str, values: list[str]) -> str:
    return name + "\n" + "".join(value + "\n" for value in values)


@pytest.mark.parametrize(
    ("last", "expected_type", "expected_last"),
    [("4", "integer", 4), ("3.5", "number", 3.5), ("abc", "string", "abc")],
)
def test_inference_reads_the_whole_file(
    load: Load, last: str, expected_type: str, expected_last: object
) -> None:
    loaded = load(column_file("v", [str(i) for i in range(10_000)] + [last]))
    assert loaded.types == {"v": expected_type}
    assert loaded.column("v")[-1] == expected_last
    expected_first = "0" if expected_type == "string" else 0
    assert loaded.column("v")[0] == expected_first


@pytest.mark.parametrize("guess_rows", [100, 5_000])
def test_a_type_widened_after_the_guess_reloads_everything(
    load: Load, monkeypatch: pytest.MonkeyPatch, guess_rows: int
) -> None:
    monkeypatch.setattr(load_module, "GUESS_ROWS", guess_rows)
    values = [str(i) for i in range(12_000)] + ["3.5"] + [str(i) for i in range(100)]
    loaded = load("id,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    assert loaded.types == {"id": "integer", "v": "number"}
    assert loaded.result.row_count == len(values)
    assert loaded.column("v") == [float(v) for v in values]
    assert all(isinstance(v, float) for v in loaded.column("v"))


def test_a_column_empty_during_the_guess(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "GUESS_ROWS", 10)
    loaded = load("a,b\n" + "1,\n" * 5_000 + "2,2024-05-01\n")
    assert loaded.types == {"a": "integer", "b": "date"}
    assert loaded.column("b")[-2:] == [None, date(2024, 5, 1)]


def test_leading_zeros_plus_signs_and_separators_stay_text(load: Load) -> None:
    loaded = load("zip,phone,big\n007,+4930123,1_000\n10115,+4940,2\n")
    assert loaded.types == {"zip": "string", "phone": "string", "big": "string"}
    assert loaded.column("zip") == ["007", "10115"]


def test_zero_and_negative_numbers_are_numbers(load: Load) -> None:
    loaded = load("i,x\n0,0.5\n-12,-.25\n3,1e3\n")
    assert loaded.types == {"i": "integer", "x": "number"}
    assert loaded.column("x") == [0.5, -0.25, 1000.0]


def test_integers_beyond_64_bits_become_numbers(load: Load) -> None:
    loaded = load("n\n1\n9223372036854775807\n")
    assert loaded.types == {"n": "integer"}
    assert loaded.column("n") == [1, 9223372036854775807]
    wide = load("n\n1\n9223372036854775808\n-9223372036854775809\n")
    assert wide.types == {"n": "number"}
    assert wide.column("n") == [1.0, 9.223372036854775808e18, -9.223372036854775809e18]


def test_non_finite_and_odd_numbers_are_text(load: Load) -> None:
    loaded = load("a,b,c\nNaN,1e999,0x10\n1,2,3\n")
    assert loaded.types == {"a": "string", "b": "string", "c": "string"}


def test_booleans(load: Load) -> None:
    loaded = load("a,b,c\ntrue,TRUE,1\nfalse,False,0\n,,\n")
    assert loaded.types == {"a": "boolean", "b": "boolean", "c": "integer"}
    assert loaded.column("a") == [True, False, None]
    assert loaded.column("b") == [True, False, None]


def test_dates_and_datetimes(load: Load) -> None:
    loaded = load(
        "d,t,mixed\n"
        "2024-02-29,2024-02-29T10:30:00,2024-01-01\n"
        "1999-12-31,2024-03-01 00:00:01.250,2024-01-02T08:00:00\n"
    )
    assert loaded.types == {"d": "date", "t": "datetime", "mixed": "datetime"}
    assert loaded.column("d") == [date(2024, 2, 29), date(1999, 12, 31)]
    assert loaded.column("t") == [
        datetime(2024, 2, 29, 10, 30),
        datetime(2024, 3, 1, 0, 0, 1, 250000),
    ]
    assert loaded.column("mixed") == [datetime(2024, 1, 1), datetime(2024, 1, 2, 8)]


def test_invalid_dates_are_text(load: Load) -> None:
    loaded = load("d\n2023-02-29\n2024-01-01\n")
    assert loaded.types == {"d": "string"}


def test_datetimes_with_offsets_are_stored_in_utc(load: Load) -> None:
    loaded = load(
        "t\n"
        "2024-06-01T12:00:00+02:00\n"
        "2024-06-01T12:00:00Z\n"
        "2024-06-01T12:00:00\n"
        "2024-01-01T00:30:00-05:30\n"
    )
    assert loaded.types == {"t": "datetime"}
    assert loaded.column("t") == [
        datetime(2024, 6, 1, 10),
        datetime(2024, 6, 1, 12),
        datetime(2024, 6, 1, 12),
        datetime(2024, 1, 1, 6),
    ]


def test_utc_suffix_only_column(load: Load) -> None:
    loaded = load("t\n2024-06-01T12:00:00Z\n2024-06-01T23:59:59Z\n")
    assert loaded.column("t") == [datetime(2024, 6, 1, 12), datetime(2024, 6, 1, 23, 59, 59)]


def test_empty_column_is_a_string_and_schema_records_missing_values(load: Load) -> None:
    loaded = load("a,b\n1,\n2,\n")
    assert loaded.types == {"a": "integer", "b": "string"}
    assert loaded.result.schema["missingValues"] == [""]
    assert loaded.column("b") == [None, None]


def test_point_from_longitude_and_latitude(load: Load) -> None:
    loaded = load("name,Longitude,lat\na,4.35,50.85\nb,-73.98,40.75\nc,,\n")
    assert loaded.result.schema[POINT_PROPERTY] == {"longitude": "Longitude", "latitude": "lat"}


@pytest.mark.parametrize(
    "text",
    [
        "lon,lat\n4.35,95.0\n",  # latitude out of range
        "lon,lat\n4.35,x\n",  # not a number
        "x,y\n4.35,50.85\n",  # not named like coordinates
    ],
)
def test_no_point_without_coordinates_in_range(load: Load, text: str) -> None:
    assert POINT_PROPERTY not in load(text).result.schema


def test_geojson_text_column_in_csv(load: Load) -> None:
    loaded = load('id,shape\n1,"{""type"":""Point"",""coordinates"":[4.35,50.85]}"\n2,\n')
    assert loaded.types == {"id": "integer", "shape": "geojson"}
    assert loaded.column("shape") == ['{"type":"Point","coordinates":[4.35,50.85]}', None]
    assert loaded.column("shape.bbox") == [(4.35, 50.85, 4.35, 50.85), (None, None, None, None)]


def test_floats_are_stored_exactly(load: Load) -> None:
    values = ["90.059666", "63.313917", "0.1", "1e-300", "123456789.123456789", "-0.0"]
    loaded = load(column_file("x", values))
    assert loaded.column("x") == [float(v) for v in values]
