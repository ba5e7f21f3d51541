"""Aggregates and time buckets: equal to a Python computation on both engines."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.query.data import Dataset, json_native, python_sort
from tests.query.helpers import run

EPOCH = datetime(1970, 1, 1)
Row = dict[str, Any]


def bucket_of(value: datetime | None, seconds: int) -> str | None:
    if value is None:
        return None
    whole = (value - EPOCH) // timedelta(seconds=1)
    start = whole - whole % seconds
    return (EPOCH + timedelta(seconds=start)).isoformat() + "Z"


def aggregate(dataset: Dataset, rows: list[Row], item: str) -> Any:
    if item == "count":
        return len(rows)
    function, name = item.split(":")
    field = dataset.version.field(name)
    assert field is not None
    values = [row[name] for row in rows if row[name] is not None]
    if function == "count":
        return len(values)
    if not values:
        return None
    if function == "sum":
        return sum(values) if field.type == "integer" else float(sum(values))
    if function == "avg":
        return sum(values) / len(values)
    return json_native(field.type, min(values) if function == "min" else max(values))


def python_groups(
    dataset: Dataset,
    rows: list[Row],
    groups: list[str],
    bucket: tuple[str, int] | None,
    aggs: list[str],
    order: list[tuple[str, bool]] | None = None,
) -> list[Row]:
    parts: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        key = tuple(json_native(dataset.version.field(g).type, row[g]) for g in groups)  # type: ignore[union-attr]
        if bucket:
            key += (bucket_of(row[bucket[0]], bucket[1]),)
        parts[key].append(row)
    names = [*groups, *([bucket[0]] if bucket else [])]
    result = [
        {**dict(zip(names, key, strict=True)), **{a: aggregate(dataset, part, a) for a in aggs}}
        for key, part in parts.items()
    ]
    used = [name for name, _desc in order or []]
    full = [*(order or []), *((name, False) for name in names if name not in used)]
    return python_sort(result, full, tie=None)


AGGS = [
    "count", "count:speed", "sum:id", "sum:speed", "avg:speed", "avg:id",
    "min:day", "max:ts", "min:name", "max:name", "min:speed", "max:it's",
]  # fmt: skip


def test_group_by_one_field_every_aggregate(people: Dataset) -> None:
    body = run(people, [("_group", "name"), ("_agg", ",".join(AGGS)), ("_limit", "10000")])
    assert body["truncated"] is False
    assert body["groups"] == python_groups(people, people.rows, ["name"], None, AGGS)
    assert list(body["groups"][0]) == ["name", *AGGS]


@pytest.mark.parametrize(
    ("groups", "bucket", "size"),
    [
        ([], ("ts", 900), "15m"),
        (["active"], ("ts", 3600), "1h"),
        ([], ("ts", 300), "5m"),
        (["it's", "select"], ("ts", 6 * 3600), "6h"),
        ([], ("ts", 86400), "1d"),
        ([], ("ts", 7 * 86400), "7d"),
        (["select", "active"], None, ""),
    ],
)
def test_buckets_and_groups(
    people: Dataset, groups: list[str], bucket: tuple[str, int] | None, size: str
) -> None:
    aggs = ["count", "avg:speed", "max:ts", "sum:it's"]
    params = [("_agg", ",".join(aggs)), ("_limit", "10000")]
    if groups:
        params.append(("_group", ",".join(groups)))
    if bucket:
        params.append(("_bucket", f"{bucket[0]}:{size}"))
    body = run(people, params)
    want = python_groups(people, people.rows, groups, bucket, aggs)
    assert len(want) > 1
    assert body["groups"] == want


def test_bucket_before_the_epoch_floors_down(people: Dataset) -> None:
    body = run(people, [("_bucket", "ts:15m"), ("ts__lt", "1970-01-01"), ("_agg", "count")])
    assert body["groups"] == [{"ts": "1969-12-31T23:45:00Z", "count": 1}]


def test_aggregate_without_group_is_one_row(people: Dataset) -> None:
    body = run(people, [("_agg", "count,sum:speed,avg:speed")])
    assert body == {
        "groups": python_groups(people, people.rows, [], None, ["count", "sum:speed", "avg:speed"]),
        "truncated": False,
    }
    assert body["groups"][0]["count"] == 250
    empty = run(people, [("_agg", "count,sum:speed,min:name"), ("name", "nobody")])
    assert empty["groups"] == [{"count": 0, "sum:speed": None, "min:name": None}]


def test_filters_and_bbox_apply_before_grouping(people: Dataset) -> None:
    def keep(row: Row) -> bool:
        lon, lat = row["lon"], row["lat"]
        inside = lon is not None and lat is not None and -90 <= lon <= 90 and -45 <= lat <= 45
        return inside and row["speed"] is not None and row["speed"] > 5

    rows = [row for row in people.rows if keep(row)]
    params = [
        ("_group", "active"),
        ("speed__gt", "5"),
        ("bbox", "-90,-45,90,45"),
        ("_agg", "count,avg:speed"),
    ]
    body = run(people, params)
    assert body["groups"] == python_groups(people, rows, ["active"], None, ["count", "avg:speed"])


def test_sort_by_aggregate_and_truncate(people: Dataset) -> None:
    order = [("count", True), ("name", False)]
    want = python_groups(people, people.rows, ["name"], None, ["count"], order)
    body = run(people, [("_group", "name"), ("_sort", "-count,name"), ("_limit", "3")])
    assert body == {"groups": want[:3], "truncated": True}
    everything = run(people, [("_group", "name"), ("_sort", "-count,name")])
    assert everything == {"groups": want, "truncated": False}


def test_sort_by_average_descending(people: Dataset) -> None:
    order = [("avg:speed", True)]
    want = python_groups(people, people.rows, ["it's", "active"], None, ["avg:speed"], order)
    body = run(people, [("_group", "it's,active"), ("_agg", "avg:speed"), ("_sort", "-avg:speed")])
    assert body["groups"] == want


def test_sort_by_group_key_descending(people: Dataset) -> None:
    want = python_groups(people, people.rows, ["name"], None, ["count"], [("name", True)])
    assert run(people, [("_group", "name"), ("_sort", "-name")])["groups"] == want
