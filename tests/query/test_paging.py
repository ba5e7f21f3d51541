"""Keyset paging: every row once, in the right order, on both engines; cursor safety."""

from __future__ import annotations

import base64
import dataclasses
import itertools
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from cityshare.bounds.view import restricted
from cityshare.config import Limits
from cityshare.errors import BadRequest
from cityshare.query import CursorSigner, plan_query, run_json
from cityshare.query.cursor import cursor_context
from cityshare.query.rows import PROJECTIONS_PER_TABLE, projection
from cityshare.query.spec import SortKey
from cityshare.tables.model import Field
from tests.query.data import SCOPE, SECRET, Dataset, create, expected, python_sort
from tests.query.helpers import run

SORTS = [
    "",
    "speed",
    "-speed",
    "name,-id",
    "-name",
    "active,-ts",
    "-active,day,-speed",
    "-it's,select,-lat",
    "ts",
    "-ts",
    "-day,name,speed,-active,id",
]


def page_through(
    dataset: Dataset, params: list[tuple[str, str]], limit: int
) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor: str | None = None
    while True:
        extra = [("_next", cursor)] if cursor else []
        body = run(dataset, [*params, ("_limit", str(limit)), *extra])
        pages += 1
        rows.extend(body["rows"])
        cursor = body["next"]
        if cursor is None:
            return rows, pages
        assert len(body["rows"]) == limit
        assert pages < 1000


def keys(sort: str) -> list[tuple[str, bool]]:
    return [(item.lstrip("-"), item.startswith("-")) for item in sort.split(",") if item]


