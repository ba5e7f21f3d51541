"""CSV, NDJSON and GeoJSON exports: complete, well-formed, streamed, formula-safe."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from cityshare.query import export_next_cursor, stream_export
from cityshare.query.export import csv_cell, neutralise
from tests.query.data import Dataset, create, expected
from tests.query.helpers import run


def body(dataset: Dataset, params: list[tuple[str, str]]) -> bytes:
    chunks = list(stream_export(dataset.engine, dataset.plan(params)))
    assert all(isinstance(chunk, bytes) and chunk for chunk in chunks)
    return b"".join(chunks)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_neutralise_formula_cells() -> None:
    for text in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"]:
        assert neutralise(text) == "'" + text
    assert neutralise("plain") == "plain"
    assert neutralise("") == ""
    assert csv_cell(-5) == "-5"
    assert csv_cell(-2.5) == "-2.5"
    assert csv_cell("-5") == "'-5"
    assert csv_cell(True) == "true"
    assert csv_cell(None) == ""
    assert csv_cell({"type": "Point"}) == '{"type":"Point"}'


def test_csv_is_complete_and_neutralised(people: Dataset) -> None:
    rows = csv_rows(body(people, [("_format", "csv")]))
    names = [field.name for field in people.version.fields]
    assert rows[0] == names
    assert len(rows) == 1 + len(people.rows)
    want = [[csv_cell(record[name]) for name in names] for record in expected(people, people.rows)]
    assert rows[1:] == want
    cells = {cell for row in rows[1:] for cell in row}
    assert "'=SUM(A1)" in cells and "=SUM(A1)" not in cells
    assert "'-2" in cells and "'@cmd" in cells and "'\tTab" in cells and "'\rCR" in cells
    speeds = [row[1] for row in rows[1:]]
    assert any(value.startswith("-") for value in speeds)  # numbers stay numbers


def test_csv_header_is_neutralised_too(engine: Engine) -> None:
    schema = {"fields": [{"name": "=cmd", "type": "string"}, {"name": "n", "type": "integer"}]}
    dataset = create(engine, "dsv_8", schema, [{"_id": 1, "=cmd": "@x", "n": -3}])
    assert csv_rows(body(dataset, [("_format", "csv")])) == [["'=cmd", "n"], ["'@x", "-3"]]


def test_ndjson_is_complete(people: Dataset) -> None:
    data = body(people, [("_format", "ndjson"), ("_sort", "-ts")])
    lines = data.decode().splitlines()
    assert data.endswith(b"\n")
    json_rows = run(people, [("_sort", "-ts"), ("_limit", "10000")])["rows"]
    assert [orjson.loads(line) for line in lines] == json_rows
    assert len(lines) == 250


def test_geojson_from_points(people: Dataset) -> None:
    data = orjson.loads(body(people, [("_format", "geojson"), ("_fields", "name,lon,lat")]))
    assert data["type"] == "FeatureCollection"
    features = data["features"]
    assert len(features) == 250
    for feature, row in zip(features, people.rows, strict=True):
        assert feature["type"] == "Feature"
        assert feature["properties"] == {"name": row["name"], "lon": row["lon"], "lat": row["lat"]}
        if row["lon"] is None:
            assert feature["geometry"] is None
        else:
            assert feature["geometry"] == {"type": "Point", "coordinates": [row["lon"], row["lat"]]}


def test_geojson_from_geojson_field(geo: Dataset) -> None:
    data = orjson.loads(body(geo, [("_format", "geojson"), ("bbox", "-50,-20,50,20")]))
    features = data["features"]
    want = [row for row in geo.rows if row["shape"] is not None]
    assert len(features) == len(want)
    for feature, row in zip(features, want, strict=True):
        assert feature["geometry"] == row["shape"]
        assert feature["properties"] == {"id": row["id"], "label": row["label"]}


def test_empty_exports_are_well_formed(geo: Dataset) -> None:
    assert orjson.loads(body(geo, [("_format", "geojson"), ("id", "999")])) == {
        "type": "FeatureCollection",
        "features": [],
    }
    assert body(geo, [("_format", "ndjson"), ("id", "999")]) == b""
    assert csv_rows(body(geo, [("_format", "csv"), ("id", "999")])) == [["id", "shape", "label"]]


@pytest.mark.parametrize("output", ["csv", "ndjson", "geojson"])
def test_limited_export_exposes_next_cursor(people: Dataset, output: str) -> None:
    params = [("_format", output), ("_sort", "name,-speed"), ("_limit", "100")]
    plan = people.plan(params)
    cursor = export_next_cursor(people.engine, plan)
    assert cursor == run(people, [("_sort", "name,-speed"), ("_limit", "100")])["next"]
    collected: list[Any] = []
    cursor = None
    while True:
        page = [*params, *([("_next", cursor)] if cursor else [])]
        data = body(people, page)
        if output == "csv":
            collected.extend(csv_rows(data)[1:])
        elif output == "ndjson":
            collected.extend(orjson.loads(line) for line in data.splitlines())
        else:
            collected.extend(orjson.loads(data)["features"])
        cursor = export_next_cursor(people.engine, people.plan(page))
        if cursor is None:
            break
    assert len(collected) == 250
    whole = body(people, [("_format", output), ("_sort", "name,-speed")])
    if output == "csv":
        assert collected == csv_rows(whole)[1:]
    elif output == "ndjson":
        assert collected == [orjson.loads(line) for line in whole.splitlines()]
    else:
        assert collected == orjson.loads(whole)["features"]


def test_unlimited_export_has_no_next(people: Dataset) -> None:
    assert export_next_cursor(people.engine, people.plan([("_format", "csv")])) is None
    assert (
        export_next_cursor(people.engine, people.plan([("_format", "csv"), ("_limit", "250")]))
        is None
    )


def test_large_export_streams_in_chunks_and_releases_its_connection(engine: Engine) -> None:
    schema = {"fields": [{"name": "n", "type": "integer"}, {"name": "text", "type": "string"}]}
    rows = [{"_id": i, "n": i, "text": f"row {i} " + "x" * 60} for i in range(1, 6001)]
    dataset = create(engine, "dsv_7", schema, rows)
    chunks = list(stream_export(engine, dataset.plan([("_format", "csv")])))
    assert len(chunks) > 3
    parsed = csv_rows(b"".join(chunks))
    assert len(parsed) == 6001 and parsed[-1][0] == "6000"
    stream = stream_export(engine, dataset.plan([("_format", "ndjson")]))
    first = next(stream)
    assert orjson.loads(first.splitlines()[0]) == {"n": 1, "text": rows[0]["text"]}
    stream.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    groups = stream_export(engine, dataset.plan([("_format", "csv"), ("_group", "n")]))
    assert next(groups).startswith(b"n,count\r\n1,1\r\n")
    groups.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_stream_export_refuses_json_plans(people: Dataset) -> None:
    with pytest.raises(ValueError):
        list(stream_export(people.engine, people.plan([])))


@pytest.mark.parametrize("output", ["csv", "ndjson"])
def test_aggregate_exports(people: Dataset, output: str) -> None:
    params = [("_group", "name"), ("_bucket", "ts:1d"), ("_agg", "count,avg:speed")]
    groups = run(people, [*params, ("_limit", "10000")])["groups"]
    data = body(people, [*params, ("_format", output)])
    if output == "ndjson":
        assert [orjson.loads(line) for line in data.splitlines()] == groups
    else:
        rows = csv_rows(data)
        assert rows[0] == ["name", "ts", "count", "avg:speed"]
        assert rows[1:] == [[csv_cell(value) for value in group.values()] for group in groups]
    limited = body(people, [*params, ("_format", "ndjson"), ("_limit", "4")])
    assert [orjson.loads(line) for line in limited.splitlines()] == groups[:4]
