"""Filters, bbox, _fields, _count and _limit against Python, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

from cityshare.config import Limits
from cityshare.query import CursorSigner, run_json
from tests.query.data import SCOPE, Dataset, expected
from tests.query.helpers import bad, run

Row = dict[str, Any]


def _not_null(name: str, test: Callable[[Any], bool]) -> Callable[[Row], bool]:
    return lambda row: row[name] is not None and test(row[name])


T = datetime(2024, 3, 2)
CASES: list[tuple[list[tuple[str, str]], Callable[[Row], bool]]] = [
    ([("id", "5")], _not_null("id", lambda v: v == 5)),
    ([("id__eq", "-7")], _not_null("id", lambda v: v == -7)),
    ([("id__ne", "5")], _not_null("id", lambda v: v != 5)),
    ([("id__gt", "10")], _not_null("id", lambda v: v > 10)),
    ([("id__gte", "10")], _not_null("id", lambda v: v >= 10)),
    ([("id__lt", "-10")], _not_null("id", lambda v: v < -10)),
    ([("id__lte", "-10")], _not_null("id", lambda v: v <= -10)),
    ([("id__in", "1,2,3,-4")], _not_null("id", lambda v: v in (1, 2, 3, -4))),
    ([("id__isnull", "true")], lambda row: row["id"] is None),
    ([("id__isnull", "0")], lambda row: row["id"] is not None),
    ([("id__gte", "-10"), ("id__lte", "10")], _not_null("id", lambda v: -10 <= v <= 10)),
    ([("speed", "10.25")], _not_null("speed", lambda v: v == 10.25)),
    ([("speed__gt", "9.5")], _not_null("speed", lambda v: v > 9.5)),
    ([("speed__lt", "-1e0")], _not_null("speed", lambda v: v < -1)),
    ([("speed__in", "1.5,2,-3.25,20")], _not_null("speed", lambda v: v in (1.5, 2, -3.25, 20))),
    ([("name", "alpha")], _not_null("name", lambda v: v == "alpha")),
    ([("name", "")], _not_null("name", lambda v: v == "")),
    ([("name__ne", "alpha")], _not_null("name", lambda v: v != "alpha")),
    ([("name__contains", "%")], _not_null("name", lambda v: "%" in v)),
    ([("name__contains", "_")], _not_null("name", lambda v: "_" in v)),
    ([("name__contains", "a")], _not_null("name", lambda v: "a" in v)),
    ([("name__contains", "'")], _not_null("name", lambda v: "'" in v)),
    ([("name__contains", "ü")], _not_null("name", lambda v: "ü" in v)),
    ([("name__startswith", "a")], _not_null("name", lambda v: v.startswith("a"))),
    ([("name__startswith", "Al")], _not_null("name", lambda v: v.startswith("Al"))),
    ([("name__startswith", "É")], _not_null("name", lambda v: v.startswith("É"))),
    ([("name__gt", "b")], _not_null("name", lambda v: v > "b")),
    ([("name__lte", "Zulu")], _not_null("name", lambda v: v <= "Zulu")),
    ([("name__in", "alpha,beta,")], _not_null("name", lambda v: v in ("alpha", "beta", ""))),
    ([("name__isnull", "true")], lambda row: row["name"] is None),
    ([("active", "true")], _not_null("active", lambda v: v is True)),
    ([("active", "0")], _not_null("active", lambda v: v is False)),
    ([("active__ne", "false")], _not_null("active", lambda v: v is True)),
    ([("active__in", "true,0")], _not_null("active", lambda v: v in (True, False))),
    ([("active__isnull", "1")], lambda row: row["active"] is None),
    ([("day__gte", "2024-02-01")], _not_null("day", lambda v: v >= date(2024, 2, 1))),
    ([("day", "2024-01-15")], _not_null("day", lambda v: v == date(2024, 1, 15))),
    ([("ts__gt", "2024-03-02T00:00:00Z")], _not_null("ts", lambda v: v > T)),
    ([("ts__lte", "2024-03-02T01:00:00+01:00")], _not_null("ts", lambda v: v <= T)),
    ([("ts__lt", "2024-03-02")], _not_null("ts", lambda v: v < T)),
    (
        [("ts", "1969-12-31T23:59:59.5Z")],
        _not_null("ts", lambda v: v == datetime(1969, 12, 31, 23, 59, 59, 500000)),
    ),
    ([("select", "' OR 1=1 --")], _not_null("select", lambda v: v == "' OR 1=1 --")),
    ([("select__contains", "DROP")], _not_null("select", lambda v: "DROP" in v)),
    ([("it's__in", "1,2")], _not_null("it's", lambda v: v in (1, 2))),
    (
        [("speed__gt", "0"), ("name__isnull", "false"), ("active", "true")],
        lambda row: (row["speed"] or 0) > 0 and row["name"] is not None and row["active"] is True,
    ),
]


@pytest.mark.parametrize(("params", "predicate"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter_matches_python(
    people: Dataset, params: list[tuple[str, str]], predicate: Callable[[Row], bool]
) -> None:
    want = [row for row in people.rows if predicate(row)]
    assert want, "the case must select something"
    body = run(people, [*params, ("_limit", "10000"), ("_count", "true")])
    assert body["rows"] == expected(people, want)
    assert body["total"] == len(want)
    assert body["next"] is None


def test_contains_is_case_sensitive(people: Dataset) -> None:
    lower = run(people, [("name__contains", "alpha"), ("_limit", "1000")])["rows"]
    upper = run(people, [("name__contains", "Alpha"), ("_limit", "1000")])["rows"]
    assert {row["name"] for row in lower} == {"alpha"}
    assert {row["name"] for row in upper} == {"Alpha"}


def test_contains_texts_are_short(people: Dataset) -> None:
    # One substring search costs up to len(cell) * len(text), and no time limit cuts it.
    assert run(people, [("name__contains", "a" * 1000)])["rows"] == []
    error = bad(people, [("name__contains", "a" * 1001)], "name__contains")
    assert "at most 1000 characters" in error.detail


def test_bbox_on_points(people: Dataset) -> None:
    def inside(row: Row) -> bool:
        lon, lat = row["lon"], row["lat"]
        return lon is not None and lat is not None and -100 <= lon <= 60 and -45 <= lat <= 45

    want = [row for row in people.rows if inside(row)]
    assert 0 < len(want) < len(people.rows)
    body = run(people, [("bbox", "-100,-45,60,45"), ("_limit", "1000")])
    assert body["rows"] == expected(people, want)


def test_bbox_on_geojson_overlaps_bounding_boxes(geo: Dataset) -> None:
    def overlaps(row: Row) -> bool:
        if row["shape"] is None:
            return False
        minx, miny, maxx, maxy = row["box"]
        return maxx >= -12 and minx <= 2 and maxy >= -17 and miny <= 0

    want = [row for row in geo.rows if overlaps(row)]
    assert 0 < len(want) < len(geo.rows)
    body = run(geo, [("bbox", "-12,-17,2,0"), ("_limit", "1000")])
    assert body["rows"] == expected(geo, want)
    assert body["rows"][0]["shape"] == want[0]["shape"]  # GeoJSON as an object


def test_fields_choose_and_order_columns(people: Dataset) -> None:
    body = run(people, [("_fields", "it's,name,select"), ("_limit", "3")])
    assert [list(row) for row in body["rows"]] == [["it's", "name", "select"]] * 3
    assert body["rows"] == expected(people, people.rows[:3], ["it's", "name", "select"])


def test_default_limit_and_count(people: Dataset) -> None:
    body = run(people, [])
    assert len(body["rows"]) == 100
    assert body["next"] is not None
    assert "total" not in body
    assert run(people, [("_count", "true"), ("_limit", "1")])["total"] == 250
    assert run(people, [("_version", "7"), ("_limit", "10000")])["rows"] == expected(
        people, people.rows
    )


def test_limit_bounds_follow_limits(people: Dataset) -> None:
    limits = Limits(default_page_rows=20, max_page_rows=40)
    assert len(run(people, [], limits=limits)["rows"]) == 20
    assert len(run(people, [("_limit", "40")], limits=limits)["rows"]) == 40
    with pytest.raises(Exception, match="_limit"):
        people.plan([("_limit", "41")], limits=limits)


def test_empty_result(people: Dataset) -> None:
    body = run(people, [("name", "nobody"), ("_count", "1")])
    assert body == {"rows": [], "next": None, "total": 0}


def test_run_json_uses_the_connection_given(people: Dataset) -> None:
    plan = people.plan([("_limit", "2")], signer=CursorSigner(b"other"), scope=SCOPE)
    with people.engine.connect() as connection:
        assert len(run_json(connection, plan)["rows"]) == 2
