"""GET /api/v1/sql: one read-only SELECT over datasets, within each reader's view,
on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, inspect, select, table
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.catalogue.datasets import update_dataset
from cityshare.sharing.grants import create_grant
from cityshare.site import Site
from cityshare.storage.engine import time_limited
from tests.api.test_audit_events import head
from tests.conftest import ENGINES
from tests.world import OTHER, SAMPLE_CSV, World, audit_entries, populated_client

# Values of the sample data a refused request must never show.
SAMPLE_VALUES = ("J1", "J2", "morning", "HYPERLINK", "31.5", "42.0", "35.25")


def ask(client: TestClient, world: World, kind: str, q: str, **params: str) -> httpx.Response:
    """GET /api/v1/sql as ``kind``."""
    return client.get("/api/v1/sql", params={"q": q, **params}, headers=world.headers(kind))


def answer(client: TestClient, world: World, kind: str, q: str) -> dict[str, Any]:
    """The JSON answer of a statement that must succeed."""
    response = ask(client, world, kind, q)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    """Check a refusal: its status, problem+json, and no sample data or SQL of ours."""
    allowed = (status,) if isinstance(status, int) else status
    assert response.status_code in allowed, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for value in SAMPLE_VALUES:
        assert value not in response.text, response.text
    for ours in ("ds_", "cte_", "FROM (SELECT", "Traceback"):
        assert ours not in response.text, response.text
    body: dict[str, Any] = response.json()
    return body


def grant(site: Site, dataset: str, **bounds: Any) -> int:
    """Grant ``dataset`` to the partner organisation (whose admin is "outsider")."""
    spec = {
        "organisation": OTHER,
        "purpose": "a study of traffic",
        "expires_at": datetime.now(UTC) + timedelta(days=1),
        "columns": None,
        "row_filter": None,
        "min_group_size": None,
        "pseudonymised": None,
        **bounds,
    }
    created = create_grant(site, console_actor(site, "admin"), dataset, spec)
    return int(created.id)


OPEN_ANSWERS = [
    (
        'SELECT count(*), sum(cars), min(speed), max(counted_at), avg(speed) FROM "open-counts"',
        ["count", "sum", "min", "max", "avg"],
        [[3, 295, 31.5, "2024-03-04T10:00:00Z", 36.25]],
    ),
    (
        "SELECT junction, count(*) AS n, sum(cars) AS cars FROM open_counts "
        "GROUP BY junction ORDER BY junction",
        ["junction", "n", "cars"],
        [["J1", 2, 215], ["J2", 1, 80]],
    ),
    (
        'SELECT junction, cars FROM "open-counts" WHERE cars > 90 ORDER BY cars DESC LIMIT 1',
        ["junction", "cars"],
        [["J1", 120]],
    ),
    (
        "SELECT counted_at FROM \"open-counts\" WHERE counted_at >= '2024-03-04T09:00:00Z' "
        "ORDER BY counted_at",
        ["counted_at"],
        [["2024-03-04T09:00:00Z"], ["2024-03-04T10:00:00Z"]],
    ),
    (
        "SELECT note FROM \"open-counts\" WHERE note LIKE '%ing' OR note LIKE 'MORN%'",
        ["note"],
        [["morning"]],
    ),
    (
        'SELECT junction FROM "open-counts" ORDER BY cars LIMIT 2 OFFSET 1',
        ["junction"],
        [["J1"], ["J1"]],
    ),
    (
        'SELECT junction FROM "open-counts" GROUP BY junction HAVING count(*) > 1',
        ["junction"],
        [["J1"]],
    ),
    (
        "SELECT CASE WHEN cars >= 100 THEN 'busy' ELSE 'quiet' END AS level, "
        "coalesce(note, '-') AS note, round(speed, 0) AS speed, lower(junction) "
        'FROM "open-counts" ORDER BY counted_at',
        ["level", "note", "speed", "lower"],
        [
            ["busy", "morning", 32.0, "j1"],
            ["quiet", "-", 42.0, "j2"],
            ["quiet", '=HYPERLINK("http://x")', 35.0, "j1"],
        ],
    ),
    (
        'SELECT DISTINCT junction FROM "open-counts" UNION SELECT junction FROM "open-counts" '
        "ORDER BY 1 DESC",
        ["junction"],
        [["J2"], ["J1"]],
    ),
    (
        'WITH busy AS (SELECT junction, cars FROM "open-counts" WHERE cars > 90) '
        "SELECT b.junction, (SELECT max(cars) FROM busy) AS top FROM busy AS b "
        'WHERE b.cars IN (SELECT cars FROM "open-counts" WHERE speed < 35) ',
        ["junction", "top"],
        [["J1", 120]],
    ),
    ("SELECT 'x'' ; DROP TABLE users; --' AS text", ["text"], [["x' ; DROP TABLE users; --"]]),
]


@pytest.mark.parametrize("kind", ["member", "anonymous", "outsider"])
def test_readers_of_open_data_get_the_same_answers(
    client: TestClient, world: World, kind: str
) -> None:
    for q, columns, rows in OPEN_ANSWERS:
        body = answer(client, world, kind, q)
        assert (body["columns"], body["rows"], body["truncated"]) == (columns, rows, False), q
    body = answer(client, world, kind, 'SELECT count(*) FROM "open-counts"')
    assert body["datasets"] == [{"name": "open-counts", "version": 1, "grant": None}]


def test_owners_join_their_datasets(client: TestClient, world: World) -> None:
    body = answer(
        client,
        world,
        "member",
        'SELECT o.junction, o.cars, p.speed FROM "open-counts" AS o '
        'JOIN "private-counts" p ON p.counted_at = o.counted_at WHERE p.cars < 100 '
        "ORDER BY o.counted_at",
    )
    assert body["rows"] == [["J2", 80, 42.0], ["J1", 95, 35.25]]
    assert [item["name"] for item in body["datasets"]] == ["open-counts", "private-counts"]
    # After reads, the store's pooled connections still write (SQLite's guard is undone).
    upload = client.put(
        "/api/v1/datasets/open-counts/data",
        content=SAMPLE_CSV.encode(),
        headers={**world.headers("editor"), "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201, upload.text
    assert answer(client, world, "member", 'SELECT count(*) FROM "open-counts"')["datasets"] == [
        {"name": "open-counts", "version": 2, "grant": None}
    ]


def test_the_row_cap_truncates(
    client: TestClient, world: World, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site.settings.limits, "max_sql_rows", 2)
    body = answer(client, world, "member", 'SELECT cars FROM "open-counts" ORDER BY cars')
    assert (body["rows"], body["truncated"]) == ([[80], [95]], True)
    body = answer(client, world, "member", 'SELECT cars FROM "open-counts" ORDER BY cars LIMIT 2')
    assert (body["rows"], body["truncated"]) == ([[80], [95]], False)
    crossed = 'SELECT a.cars FROM "open-counts" a, "open-counts" b, "open-counts" c'
    body = answer(client, world, "member", crossed)
    assert (len(body["rows"]), body["truncated"]) == (2, True)


GRANTED_ONLY = [
    'SELECT speed FROM "shared-counts"',
    'SELECT cars FROM "shared-counts" WHERE speed > 0',
    'SELECT cars FROM "shared-counts" ORDER BY note',
    'SELECT count(*) FROM "shared-counts" GROUP BY note',
    'SELECT count(speed) FROM "shared-counts"',
    'SELECT "shared-counts".note FROM "shared-counts"',
    'SELECT x FROM (SELECT speed AS x FROM "shared-counts") AS s',
    'WITH t AS (SELECT note FROM "shared-counts") SELECT * FROM t',
    'SELECT cars FROM "shared-counts" WHERE EXISTS (SELECT 1 WHERE speed > 1)',
]


def test_a_grantee_reaches_only_the_granted_columns_and_rows(
    client: TestClient, world: World, site: Site
) -> None:
    granted = grant(
        site,
        "shared-counts",
        columns=["junction", "cars", "counted_at"],
        row_filter={"junction": "J1"},
    )
    body = answer(client, world, "outsider", 'SELECT * FROM "shared-counts" ORDER BY counted_at')
    assert body["columns"] == ["junction", "counted_at", "cars"]
    assert body["rows"] == [["J1", "2024-03-04T08:00:00Z", 120], ["J1", "2024-03-04T10:00:00Z", 95]]
    assert body["datasets"] == [{"name": "shared-counts", "version": 1, "grant": granted}]
    for q in GRANTED_ONLY:
        problem = refused(ask(client, world, "outsider", q), 400)
        assert "No column named" in problem["detail"], q
    for q in (  # speed is a column of open-counts, but not of the granted shared-counts
        'SELECT cars FROM "shared-counts" s JOIN "open-counts" o USING (speed)',
        'SELECT s.speed FROM "shared-counts" s JOIN "open-counts" o ON o.cars = s.cars',
        'SELECT o.cars FROM "shared-counts" s JOIN "open-counts" o ON o.speed = s.speed',
    ):
        refused(ask(client, world, "outsider", q), 400)
    for q, rows in [
        ('SELECT count(*), sum(cars) FROM "shared-counts"', [[2, 215]]),
        ("SELECT count(*) FROM \"shared-counts\" WHERE junction <> 'J1'", [[0]]),
        (
            'SELECT o.junction, count(*) FROM "open-counts" o '
            'JOIN "shared-counts" s ON s.counted_at = o.counted_at GROUP BY o.junction',
            [["J1", 2]],
        ),
        ('SELECT count(*) FROM "open-counts" o LEFT JOIN "shared-counts" s USING (cars)', [[3]]),
    ]:
        assert answer(client, world, "outsider", q)["rows"] == rows, q


def test_personal_columns_need_a_grant_naming_them(
    client: TestClient, world: World, site: Site
) -> None:
    update_dataset(
        site, console_actor(site, "admin"), "open-counts", {"column_classes": {"note": "personal"}}
    )
    body = answer(client, world, "anonymous", 'SELECT * FROM "open-counts" LIMIT 1')
    assert body["columns"] == ["junction", "counted_at", "cars", "speed"]
    refused(ask(client, world, "anonymous", 'SELECT note FROM "open-counts"'), 400)
    assert answer(client, world, "member", 'SELECT count(note) FROM "open-counts"')["rows"] == [[2]]


def test_bounded_grants(client: TestClient, world: World, site: Site) -> None:
    grant(site, "shared-counts", min_group_size=2)
    problem = refused(ask(client, world, "outsider", 'SELECT count(*) FROM "shared-counts"'), 403)
    assert "_group" in problem["detail"]
    columns = ["junction", "counted_at", "cars", "speed", "note"]
    grant(site, "private-counts", columns=columns, pseudonymised=["junction"])
    body = answer(client, world, "outsider", 'SELECT * FROM "private-counts" ORDER BY cars')
    assert body["columns"] == ["counted_at", "cars", "speed", "note"]
    problem = refused(ask(client, world, "outsider", 'SELECT junction FROM "private-counts"'), 400)
    assert "pseudonymised" in problem["detail"]


@pytest.mark.parametrize(
    ("kind", "q", "status"),
    [
        ("outsider", 'SELECT * FROM "private-counts"', 404),
        ("anonymous", 'SELECT * FROM "private-counts"', 404),
        ("outsider", 'SELECT * FROM "open-counts", "private-counts"', 404),
        ("outsider", 'SELECT 1 WHERE EXISTS (SELECT 1 FROM "private-counts")', 404),
        ("outsider", 'SELECT * FROM "shared-counts"', 403),
        ("anonymous", 'SELECT count(*) FROM "shared-counts"', 404),
        ("readonly", 'SELECT count(*) FROM "private-counts"', 200),
        ("member", 'SELECT * FROM "open-air"', 400),
        ("member", 'SELECT * FROM "no-such-dataset"', 404),
    ],
)
def test_who_may_read_what(
    client: TestClient, world: World, kind: str, q: str, status: int
) -> None:
    if status == 200:
        answer(client, world, kind, q)
        return
    problem = refused(ask(client, world, kind, q), status)
    assert "private-counts" not in problem["detail"] or kind == "member" or status == 404


def test_a_private_dataset_is_not_named_to_outsiders(client: TestClient, world: World) -> None:
    hidden = refused(ask(client, world, "outsider", 'SELECT * FROM "private-counts"'), 404)
    absent = refused(ask(client, world, "outsider", 'SELECT * FROM "private-countz"'), 404)
    assert hidden["detail"].replace("private-counts", "X") == absent["detail"].replace(
        "private-countz", "X"
    )


def test_reads_are_audited_once_per_dataset(client: TestClient, world: World, site: Site) -> None:
    granted = grant(site, "shared-counts")
    start = head(site)
    q = 'SELECT count(*) FROM "open-counts" o JOIN "shared-counts" s USING (counted_at)'
    answer(client, world, "outsider", q)
    world.runtime.finish_background_work()
    reads = [entry for entry in audit_entries(site, start) if entry["action"] == "dataset.read"]
    assert sorted(entry["resource"]["dataset"] for entry in reads) == [  # type: ignore[index]
        "open-counts",
        "shared-counts",
    ]
    for entry in reads:
        detail: Any = entry["detail"]
        assert (detail["query"], detail["rows"]) == (q, 1)
        expected = granted if entry["resource"]["dataset"] == "shared-counts" else None  # type: ignore[index]
        assert detail["grant"] == expected


def test_csv(client: TestClient, world: World) -> None:
    q = 'SELECT note, cars FROM "open-counts" ORDER BY counted_at'
    response = ask(client, world, "anonymous", q, _format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == [
        "note,cars",
        "morning,120",
        ",80",
        '"\'=HYPERLINK(""http://x"")",95',
    ]


# --- Statements that must be refused, on one populated site per engine.


@pytest.fixture(scope="module", params=ENGINES)
def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[tuple[World, TestClient]]:
    """One populated site per engine, for statements that change nothing."""
    folder: Path = tmp_path_factory.mktemp("sql")
    with populated_client(request.param, folder, postgres_database) as populated:
        yield populated


def snapshot(site: Site) -> tuple[list[str], dict[str, int]]:
    """The store's tables and the rows of those a statement might try to change."""
    with site.engine.connect() as connection:
        names = sorted(inspect(connection).get_table_names())
        counts = {
            name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in ("users", "tokens", "datasets", "dataset_versions", "dsv_1_1")
        }
    return names, counts


