"""Every parameter is validated: 400s that name the parameter (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from cityshare.config import Limits
from cityshare.errors import BadRequest
from cityshare.query import CursorSigner, QueryPlan, plan_query
from cityshare.tables.model import version_table
from tests.query.data import GEO_SCHEMA, PEOPLE_SCHEMA, SCOPE, SECRET

PEOPLE = version_table("dsv_1", PEOPLE_SCHEMA)
GEO = version_table("dsv_2", GEO_SCHEMA)
PLAIN = version_table("dsv_3", {"fields": [{"name": "a", "type": "integer"}]})


def plan(params: list[tuple[str, str]], version: Any = PEOPLE) -> QueryPlan:
    return plan_query(params, version, limits=Limits(), signer=CursorSigner(SECRET), scope=SCOPE)


def refused(params: list[tuple[str, str]], parameter: str, version: Any = PEOPLE) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        plan(params, version)
    assert caught.value.status == 400
    assert caught.value.extra["parameter"] == parameter
    assert caught.value.problem()["status"] == 400
    return caught.value


@pytest.mark.parametrize(
    ("name", "value", "parameter"),
    [
        ("nosuch", "1", "nosuch"),
        ("id__like", "1", "id__like"),
        ("id__", "1", "id__"),
        ("c0", "1", "c0"),
        ("_id", "1", "_id"),
        ("_offset", "10", "_offset"),
        ("Name", "alpha", "Name"),
        ("id", "1.5", "id"),
        ("id", "abc", "id"),
        ("id", "1e3", "id"),
        ("id", "99999999999999999999", "id"),
        ("id", " 12", "id"),
        ("id", "١٢", "id"),
        ("id__in", "1,x", "id__in"),
        ("id__in", ",".join(["1"] * 1001), "id__in"),
        ("speed", "NaN", "speed"),
        ("speed", "inf", "speed"),
        ("speed", "1e999", "speed"),
        ("speed", "1_0", "speed"),
        ("active", "yes", "active"),
        ("day", "2024-13-01", "day"),
        ("day", "20240101", "day"),
        ("day", "yesterday", "day"),
        ("ts", "2024-03-01 25:00", "ts"),
        ("ts", "now", "ts"),
        ("id__contains", "1", "id__contains"),
        ("day__startswith", "2024", "day__startswith"),
        ("active__gt", "true", "active__gt"),
        ("name__isnull", "maybe", "name__isnull"),
    ],
)
def test_bad_filters(name: str, value: str, parameter: str) -> None:
    error = refused([(name, value)], parameter)
    assert parameter[:20] in error.detail


def test_unknown_parameter_lists_the_fields() -> None:
    error = refused([("nosuch", "1")], "nosuch")
    assert "id, speed, name" in error.detail and "it's" in error.detail
    many = version_table("dsv_5", {"fields": [{"name": f"f{i}"} for i in range(80)]})
    assert "and 30 more" in refused([("x", "1")], "x", many).detail


def test_type_error_names_field_value_and_expectation() -> None:
    error = refused([("speed__gt", "fast")], "speed__gt")
    assert "'fast'" in error.detail and "speed" in error.detail and "number" in error.detail
    assert error.extra["value"] == "fast"
    assert error.extra["field"] == "speed"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ([("_fields", "nosuch")], "_fields"),
        ([("_fields", "id,id")], "_fields"),
        ([("_fields", "")], "_fields"),
        ([("_fields", "id,")], "_fields"),
        ([("_sort", "nosuch")], "_sort"),
        ([("_sort", "id,-id")], "_sort"),
        ([("_sort", "a,b,c,d,e,f")], "_sort"),
        ([("_sort", "--id")], "_sort"),
        ([("_limit", "1000000000")], "_limit"),
        ([("_limit", "10001")], "_limit"),
        ([("_limit", "0")], "_limit"),
        ([("_limit", "-1")], "_limit"),
        ([("_limit", "1.5")], "_limit"),
        ([("_limit", "ten")], "_limit"),
        ([("_limit", "")], "_limit"),
        ([("_limit", "１０")], "_limit"),
        ([("_count", "yes")], "_count"),
        ([("_format", "xml")], "_format"),
        ([("_format", "geojson")], "_format"),
        ([("_format", "json"), ("_format", "csv")], "_format"),
        ([("_next", "")], "_next"),
        ([("_next", "garbage")], "_next"),
        ([("bbox", "1,2,3")], "bbox"),
        ([("bbox", "1,2,3,4,5")], "bbox"),
        ([("bbox", "a,b,c,d")], "bbox"),
        ([("bbox", "nan,0,1,1")], "bbox"),
        ([("bbox", "0,0,inf,1")], "bbox"),
        ([("bbox", "10,0,5,1")], "bbox"),
        ([("bbox", "0,10,1,5")], "bbox"),
        ([("bbox", "-181,0,0,1")], "bbox"),
        ([("bbox", "0,-91,1,0")], "bbox"),
        ([("bbox", "0,0,1,90.5")], "bbox"),
        ([("name", "a\x00b")], "name"),
        ([("name", "x" * 70_000)], "name"),
        ([("name", "\ud800")], "name"),
    ],
)
def test_bad_reserved_parameters(params: list[tuple[str, str]], parameter: str) -> None:
    refused(params, parameter, PLAIN if parameter == "_format" else PEOPLE)


def test_format_geojson_and_bbox_need_geometry() -> None:
    refused([("_format", "geojson")], "_format", PLAIN)
    refused([("bbox", "0,0,1,1")], "bbox", PLAIN)
    assert plan([("_format", "geojson")], GEO).media_type == "application/geo+json"
    assert plan([("_format", "geojson")]).format == "geojson"


def test_geometry_field_only_isnull() -> None:
    refused([("shape", "x")], "shape", GEO)
    refused([("shape__contains", "Point")], "shape__contains", GEO)
    refused([("_sort", "shape")], "_sort", GEO)
    assert plan([("shape__isnull", "true")], GEO).filters[0].value is True


def test_too_many_parameters() -> None:
    with pytest.raises(BadRequest, match="Too many"):
        plan([("id__gt", "1")] * 201)


def test_limits_and_defaults() -> None:
    assert plan([]).limit == 100
    assert plan([("_limit", "10000")]).limit == 10000
    assert plan([("_format", "csv")]).limit is None
    assert plan([("_format", "csv"), ("_limit", "5")]).limit == 5
    assert plan([]).fields == PEOPLE.fields
    assert [f.name for f in plan([("_fields", "select,it's")]).fields] == ["select", "it's"]


def test_plan_properties() -> None:
    assert plan([]).media_type == "application/json"
    assert plan([("_format", "csv")]).media_type == "text/csv; charset=utf-8"
    assert plan([("_format", "ndjson")]).media_type == "application/x-ndjson"
    assert plan([("_format", "ndjson")]).is_export
    assert not plan([]).is_export
    assert "secret" not in repr(plan([])).lower().replace("<secret>", "")
    assert SECRET.decode() not in repr(plan([]))


def test_field_names_win_over_operators() -> None:
    version = version_table(
        "dsv_4",
        {
            "fields": [
                {"name": "a__gt", "type": "integer"},
                {"name": "_x", "type": "string"},
                {"name": "bbox", "type": "string"},
            ]
        },
    )
    first = plan([("a__gt", "5")], version).filters[0]
    assert (first.field.name, first.op) == ("a__gt", "eq")
    second = plan([("a__gt__gt", "5")], version).filters[0]
    assert (second.field.name, second.op) == ("a__gt", "gt")
    assert plan([("_x", "v")], version).filters[0].field.name == "_x"
    assert plan([("bbox__eq", "v")], version).filters[0].field.name == "bbox"
    refused([("bbox", "v")], "bbox", version)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ([("_group", "nosuch")], "_group"),
        ([("_group", "lon"), ("_format", "geojson")], "_format"),
        ([("_group", "name"), ("_fields", "name")], "_fields"),
        ([("_group", "name"), ("_count", "true")], "_count"),
        ([("_group", "name"), ("_next", "x.y")], "_next"),
        ([("_agg", "avg:name")], "_agg"),
        ([("_agg", "sum:day")], "_agg"),
        ([("_agg", "min:active")], "_agg"),
        ([("_agg", "median:speed")], "_agg"),
        ([("_agg", "count:nosuch")], "_agg"),
        ([("_agg", "avg:")], "_agg"),
        ([("_agg", "count,count")], "_agg"),
        ([("_bucket", "day:1h")], "_bucket"),
        ([("_bucket", "ts")], "_bucket"),
        ([("_bucket", "ts:5x")], "_bucket"),
        ([("_bucket", "ts:0m")], "_bucket"),
        ([("_bucket", "ts:-5m")], "_bucket"),
        ([("_bucket", "ts:400d")], "_bucket"),
        ([("_bucket", "ts:1.5h")], "_bucket"),
        ([("_group", "ts"), ("_bucket", "ts:1h")], "_group"),
        ([("_group", "name"), ("_sort", "speed")], "_sort"),
        ([("_group", "name"), ("_sort", "avg:speed")], "_sort"),
    ],
)
def test_bad_aggregates(params: list[tuple[str, str]], parameter: str) -> None:
    refused(params, parameter)


def test_aggregate_plan() -> None:
    spec = plan(
        [
            ("_group", "name,active"),
            ("_agg", "count,avg:speed"),
            ("_bucket", "ts:15m"),
            ("_sort", "-avg:speed"),
        ]
    ).aggregate
    assert spec is not None
    assert spec.output_names == ("name", "active", "ts", "count", "avg:speed")
    assert spec.bucket is not None and spec.bucket.seconds == 900
    assert plan([("_group", "name")]).aggregate.aggregates[0].key == "count"  # type: ignore[union-attr]


def test_signer_needs_a_secret_and_hides_it() -> None:
    with pytest.raises(ValueError):
        CursorSigner(b"")
    assert "test-secret" not in repr(CursorSigner(SECRET))
