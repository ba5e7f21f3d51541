"""JSON arrays and NDJSON: union of keys, nested values, depth, streaming, errors."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from cityshare.config import Limits
from cityshare.errors import BadRequest, InvalidData
from cityshare.tables import jsonwindow
from tests.tables.conftest import Load

RECORDS = [
    {"id": 1, "name": "Zoë", "score": 1.5, "ok": True, "at": "2024-05-01T10:00:00+02:00"},
    {"id": 2, "name": None, "score": 2, "ok": False, "extra": {"a": [1, 2]}},
    {"name": "x", "id": 3, "tags": ["a", "b"], "empty": ""},
]


def expected_rows() -> list[dict[str, object]]:
    return [
        {
            "id": 1,
            "name": "Zoë",
            "score": 1.5,
            "ok": True,
            "at": datetime(2024, 5, 1, 8),
            "extra": None,
            "tags": None,
            "empty": None,
        },
        {
            "id": 2,
            "name": None,
            "score": 2.0,
            "ok": False,
            "at": None,
            "extra": '{"a":[1,2]}',
            "tags": None,
            "empty": None,
        },
        {
            "id": 3,
            "name": "x",
            "score": None,
            "ok": None,
            "at": None,
            "extra": None,
            "tags": '["a","b"]',
            "empty": None,
        },
    ]


def test_array_of_objects(load: Load) -> None:
    loaded = load(json.dumps(RECORDS, indent=2), "application/json", suffix=".json")
    assert list(loaded.types) == ["id", "name", "score", "ok", "at", "extra", "tags", "empty"]
    assert loaded.types["extra"] == "string"
    assert loaded.types["at"] == "datetime"
    assert loaded.rows == expected_rows()


@pytest.mark.parametrize(
    "media_type", ["application/x-ndjson", "application/ndjson", "application/json"]
)
def test_newline_delimited_objects(load: Load, media_type: str) -> None:
    text = "\n".join(json.dumps(record) for record in RECORDS) + "\n"
    loaded = load(text, media_type, suffix=".ndjson")
    assert loaded.rows == expected_rows()


def test_big_values_cross_the_window(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonwindow, "CHUNK_CHARS", 64)
    records = [{"id": i, "text": "é" * (i * 37), "n": 10 ** (i % 15)} for i in range(60)]
    loaded = load(json.dumps(records), "application/json")
    assert loaded.column("text") == ["é" * (i * 37) or None for i in range(60)]
    assert loaded.column("n") == [10 ** (i % 15) for i in range(60)]


def test_given_schema_matches_keys_in_any_order(load: Load) -> None:
    schema = {"fields": [{"name": "b", "type": "string"}, {"name": "a", "type": "integer"}]}
    loaded = load('[{"a": 1, "b": "x"}, {"b": "y"}]', "application/json", schema=schema)
    assert loaded.rows == [{"b": "x", "a": 1}, {"b": "y", "a": None}]
    with pytest.raises(InvalidData, match="do not match the file's keys"):
        load('[{"a": 1, "c": 2}]', "application/json", schema=schema)


def test_nesting_deeper_than_the_limit(load: Load) -> None:
    deep = {"id": 1, "v": [[[[["x"]]]]]}
    load(json.dumps([deep]), "application/json", limits=Limits(max_json_depth=8))
    with pytest.raises(InvalidData, match="nested deeper than 6 levels") as caught:
        load(json.dumps([deep]), "application/json", limits=Limits(max_json_depth=6))
    assert caught.value.extra == {"row": 1, "column": "v"}


def test_extreme_nesting_is_refused(load: Load) -> None:
    with pytest.raises(InvalidData, match="nested too deeply"):
        load('[{"a": ' + "[" * 100_000 + "]" * 100_000 + "}]", "application/json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "element 1 is not an object"),
        ('[{"a": 1},]', "line 1: Expecting value"),
        ('{"a": 1}\n{"a": 2\n{"a": 3}\n', "line 2"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ('[{"a": 1}] trailing', "unexpected data after the array"),
        ('[{"a": 1} {"a": 2}]', "expected ',' or ']'"),
        ("[]", "empty"),
        ("   ", "empty"),
        ('"text"', "expected an array of objects"),
        ('{"type": "FeatureCollection", "features": []}', r"application/geo\+json"),
        ('[{"a": "\\u0000"}]', "NUL character"),
        ('[{"a": "\\ud800"}]', "unpaired surrogate"),
        ('[{"a": 1e400}]', "too large"),
        ('[{"": 1}]', "Column 1 has no name"),
    ],
)
def test_invalid_json(load: Load, text: str, message: str) -> None:
    with pytest.raises(InvalidData, match=message):
        load(text, "application/json")


def test_too_many_keys(load: Load) -> None:
    record = {f"k{i}": i for i in range(20)}
    with pytest.raises(BadRequest, match="at most 10"):
        load(json.dumps([record]), "application/json", limits=Limits(max_columns=10))


def test_a_json_value_larger_than_allowed(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityshare.tables import jsonsource

    monkeypatch.setattr(jsonsource, "MAX_VALUE_CHARS", 10_000)
    monkeypatch.setattr(jsonwindow, "CHUNK_CHARS", 1000)
    with pytest.raises(InvalidData, match="longer than 10000 characters"):
        load(json.dumps([{"a": "x" * 50_000}]), "application/json")