FUNCTIONS = [
    "load_extension('/tmp/x.so')",
    "readfile('/etc/passwd')",
    "pg_read_file('/etc/passwd')",
    "pg_ls_dir('.')",
    "lo_import('/etc/passwd')",
    "current_setting('data_directory')",
    "set_config('default_transaction_read_only', 'off', false)",
    "version()",
    "pg_sleep(30)",
    "randomblob(1000000000)",
    "dblink('host=elsewhere', 'SELECT 1')",
]
INTERNAL_TABLES = [
    "dsv_1_1",
    "users",
    "tokens",
    "audit_log",
    "sqlite_master",
    "sqlite_schema",
    "pg_catalog.pg_tables",
    "pg_tables",
    "information_schema.tables",
    '"open-counts"" ; --"',
    '"users"',
]
BAD = [
    ("SELECT 1; DROP TABLE users", 400),
    ("INSERT INTO users (username) VALUES ('mallory')", 400),
    ("UPDATE users SET is_site_admin = true", 400),
    ("DELETE FROM tokens", 400),
    ("DROP TABLE users", 400),
    ("CREATE TABLE stolen AS SELECT * FROM users", 400),
    ("ALTER TABLE users ADD COLUMN x int", 400),
    ("ATTACH DATABASE '/tmp/stolen.db' AS stolen", 400),
    ("PRAGMA writable_schema = ON", 400),
    ("COPY users TO '/tmp/users.csv'", 400),
    ("VACUUM", 400),
    ('SELECT * INTO stolen FROM "open-counts"', 400),
    ('SELECT * FROM "open-counts" FOR UPDATE', 400),
    ("SELECT 1 -- a comment\n; DROP TABLE users", 400),
    ("SELECT 1 /* ; */ ; DELETE FROM tokens", 400),
    ("/* SELECT 1 */ DROP TABLE users", 400),
    ("SELECT 1 /* DROP TABLE users", 400),
    ('SELECT "cars"" FROM users --" FROM "open-counts"', 400),
    ('SELECT junction FROM "open-counts" WHERE note = \'x', 400),
    ("", 400),
    ("   ", 400),
    ('SELECT cars FROM "open-counts" WHERE cars = $1', 400),
    ('SELECT cars::regclass FROM "open-counts"', 400),
    *((f"SELECT {call}", 400) for call in FUNCTIONS),
    *((f"SELECT * FROM {name}", 404) for name in INTERNAL_TABLES),  # noqa: S608
]


