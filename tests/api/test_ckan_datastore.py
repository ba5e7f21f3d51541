"""datastore_search and datastore_search_sql: filters, text search, fields, sorting,
offsets, totals and the refusals of bad input."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from cityshare.query.offset import MAX_OFFSET
from tests.api.ckan_support import call, ckan_headers, failure, result
from tests.world import World

Site = tuple[World, TestClient]


def search(ckan: Site, who: str = "anonymous", **params: Any) -> dict[str, Any]:
    """datastore_search on shared-counts (every column) for the owner's member, or on
    open-counts (public columns) for anonymous visitors."""
    world, client = ckan
    params.setdefault("resource_id", "open-counts.csv" if who == "anonymous" else "shared-counts")
    found: dict[str, Any] = result(
        call(client, "datastore_search", params, headers=ckan_headers(world, who))
    )
    return found


def cars(found: dict[str, Any]) -> list[int]:
    return [record["cars"] for record in found["records"]]


def test_records_fields_and_total(ckan: Site) -> None:
    found = search(ckan, "member")
    assert found["fields"] == [
        {"id": "junction", "type": "text"},
        {"id": "counted_at", "type": "timestamp"},
        {"id": "cars", "type": "int"},
        {"id": "speed", "type": "numeric"},
        {"id": "note", "type": "text"},
    ]
    assert found["records"][0] == {
        "junction": "J1",
        "counted_at": "2024-03-04T08:00:00Z",
        "cars": 120,
        "speed": 31.5,
        "note": "morning",
    }
    assert found["total"] == 3 and found["limit"] == 100 and found["offset"] == 0
    assert found["resource_id"] == "shared-counts"


def test_public_columns_only_for_readers_of_open_data(ckan: Site) -> None:
    found = search(ckan)
    assert [field["id"] for field in found["fields"]] == ["junction", "counted_at", "cars", "speed"]
    assert all("note" not in record for record in found["records"])
    # The personal column can be neither searched, filtered, sorted nor asked for.
    assert search(ckan, q="morning")["total"] == 0
    for params in ({"filters": {"note": "morning"}}, {"sort": "note"}, {"fields": "note"}):
        response = call(ckan[1], "datastore_search", {"resource_id": "open-counts", **params})
        failure(response, 409, "Validation Error")


def test_filters(ckan: Site) -> None:
    assert cars(search(ckan, "member", filters={"junction": "J1"})) == [120, 95]
    assert cars(search(ckan, "member", filters={"junction": ["J2", "J9"]})) == [80]
    assert cars(search(ckan, "member", filters={"junction": "J1", "cars": 95})) == [95]
    assert cars(search(ckan, "member", filters={"cars": "120"})) == [120]
    assert cars(search(ckan, "member", filters={"note": None})) == [80]
    assert search(ckan, "member", filters={"junction": "J1"})["total"] == 2


def test_text_search(ckan: Site) -> None:
    assert cars(search(ckan, "member", q="MORN")) == [120]
    assert cars(search(ckan, "member", q="j2")) == [80]
    assert cars(search(ckan, "member", q={"note": "hyper"})) == [95]
    assert search(ckan, "member", q={"junction": "morning"})["total"] == 0


def test_fields_sort_limit_offset(ckan: Site) -> None:
    found = search(ckan, "member", fields="cars,junction", sort="cars desc")
    assert found["records"] == [
        {"cars": 120, "junction": "J1"},
        {"cars": 95, "junction": "J1"},
        {"cars": 80, "junction": "J2"},
    ]
    assert [field["id"] for field in found["fields"]] == ["cars", "junction"]
    assert cars(search(ckan, "member", sort="junction desc, cars asc")) == [80, 95, 120]
    assert cars(search(ckan, "member", sort=["junction", "cars desc"])) == [120, 95, 80]
    page = search(ckan, "member", sort="cars", limit=1, offset=1)
    assert cars(page) == [95] and page["total"] == 3
    assert page["_links"]["next"].endswith("offset=2")
    assert page["_links"]["start"].startswith("/api/3/action/datastore_search?")
    assert search(ckan, "member", offset=3)["records"] == []


def test_limit_zero_total_and_lists(ckan: Site) -> None:
    empty = search(ckan, "member", limit=0)
    assert empty["records"] == [] and empty["total"] == 3 and len(empty["fields"]) == 5
    assert "total" not in search(ckan, "member", include_total=False)
    lists = search(ckan, "member", records_format="lists", fields=["junction", "cars"], limit=1)
    assert lists["records"] == [["J1", 120]]


def test_the_dataset_name_and_every_table_resource_are_the_same_table(ckan: Site) -> None:
    for identifier in ("shared-counts", "shared-counts.csv", "shared-counts.ndjson"):
        assert search(ckan, "member", resource_id=identifier)["total"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filters": {"nope": 1}}, "filters"),
        ({"filters": {"cars": "many"}}, "filters"),
        ({"filters": {"cars": {"gt": 1}}}, "filters"),
        ({"filters": {"cars": []}}, "filters"),
        ({"filters": "{not json"}, "filters"),
        ({"filters": "[1]"}, "filters"),
        ({"sort": "nope desc"}, "sort"),
        ({"fields": "nope"}, "fields"),
        ({"q": {"cars": "1"}}, "q"),
        ({"limit": -1}, "limit"),
        ({"limit": 10**9}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -5}, "offset"),
        ({"offset": MAX_OFFSET + 1}, "offset"),
        ({"records_format": "csv"}, "records_format"),
        ({"distinct": True}, "distinct"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(
    ckan: Site, params: dict[str, Any], field: str
) -> None:
    world, client = ckan
    response = call(
        client,
        "datastore_search",
        {"resource_id": "shared-counts.csv", **params},
        headers=ckan_headers(world, "member"),
    )
    error = failure(response, 409, "Validation Error")
    assert field in error, error


def test_missing_or_unknown_resources(ckan: Site) -> None:
    client = ckan[1]
    assert "resource_id" in failure(call(client, "datastore_search"), 409, "Validation Error")
    for identifier in (
        "nothing-here",
        "open-counts.xlsx",
        "open-counts.geojson",
        "private-counts.csv",
    ):
        response = call(client, "datastore_search", {"resource_id": identifier})
        failure(response, 404, "Not Found Error")


# --- datastore_search_sql --------------------------------------------------------------


def sql(ckan: Site, text: str, who: str = "anonymous") -> Any:
    world, client = ckan
    return call(client, "datastore_search_sql", {"sql": text}, headers=ckan_headers(world, who))


def test_sql_names_tables_by_resource_id_or_dataset(ckan: Site) -> None:
    for table in ('"open-counts.csv"', '"open-counts"', "open_counts", '"open-counts.json"'):
        text = f"SELECT junction, sum(cars) AS cars FROM {table} GROUP BY junction"  # noqa: S608
        found = result(sql(ckan, f"{text} ORDER BY junction"))
        assert found["records"] == [{"junction": "J1", "cars": 215}, {"junction": "J2", "cars": 80}]
        assert found["fields"] == [
            {"id": "junction", "type": "text"},
            {"id": "cars", "type": "int"},
        ]
        assert found["records_truncated"] is False
        assert found["sql"].endswith("ORDER BY junction")


@pytest.mark.parametrize(
    "text",
    [
        'DELETE FROM "open-counts.csv"',
        'INSERT INTO "open-counts" (cars) VALUES (1)',
        'DROP TABLE "open-counts"',
        "SELECT 1; SELECT 2",
        "SELECT * FROM pg_catalog.pg_tables",
        'SELECT note FROM "open-counts"',
        "",
    ],
)
def test_sql_refuses_what_the_sql_endpoint_refuses(ckan: Site, text: str) -> None:
    response = sql(ckan, text)
    if response.status_code == 404:
        failure(response, 404, "Not Found Error")
    else:
        error = failure(response, 409, "Validation Error")
        assert "sql" in error


def test_sql_on_invisible_or_unreadable_tables(ckan: Site) -> None:
    for table in ('"private-counts.csv"', '"shared-counts"', '"nothing.csv"'):
        failure(sql(ckan, f"SELECT count(*) FROM {table}"), 404, "Not Found Error")  # noqa: S608
    failure(
        sql(ckan, 'SELECT count(*) FROM "shared-counts"', "outsider"), 403, "Authorization Error"
    )
    assert result(sql(ckan, 'SELECT count(*) AS n FROM "private-counts.csv"', "member"))[
        "records"
    ] == [{"n": 3}]
