"""Injection: hostile text in every parameter position is a 400 or a literal, never SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from cityshare.errors import BadRequest
from cityshare.query import stream_export
from tests.query.data import Dataset, expected
from tests.query.helpers import run

HOSTILE = [
    "1; DROP TABLE dsv_1",
    "' OR 1=1 --",
    '" OR ""="',
    "1) OR (1=1",
    "c0",
    "_id",
    "c1 DESC; DELETE FROM dsv_1",
    "(SELECT 1)",
    "%' --",
    "\\'; --",
    "1 UNION SELECT * FROM sqlite_master",
    "pg_sleep(5)",
    "id\x00",
]
MARKERS = ["DROP TABLE", "OR 1=1", "DELETE FROM", "UNION SELECT", "pg_sleep", "%' --", '""="']
POSITIONS = [
    "_fields", "_sort", "_limit", "_format", "_count", "_next", "bbox",
    "_group", "_agg", "_bucket", "id", "speed", "day", "ts", "active",
    "id__gt", "id__in", "ts__lte",
]  # fmt: skip


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement text the engine sends while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _table_intact(dataset: Dataset) -> None:
    with dataset.engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(dataset.version.table))
        assert count.scalar_one() == 250


@pytest.mark.parametrize("position", POSITIONS)
def test_hostile_values_in_every_position_are_refused(people: Dataset, position: str) -> None:
    for value in HOSTILE:
        with pytest.raises(BadRequest) as caught:
            people.plan([(position, value)])
        assert caught.value.status == 400
    _table_intact(people)


def test_hostile_names_are_unknown_parameters(people: Dataset) -> None:
    for name in [*HOSTILE, "c0__gt", "_id__gt", "id__gt; --", "name__contains)", "SELECT"]:
        with pytest.raises(BadRequest) as caught:
            people.plan([(name, "1")])
        assert caught.value.status == 400


def test_hostile_text_filters_are_literal_comparisons(
    people: Dataset, statements: list[str]
) -> None:
    for value in HOSTILE:
        if "\x00" in value:
            continue
        for op, test in [
            ("", lambda cell, v: cell == v),
            ("__contains", lambda cell, v: v in cell),
            ("__startswith", lambda cell, v: cell.startswith(v)),
            ("__gt", lambda cell, v: cell > v),
            ("__in", lambda cell, v: cell in v.split(",")),
        ]:
            for name in ("name", "select"):
                want = [r for r in people.rows if r[name] is not None and test(r[name], value)]
                body = run(people, [(name + op, value), ("_limit", "10000")])
                assert body["rows"] == expected(people, want), (name + op, value)
    assert run(people, [("select", "' OR 1=1 --"), ("_limit", "1000")])["rows"]
    assert statements
    for statement in statements:
        for marker in MARKERS:
            assert marker not in statement
    _table_intact(people)


def test_odd_field_names_are_addressed_by_name(people: Dataset) -> None:
    body = run(people, [("_fields", "select,it's"), ("_sort", "-it's,select"), ("_limit", "5")])
    assert list(body["rows"][0]) == ["select", "it's"]
    groups = run(people, [("_group", "select"), ("_agg", "count,max:it's,sum:it's")])["groups"]
    assert {group["select"] for group in groups} == {
        "1; DROP TABLE x",
        "' OR 1=1 --",
        "c0",
        "_id",
        "plain",
    }
    assert sum(group["count"] for group in groups) == 250
    assert run(people, [("select", "c0"), ("_count", "1"), ("_limit", "1")])["total"] == sum(
        1 for row in people.rows if row["select"] == "c0"
    )


def test_hostile_exports_stay_literal(people: Dataset, statements: list[str]) -> None:
    plan = people.plan([("_format", "csv"), ("select", "1; DROP TABLE x"), ("_sort", "select")])
    data = b"".join(stream_export(people.engine, plan)).decode()
    assert data.count("1; DROP TABLE x") == sum(
        1 for row in people.rows if row["select"] == "1; DROP TABLE x"
    )
    assert all("DROP TABLE" not in statement for statement in statements)
    _table_intact(people)
