"""A given Table Schema: honoured, checked, and bad values named by row, column and value."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from cityshare.config import Limits
from cityshare.errors import BadRequest, InvalidData
from tests.tables.conftest import Load


def schema(*fields: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"fields": [{"name": name, "type": kind} for name, kind in fields], **extra}


def test_given_schema_is_honoured(load: Load) -> None:
    given = schema(("code", "string"), ("n", "number"), ("flag", "boolean"), ("when", "date"))
    loaded = load("code,n,flag,when\n007,1,1,2024-01-31\n8,+2.5,0,\n", schema=given)
    assert loaded.types == {"code": "string", "n": "number", "flag": "boolean", "when": "date"}
    assert loaded.rows == [
        {"code": "007", "n": 1.0, "flag": True, "when": date(2024, 1, 31)},
        {"code": "8", "n": 2.5, "flag": False, "when": None},
    ]
    assert loaded.result.schema["missingValues"] == [""]


def test_lenient_forms_a_schema_allows(load: Load) -> None:
    given = schema(("i", "integer"), ("x", "number"), ("d", "date"), ("t", "datetime"))
    loaded = load(
        "i,x,d,t\n"
        "+5,.5, 2024-01-01 ,2024-01-01T10:00:00.123456789+01:00\n"
        "007,5.,20240102,2024-W01-1\n",
        schema=given,
    )
    assert loaded.rows == [
        {"i": 5, "x": 0.5, "d": date(2024, 1, 1), "t": datetime(2024, 1, 1, 9, 0, 0, 123456)},
        {"i": 7, "x": 5.0, "d": date(2024, 1, 2), "t": datetime(2024, 1, 1)},
    ]


def test_field_options(load: Load) -> None:
    given = {
        "fields": [
            {"name": "ok", "type": "boolean", "trueValues": ["ja"], "falseValues": ["nein"]},
            {"name": "price", "type": "number", "decimalChar": ",", "groupChar": "."},
            {"name": "day", "type": "date", "format": "%d/%m/%Y"},
            {"name": "at", "type": "datetime", "format": "%d.%m.%Y %H:%M %z"},
            {"name": "count", "type": "integer", "groupChar": " "},
        ],
        "missingValues": ["", "n/a"],
    }
    loaded = load(
        "ok;price;day;at;count\n"
        "ja;1.234,5;31/12/2023;01.06.2024 12:00 +0200;1 000\n"
        "nein;n/a;n/a;;n/a\n",
        schema=given,
    )
    assert loaded.rows == [
        {
            "ok": True,
            "price": 1234.5,
            "day": date(2023, 12, 31),
            "at": datetime(2024, 6, 1, 10),
            "count": 1000,
        },
        {"ok": False, "price": None, "day": None, "at": None, "count": None},
    ]
    assert loaded.result.schema["missingValues"] == ["", "n/a"]


def test_geometry_is_an_alias_of_geojson(load: Load) -> None:
    given = schema(("id", "integer"), ("shape", "geometry"))
    loaded = load('id,shape\n1,"{""type"":""Point"",""coordinates"":[1,2]}"\n', schema=given)
    assert loaded.types == {"id": "integer", "shape": "geojson"}
    assert loaded.column("shape.bbox") == [(1.0, 2.0, 1.0, 2.0)]


def test_header_names_may_differ_from_schema_names(load: Load) -> None:
    given = schema(("temperature", "number"), ("station", "string"))
    loaded = load("Temp (°C),Station\n21.5,A\n", schema=given)
    assert loaded.rows == [{"temperature": 21.5, "station": "A"}]


def test_empty_string_kept_when_not_a_missing_value(load: Load) -> None:
    given = schema(("a", "string"), ("b", "string"), missingValues=["-"])
    loaded = load('a,b\n"",-\n', schema=given)
    assert loaded.rows == [{"a": "", "b": None}]
    with pytest.raises(InvalidData, match="missingValues does not allow it"):
        load(
            "a,b\n1,2\n,3\n", schema=schema(("a", "integer"), ("b", "integer"), missingValues=["-"])
        )


@pytest.mark.parametrize(
    ("kind", "bad", "reason"),
    [
        ("integer", "12.5", "is not an integer"),
        ("integer", "99999999999999999999", "is out of the 64-bit integer range"),
        ("number", "abc", "is not a number"),
        ("number", "NaN", "is not a number"),
        ("number", "1e999", "is not a finite number"),
        ("boolean", "yes", "is not a boolean"),
        ("date", "2023-02-29", "is not a date"),
        ("date", "2024-01-01T10:00:00", "is a datetime, not a date"),
        ("datetime", "yesterday", "is not an ISO 8601 datetime"),
        ("geojson", '{"type": "Point", "coordinates": [1]}', "is not a valid GeoJSON geometry"),
    ],
)
def test_value_that_does_not_fit_names_row_column_and_value(
    load: Load, kind: str, bad: str, reason: str
) -> None:
    good = {"integer": "1", "number": "1", "boolean": "true", "date": "2024-01-01"}.get(kind, "")
    cell = '"' + bad.replace('"', '""') + '"'
    text = "id,value\n" + "".join(f"{i},{good}\n" for i in range(1, 2501)) + f"2501,{cell}\n"
    with pytest.raises(InvalidData) as caught:
        load(text, schema=schema(("id", "integer"), ("value", kind)))
    error = caught.value
    assert error.extra == {"row": 2501, "column": "value", "value": bad}
    assert f"Row 2501, column 'value': '{bad}' {reason}" in error.detail


def test_long_offending_value_is_cut(load: Load) -> None:
    with pytest.raises(InvalidData) as caught:
        load("n\n" + "x" * 500 + "\n", schema=schema(("n", "integer")))
    assert caught.value.extra["value"] == "x" * 80 + "…"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"fields": "nope"}, "list of fields"),
        ({"fields": [{"name": "a", "type": "object"}]}, "unsupported type 'object'"),
        ({"fields": [{"name": "a"}, {"name": "a"}]}, "names field 'a' twice"),
        ({"fields": [{"name": " ", "type": "string"}]}, "needs a non-empty name"),
        ({"fields": [{"name": "a", "type": "date", "format": "dd/mm"}]}, "strptime pattern"),
        ({"fields": [{"name": "a"}], "missingValues": [1]}, "missingValues"),
        ({"fields": [{"name": "a"}], "x-cityshare-point": {"longitude": "a"}}, "number field"),
        ({"fields": [{"name": f"c{i}"} for i in range(1001)]}, "at most 1000"),
    ],
)
def test_bad_schemas_are_refused(load: Load, given: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        load("a\n1\n", schema=given)
    assert not isinstance(caught.value, InvalidData)


def test_field_count_must_match_the_columns(load: Load) -> None:
    with pytest.raises(InvalidData, match="2 fields but the file has 3 columns"):
        load("a,b,c\n1,2,3\n", schema=schema(("a", "integer"), ("b", "integer")))


def test_same_names_in_another_order_are_refused(load: Load) -> None:
    with pytest.raises(InvalidData, match="another order"):
        load("b,a\n1,2\n", schema=schema(("a", "integer"), ("b", "integer")))


def test_schema_with_too_many_fields_for_the_limit(load: Load) -> None:
    with pytest.raises(BadRequest, match="at most 2"):
        load(
            "a,b,c\n1,2,3\n",
            schema=schema(("a", "string"), ("b", "string"), ("c", "string")),
            limits=Limits(max_columns=2),
        )