@pytest.mark.parametrize("sort", SORTS)
def test_paging_returns_every_row_once_in_order(people: Dataset, sort: str) -> None:
    params = [("_sort", sort)] if sort else []
    want = expected(people, python_sort(people.rows, keys(sort)))
    got, pages = page_through(people, params, 7)
    assert got == want
    assert pages == max(1, -(-len(want) // 7))
    single = run(people, [*params, ("_limit", "10000")])
    assert single["rows"] == want and single["next"] is None


def test_paging_with_filters_and_changing_page_size(people: Dataset) -> None:
    params = [("_sort", "-speed,name"), ("speed__gte", "0"), ("name__isnull", "false")]
    kept = [
        r
        for r in people.rows
        if r["speed"] is not None and r["speed"] >= 0 and r["name"] is not None
    ]
    want = expected(people, python_sort(kept, [("speed", True), ("name", False)]))
    rows: list[dict[str, Any]] = []
    cursor = None
    for size in [1, 5, 50, 3, 1000]:
        extra = [("_next", cursor)] if cursor else []
        body = run(people, [*params, ("_limit", str(size)), *extra])
        rows.extend(body["rows"])
        cursor = body["next"]
        if cursor is None:
            break
    assert rows == want


def test_page_ends_exactly_at_the_last_row(people: Dataset) -> None:
    body = run(people, [("_limit", "250")])
    assert len(body["rows"]) == 250 and body["next"] is None
    body = run(people, [("_limit", "249")])
    last = run(people, [("_limit", "249"), ("_next", body["next"])])
    assert len(last["rows"]) == 1 and last["next"] is None


def test_long_sort_values_keep_cursors_short(engine: Engine) -> None:
    schema = {"fields": [{"name": "text", "type": "string"}, {"name": "n", "type": "integer"}]}
    rows = [
        {"_id": i, "text": ("x" * 3000 + str(i % 4)) if i % 3 else None, "n": i % 2}
        for i in range(1, 31)
    ]
    dataset = create(engine, "dsv_9", schema, rows)
    want = expected(dataset, python_sort(rows, [("text", True), ("n", False)]))
    body = run(dataset, [("_sort", "-text,n"), ("_limit", "4")])
    assert len(body["next"]) < 200
    got, _pages = page_through(dataset, [("_sort", "-text,n")], 4)
    assert got == want


def _flip(token: str, index: int) -> str:
    char = "A" if token[index] != "A" else "B"
    return token[:index] + char + token[index + 1 :]


def _invalid(dataset: Dataset, params: list[tuple[str, str]], **kwargs: Any) -> None:
    with pytest.raises(BadRequest, match="invalid cursor") as caught:
        dataset.plan(params, **kwargs)
    assert caught.value.extra["parameter"] == "_next"


def test_tampered_and_foreign_cursors_are_refused(people: Dataset) -> None:
    params = [("_sort", "speed"), ("speed__gt", "1")]
    token = run(people, [*params, ("_limit", "5")])["next"]
    assert run(people, [*params, ("_next", token)])["rows"]
    body, mac = token.split(".")
    for bad_token in [
        _flip(token, 3),
        _flip(token, len(token) - 2),
        token[:-1],
        token[:20],
        body,
        "." + mac,
        token + "A",
        token + ".x",
        "!" + token[1:],
        "garbage",
        "a.b",
    ]:
        _invalid(people, [*params, ("_next", bad_token)])
    _invalid(people, [("_sort", "speed"), ("speed__gt", "2"), ("_next", token)])
    _invalid(people, [("_sort", "-speed"), ("speed__gt", "1"), ("_next", token)])
    _invalid(people, [("_sort", "speed"), ("_next", token)])
    _invalid(people, [*params, ("name", "x"), ("_next", token)])
    _invalid(people, [*params, ("bbox", "0,0,1,1"), ("_next", token)])
    _invalid(people, [*params, ("_next", token)], scope="dsv_2")
    _invalid(people, [*params, ("_next", token)], signer=CursorSigner(b"another site"))


def test_cursor_survives_parameter_order_and_format(people: Dataset) -> None:
    params = [("speed__gt", "1"), ("name__isnull", "false"), ("_sort", "speed")]
    token = run(people, [*params, ("_limit", "5")])["next"]
    reordered = [params[1], params[0], params[2], ("_fields", "name"), ("_next", token)]
    assert people.plan(reordered).position is not None
    assert people.plan([*params, ("_format", "csv"), ("_next", token)]).position is not None


def test_signed_but_malformed_payload_is_refused(people: Dataset) -> None:
    signer = CursorSigner(b"test-secret-for-cursors")
    context = people.plan([("_sort", "speed")]).context
    assert context == cursor_context(
        "dsv_1", {"filters": [], "bbox": None, "sort": [["speed", False]]}
    )
    for payload in [
        {"v": 1, "i": "7", "k": [1.5]},
        {"v": 2, "i": 7, "k": [1.5]},
        {"v": 1, "i": 7, "k": ["fast"]},
        {"v": 1, "i": 7, "k": [1.5, 2.5]},
        {"v": 1, "i": True, "k": [1.5]},
        [1, 2],
    ]:
        token = signer.sign(context, orjson.dumps(payload))
        _invalid(people, [("_sort", "speed"), ("_next", token)])
    token = signer.sign(context, b"not json")
    _invalid(people, [("_sort", "speed"), ("_next", token)])
    good = signer.sign(context, orjson.dumps({"v": 1, "i": 7, "k": [1.5]}))
    assert people.plan([("_sort", "speed"), ("_next", good)]).position is not None


def test_cursor_for_a_missing_row_is_refused(people: Dataset) -> None:
    signer = CursorSigner(b"test-secret-for-cursors")
    context = people.plan([("_sort", "speed")]).context
    token = signer.sign(context, orjson.dumps({"v": 1, "i": 99999}))
    with pytest.raises(BadRequest, match="invalid cursor"):
        run(people, [("_sort", "speed"), ("_next", token)])


def test_cursor_is_opaque_base64url(people: Dataset) -> None:
    token = run(people, [("_limit", "5")])["next"]
    body = token.split(".")[0]
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert payload == {"v": 1, "i": 5}


def test_text_order_is_code_point_order_whatever_the_collation(people: Dataset) -> None:
    engine = people.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:  # a locale-aware column: 'a' < 'B' < 'b' there
            connection.execute(
                text('ALTER TABLE dsv_1 ALTER COLUMN c2 TYPE text COLLATE "und-x-icu"')
            )
    want = expected(people, python_sort(people.rows, [("name", True)]))
    got, _pages = page_through(people, [("_sort", "-name")], 9)
    assert got == want
    above = [row for row in people.rows if row["name"] is not None and row["name"] > "alpha"]
    body = run(people, [("name__gt", "alpha"), ("_limit", "1000")])
    assert body["rows"] == expected(people, above)
    names = sorted({row["name"] for row in people.rows if row["name"] is not None})
    groups = run(people, [("_group", "name"), ("_agg", "min:name,max:name")])["groups"]
    assert [group["name"] for group in groups] == [*names, None]
    overall = run(people, [("_agg", "min:name,max:name")])["groups"][0]
    assert overall == {"min:name": names[0], "max:name": names[-1]}


def test_a_projection_is_built_once_per_fields_and_sort(people: Dataset) -> None:
    first = projection(people.plan([("_fields", "name,speed"), ("_sort", "-speed")]))
    again = projection(people.plan([("_fields", "name,speed"), ("_sort", "-speed")]))
    other = projection(people.plan([("_fields", "name"), ("_sort", "-speed")]))
    assert again is first and other is not first
    assert other.names == ("name",) and first.names == ("name", "speed")
    # Kept per table and bounded: many _fields and _sort shapes do not grow it without end.
    cache = people.version.table.info["cityshare.projections"]
    names = [field.name for field in people.version.fields]
    for chosen in itertools.permutations(names, 3):
        projection(people.plan([("_fields", ",".join(chosen)), ("_sort", chosen[0])]))
    assert len(cache._items) == PROJECTIONS_PER_TABLE


def test_a_projection_is_never_another_readers(people: Dataset) -> None:
    """Projections are kept per table and shared by readers: one made for a grant that
    pseudonymises ``name`` (with its key) is never used for another grant or the clear."""
    names = [field.name for field in people.version.fields]
    views = [
        restricted(people.version, names, frozenset({"name"}), b"a" * 32),
        restricted(people.version, names, frozenset({"name"}), b"b" * 32),
        restricted(people.version, names),
    ]
    shown = []
    for view in views:
        plan = plan_query(
            [("_fields", "name,speed"), ("_sort", "speed"), ("_limit", "5")],
            view,
            limits=Limits(),
            signer=CursorSigner(SECRET),
            scope=SCOPE,
        )
        assert projection(plan).fields == plan.fields  # each view's own fields and keys
        with people.engine.connect() as connection:
            shown.append([row["name"] for row in run_json(connection, plan)["rows"]])
    first, second, clear = shown
    assert not set(first) & set(second) and not set(first) & set(clear)
    assert not set(second) & set(clear) and all(len(name) == 32 for name in first + second)


def test_projection_keys_compare_every_attribute() -> None:
    """A projection's cache key is its fields and sort keys, compared by value: every
    attribute of theirs must take part, or two readers' projections could be confused."""
    for kind in (Field, SortKey):
        assert all(part.compare for part in dataclasses.fields(kind)), kind
