"""The SQL endpoint's core: parsing against the allow-list, rewriting within a reader's
view, and the read-only, time-limited guard (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from cityshare.bounds.view import ReadView, restricted
from cityshare.errors import BadRequest, NotFound, QueryTimeout
from cityshare.query.filters import parse_filter
from cityshare.query.spec import UNBOUNDED, RowBounds
from cityshare.sql.guard import run_read_only
from cityshare.sql.output import json_cell
from cityshare.sql.parse import parse_statement
from cityshare.sql.rewrite import Rendered, check_columns, render
from cityshare.storage.engine import time_limited
from tests.query.data import Dataset

ALLOWED = [
    ('SELECT count(*) FROM "open-counts"', ("open-counts",)),
    ("SELECT junction, sum(cars) FROM traffic_counts GROUP BY junction", ("traffic-counts",)),
    ('SELECT * FROM "a" JOIN b USING (junction) ORDER BY 1 DESC LIMIT 5 OFFSET 2', ("a", "b")),
    ("WITH t AS (SELECT cars FROM a) SELECT max(cars) FROM t", ("a",)),
    ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT n FROM t", ()),
    (
        "SELECT cars FROM a UNION ALL SELECT cars FROM b INTERSECT SELECT 1 EXCEPT SELECT 2",
        ("a", "b"),
    ),
    ("SELECT DISTINCT lower(j), upper(j), length(j), substr(j, 1, 2), trim(j) FROM a", ("a",)),
    ("SELECT CASE WHEN x > 1 THEN 'big' ELSE 'small' END, CAST(x AS TEXT), x::int FROM a", ("a",)),
    ("SELECT coalesce(x, 0), nullif(x, 0), abs(x), round(x, 2), x % 2, -x / 3 FROM a", ("a",)),
    (
        "SELECT x FROM a WHERE j LIKE 'J%' AND x IN (1, 2) AND x BETWEEN 1 AND 5 AND y IS NULL",
        ("a",),
    ),
    ("SELECT x FROM a WHERE NOT (x <> 1 OR x >= 2) AND EXISTS (SELECT 1 FROM b)", ("a", "b")),
    ("SELECT j, count(*) FROM a GROUP BY j HAVING count(*) > 1", ("a",)),
    ("SELECT a.x FROM a LEFT JOIN b ON a.x = b.x CROSS JOIN c", ("a", "b", "c")),
    ("SELECT x FROM (SELECT x FROM a) AS s WHERE x IN (SELECT x FROM b)", ("a", "b")),
    ("SELECT 1 + 1;", ()),
]


@pytest.mark.parametrize(("statement", "datasets"), ALLOWED)
def test_allowed_statements_parse(statement: str, datasets: tuple[str, ...]) -> None:
    assert parse_statement(statement).datasets == datasets


def test_names_map_to_datasets_and_ctes_are_kept_apart() -> None:
    parsed = parse_statement(
        'WITH Recent AS (SELECT 1) SELECT * FROM recent, Open_Counts, "open-counts", "X_y"'
    )
    assert parsed.datasets == ("open-counts", "X-y")
    assert parsed.ctes == frozenset({"recent"})
    assert parsed.written["open-counts"] == "Open_Counts"


REFUSED = [
    ("INSERT INTO users VALUES (1)", "INSERT"),
    ("UPDATE users SET x = 1", "UPDATE"),
    ("DELETE FROM users", "DELETE"),
    ("DROP TABLE users", "DROP"),
    ("CREATE TABLE t (a int)", "CREATE"),
    ("ALTER TABLE users ADD COLUMN b int", "ALTER"),
    ("PRAGMA query_only = OFF", "PRAGMA"),
    ("COPY users TO '/tmp/x'", "COPY"),
    ("VACUUM", "VACUUM"),
    ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("SELECT * INTO t FROM a", "INTO"),
    ("SELECT * FROM a FOR UPDATE", "FOR UPDATE"),
    ("SELECT load_extension('x')", "load_extension"),
    ("SELECT readfile('/etc/passwd')", "readfile"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT pg_ls_dir('.')", "pg_ls_dir"),
    ("SELECT lo_import('/etc/passwd')", "lo_import"),
    ("SELECT current_setting('data_directory')", "current_setting"),
    ("SELECT set_config('a', 'b', false)", "set_config"),
    ("SELECT version()", "VERSION"),
    ("SELECT pg_sleep(10)", "pg_sleep"),
    ("SELECT randomblob(1000000000)", "randomblob"),
    ("SELECT * FROM dblink('host=x', 'SELECT 1')", "dblink"),
    ("SELECT current_user", "CURRENT_USER"),
    ("SELECT x::regclass FROM a", "OBJECTIDENTIFIER"),
    ("SELECT CAST(x AS json) FROM a", "JSON"),
    ("SELECT row_number() OVER (ORDER BY x) FROM a", "OVER"),
    ("SELECT x FROM a, LATERAL (SELECT 1) AS l", "LATERAL"),
    ("SELECT $1", "parameters"),
    ("SELECT x FROM a WHERE x = ?", "parameters"),
    ("VALUES (1)", "VALUES"),
    ("SELECT DISTINCT ON (x) x FROM a", "ON"),
    ("SELECT x FROM a TABLESAMPLE SYSTEM (10)", "SAMPLE"),
    ("SELECT x FROM a FETCH FIRST 3 ROWS ONLY", "FETCH"),
    ("SELECT x FROM a WHERE x ~ 'y'", "REGEXP"),
    ('SELECT x COLLATE "C" FROM a', "COLLATE"),
    ("SELECT x FROM a GROUP BY ROLLUP (x)", "ROLLUP"),
    ("SELECT CAST(x AS VARCHAR(3)) FROM a", "type parameters"),
    ("SELECT CAST(x AS TIMESTAMP) FROM a", "TIMESTAMP"),
    ("SELECT $$dollar$$", "RAWSTRING"),
    ("SELECT E'\\x41'", "BYTESTRING"),
]


@pytest.mark.parametrize(("statement", "named"), REFUSED)
def test_refused_statements_name_what_was_refused(statement: str, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_statement(statement)
    assert named.lower() in str(caught.value.extra.get("refused", "")).lower(), caught.value.detail


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM main.sqlite_master",
        'SELECT * FROM public."open-counts"',
    ],
)
def test_schema_qualified_names_are_no_datasets(statement: str) -> None:
    with pytest.raises(NotFound):
        parse_statement(statement)


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("", "empty"),
        ("  \n ", "empty"),
        (";;", "exactly one"),
        ("SELECT 1; DROP TABLE users", "exactly one"),
        ("SELECT 1; SELECT 2", "exactly one"),
        ("SELECT 1 -- hidden\n; DROP TABLE users", "exactly one"),
        ("SELECT 1 /* ; */ ; DELETE FROM users", "exactly one"),
        ("SELECT 'abc", "not closed"),
        ('SELECT "abc FROM a', "not closed"),
        ("SELECT 1 /* never closed", "not closed"),
        ("SELECT FROM WHERE", "parse"),
        ("ATTACH DATABASE '/tmp/x.db' AS x", "parse"),
        ("SELECT " + "(" * 300 + "1" + ")" * 300, "nested"),
        ("SELECT x FROM a LIMIT 1 + 1", "whole number"),
        ("SELECT 'a\x00b'", "nul"),
    ],
)
def test_malformed_statements_are_bad_requests(statement: str, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_statement(statement)
    assert says in caught.value.detail.lower(), caught.value.detail


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("295"), 295),
        (Decimal("36.25"), 36.25),
        (Decimal("1e400"), None),
        (Decimal("NaN"), None),
        (float("inf"), None),
        (datetime(2024, 3, 4, 8, 0, 0, 500000), "2024-03-04T08:00:00.500000Z"),
        (date(2024, 3, 4), "2024-03-04"),
        (timedelta(minutes=1), 60.0),
        (b"\x01\xff", "01ff"),
    ],
)
def test_values_become_json(value: Any, shown: Any) -> None:
    assert json_cell(value) == shown


def _view(dataset: Dataset, visible: list[str] | None = None, **filters: str) -> ReadView:
    table = dataset.version
    shown = table if visible is None else restricted(table, visible)
    bounds = RowBounds(filters=tuple(parse_filter(table, k, v) for k, v in filters.items()))
    return ReadView(table=shown, bounds=bounds if filters else UNBOUNDED)


def _run(engine: Engine, statement: str, views: dict[str, ReadView]) -> dict[str, Any]:
    parsed = parse_statement(statement)
    check_columns(parsed, views)
    rendered = render(parsed, views, engine.dialect.name, 1001)
    columns, rows, _cut = run_read_only(time_limited(engine, 10), rendered, 1001)
    return {"columns": columns, "rows": [[json_cell(v) for v in row] for row in rows]}


def test_hidden_and_unknown_columns_look_the_same(people: Dataset) -> None:
    views = {"people": _view(people, ["id", "name"])}
    for statement in (
        "SELECT speed FROM people",
        "SELECT id FROM people ORDER BY speed",
        "SELECT id FROM people WHERE nothing = 1",
    ):
        with pytest.raises(BadRequest) as caught:
            check_columns(parse_statement(statement), views)
        assert "No column named" in caught.value.detail
        assert "or you may not see it" in caught.value.detail


def test_statements_see_only_the_view(people: Dataset) -> None:
    views = {"people": _view(people, ["id", "name", "select", "it's"], active="true")}
    answer = _run(people.engine, 'SELECT * FROM people ORDER BY "it\'s", id', views)
    assert answer["columns"] == ["id", "name", "select", "it's"]
    wanted = [row for row in people.rows if row["active"] is True]
    assert len(answer["rows"]) == len(wanted)
    counted = _run(people.engine, 'SELECT count(*), sum("it\'s") FROM people', views)
    assert counted["rows"] == [[len(wanted), sum(row["it's"] for row in wanted)]]


def test_a_row_filter_value_is_never_sql(people: Dataset) -> None:
    views = {"people": _view(people, None, select="' OR 1=1 --")}
    answer = _run(people.engine, 'SELECT count(*), min("select") FROM people', views)
    wanted = [row for row in people.rows if row["select"] == "' OR 1=1 --"]
    assert answer["rows"] == [[len(wanted), "' OR 1=1 --"]]


def test_results_match_python_on_both_engines(people: Dataset) -> None:
    views = {"people": _view(people)}
    answer = _run(
        people.engine,
        "SELECT name, count(*) AS n, max(ts) AS latest FROM people WHERE name IS NOT NULL "
        "AND name LIKE '%a%' GROUP BY name ORDER BY name",
        views,
    )
    named = [row for row in people.rows if row["name"] is not None and "a" in row["name"]]
    counts = Counter(row["name"] for row in named)
    assert [row[:2] for row in answer["rows"]] == sorted([k, v] for k, v in counts.items())
    latest = max(row["ts"] for row in named if row["name"] == answer["rows"][0][0] and row["ts"])
    assert answer["rows"][0][2] == json_cell(latest)
    assert answer["rows"][0][2].endswith("Z") and "T" in answer["rows"][0][2]


def test_the_guard_refuses_writes_even_past_the_allow_list(people: Dataset) -> None:
    engine = people.engine
    name = people.version.table.name
    reads = {name: frozenset({"c0"})}
    for sql in ("CREATE TABLE sneaky (a INTEGER)", f"DELETE FROM {name}"):  # noqa: S608
        with pytest.raises(BadRequest):
            run_read_only(time_limited(engine, 5), Rendered(sql=sql, names={}, reads=reads), 10)
    assert "sneaky" not in inspect(engine).get_table_names()
    with engine.begin() as connection:  # the pooled connection is writable again
        connection.execute(text("CREATE TABLE afterwards (a INTEGER)"))
        count = connection.execute(text(f"SELECT count(*) FROM {name}"))  # noqa: S608
        assert count.scalar_one() == len(people.rows)


def test_sqlite_reads_only_the_columns_of_the_view(people: Dataset) -> None:
    if people.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's authorizer")
    name = people.version.table.name
    sql = f"SELECT c1 FROM {name}"  # noqa: S608
    rendered = Rendered(sql=sql, names={}, reads={name: frozenset({"c0"})})
    with pytest.raises(BadRequest, match="not allowed"):
        run_read_only(time_limited(people.engine, 5), rendered, 10)
    rendered = Rendered(sql="SELECT * FROM sqlite_master", names={}, reads={})
    with pytest.raises(BadRequest, match="not allowed"):
        run_read_only(time_limited(people.engine, 5), rendered, 10)


def test_a_statement_that_never_ends_stops_at_the_time_limit(people: Dataset) -> None:
    parsed = parse_statement(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
    )
    rendered = render(parsed, {}, people.engine.dialect.name, 11)
    with pytest.raises(QueryTimeout):
        run_read_only(time_limited(people.engine, 0.5), rendered, 11)
    # The row cap is part of the SQL: an endless list stops at the cap at once.
    parsed = parse_statement(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT n FROM t"
    )
    rendered = render(parsed, {}, people.engine.dialect.name, 11)
    _columns, rows, _cut = run_read_only(time_limited(people.engine, 5), rendered, 11)
    assert [row[0] for row in rows] == list(range(1, 12))