@pytest.mark.parametrize(("q", "status"), BAD, ids=[q[:40] for q, _ in BAD])
def test_bad_statements_are_refused_and_change_nothing(
    shared: tuple[World, TestClient], q: str, status: int
) -> None:
    world, client = shared
    before = snapshot(world.site)
    refused(ask(client, world, "member", q), status)
    assert snapshot(world.site) == before


def raw_get(client: TestClient, query: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET /api/v1/sql?<query> straight through ASGI: HTTP clients refuse URLs over 64 KiB."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/sql",
        "raw_path": b"/api/v1/sql",
        "root_path": "",
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }
    assert client.portal is not None
    client.portal.call(client.app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_missing_or_huge_statement_is_a_bad_request(shared: tuple[World, TestClient]) -> None:
    world, client = shared
    refused(client.get("/api/v1/sql", headers=world.headers("member")), 400)
    problem = refused(ask(client, world, "member", "SELECT 1 " + " " * 30_000), 400)
    assert "20000" in problem["detail"]
    megabyte = b"q=SELECT+1" + b"+" * 1_000_000
    status, body = raw_get(client, megabyte, world.headers("member"))
    assert status in (400, 413, 422)
    assert b"20000" in body and b"SELECT" not in body


def test_endless_statements_stop_at_the_time_limit(
    shared: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, client = shared
    site = world.site
    monkeypatch.setitem(site.__dict__, "query_reader", time_limited(site.engine, 1.0))
    endless = (
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
    )
    crossed = ", ".join(f'"open-counts" AS t{i}' for i in range(25))
    for q in (endless, f"SELECT count(*) FROM {crossed}"):  # noqa: S608
        problem = refused(ask(client, world, "member", q), 503)
        assert "time limit" in problem["detail"]
    body = answer(client, world, "member", f"SELECT t0.cars FROM {crossed}")  # noqa: S608
    assert (len(body["rows"]), body["truncated"]) == (site.settings.limits.max_sql_rows, True)
    # The store is still writable after a cancelled statement.
    assert (
        client.patch(
            "/api/v1/datasets/open-counts",
            json={"title": "Still here"},
            headers=world.headers("editor"),
        ).status_code
        == 200
    )
