"""The answers of the catalogue's routes are the ones the OpenAPI document describes
(issue 18, part 3): datasets, versions, schemas, Data Packages, uploads, rows, SQL, the
audit export and the API's index; each typed answer holds every field its schema names
and no other, except those a reader is not shown (a dataset's ``column_classes``, a
version's whole-table figures), which are left out, not sent empty."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from schemathesis.schemas import BaseSchema
from starlette.testclient import TestClient

from tests.api.openapi_support import assert_conforms, openapi_schema
from tests.world import OWNER, World

PLACES_CSV = "stop,longitude,latitude,riders\nA,-1.55,53.80,12\nB,-1.54,53.81,7\n"
OPTIONAL = {"Dataset": {"column_classes"}, "Version": {"row_count", "byte_size", "sha256"}}


@pytest.fixture
def schema(client: TestClient) -> BaseSchema:
    return openapi_schema(client)


def as_named(schema: BaseSchema, name: str, answer: dict[str, Any], *, whole: bool) -> None:
    """``answer`` has the fields schema ``name`` names and no other; all of them if
    ``whole``, else all but those a reader may not be shown."""
    described = schema.raw_schema["components"]["schemas"][name]
    named = set(described["properties"])
    assert set(answer) <= named, name
    left_out = named - set(answer)
    assert left_out == set() if whole else left_out <= OPTIONAL.get(name, set()), name
    assert set(described.get("required", ())) <= set(answer), name


@pytest.fixture
def places(client: TestClient, world: World) -> str:
    """An open dataset with points, created and filled over HTTP."""
    admin = world.headers("admin")
    body = {"organisation": OWNER, "name": "stops", "visibility": "open"}
    assert client.post("/api/v1/datasets", json=body, headers=admin).status_code == 201
    uploaded = client.put(
        "/api/v1/datasets/stops/data",
        content=PLACES_CSV,
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 201, uploaded.text
    return "stops"


def test_dataset_answers_conform_and_hold_their_fields(
    client: TestClient, world: World, schema: BaseSchema
) -> None:
    admin, anonymous = world.headers("admin"), world.headers("anonymous")
    body = {"organisation": OWNER, "name": "new-one", "tags": ["a"]}
    created = client.post("/api/v1/datasets", json=body, headers=admin)
    changed = client.patch("/api/v1/datasets/new-one", json={"title": "New"}, headers=admin)
    answers = [
        ("POST", "/api/v1/datasets", created),
        ("PATCH", "/api/v1/datasets/{name}", changed),
        ("GET", "/api/v1/datasets/{name}", client.get("/api/v1/datasets/open-counts")),
        ("GET", "/api/v1/datasets", client.get("/api/v1/datasets?facets=all&limit=1")),
    ]
    for method, path, response in answers:
        assert response.status_code in (200, 201), response.text
        assert_conforms(schema, method, path, response)
    for response in (created, changed, client.get("/api/v1/datasets/open-counts", headers=admin)):
        as_named(schema, "Dataset", response.json(), whole=True)
    as_named(schema, "Dataset", answers[2][2].json(), whole=False)
    assert "column_classes" not in client.get("/api/v1/datasets/open-counts").json()
    page = answers[3][2].json()
    as_named(schema, "DatasetPage", page, whole=True)
    as_named(schema, "ListedDataset", page["datasets"][0], whole=True)
    as_named(schema, "FacetValue", page["facets"]["organisation"][0], whole=True)
    index = client.get("/api/v1", headers=anonymous)
    assert_conforms(schema, "GET", "/api/v1", index)
    as_named(schema, "ApiIndex", index.json(), whole=True)


def test_version_answers_conform_and_hold_their_fields(
    client: TestClient, world: World, schema: BaseSchema, places: str
) -> None:
    paths = {
        "/api/v1/datasets/{name}/versions": f"/api/v1/datasets/{places}/versions",
        "/api/v1/datasets/{name}/versions/{number}": f"/api/v1/datasets/{places}/versions/1",
        "/api/v1/datasets/{name}/schema": f"/api/v1/datasets/{places}/schema",
        "/api/v1/datasets/{name}/datapackage.json": f"/api/v1/datasets/{places}/datapackage.json",
    }
    answers = {template: client.get(url) for template, url in paths.items()}
    for template, response in answers.items():
        assert response.status_code == 200, response.text
        assert_conforms(schema, "GET", template, response)
    as_named(schema, "Version", answers["/api/v1/datasets/{name}/versions"].json()[0], whole=True)
    detail = answers["/api/v1/datasets/{name}/versions/{number}"].json()
    as_named(schema, "VersionDetail", detail, whole=True)
    table = answers["/api/v1/datasets/{name}/schema"].json()
    assert table == detail["schema"]
    assert set(table) == {"fields", "missingValues", "x-cityshare-point"}
    package = answers["/api/v1/datasets/{name}/datapackage.json"].json()
    assert "licenses" not in package  # no licence: left out, as before
    assert package["resources"][0]["schema"] == table


def test_a_figure_a_reader_is_not_shown_is_left_out(
    client: TestClient, world: World, schema: BaseSchema
) -> None:
    """Whatever figures an outsider is shown of open data, no other field is sent."""
    listed = client.get("/api/v1/datasets/open-counts/versions", headers=world.headers("outsider"))
    assert_conforms(schema, "GET", "/api/v1/datasets/{name}/versions", listed)
    for version in listed.json():
        as_named(schema, "Version", version, whole=False)


@pytest.mark.parametrize(
    ("query", "media_type"),
    [
        ("_limit=1&_count=true", "application/json"),
        ("_group=stop&_agg=count", "application/json"),
        ("_format=csv", "text/csv"),
        ("_format=ndjson", "application/x-ndjson"),
        ("_format=geojson", "application/geo+json"),
    ],
)
def test_rows_answers_conform(
    client: TestClient, schema: BaseSchema, places: str, query: str, media_type: str
) -> None:
    response = client.get(f"/api/v1/datasets/{places}/rows?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    assert_conforms(schema, "GET", "/api/v1/datasets/{name}/rows", response)
    if media_type == "application/json":
        body = response.json()
        as_named(schema, "GroupsPage" if "groups" in body else "RowsPage", body, whole=True)


@pytest.mark.parametrize("output", ["json", "csv"])
def test_sql_answers_conform(
    client: TestClient, world: World, schema: BaseSchema, output: str
) -> None:
    assert "open-counts" in world.datasets.values()
    response = client.get(
        "/api/v1/sql", params={"q": 'SELECT junction FROM "open-counts"', "_format": output}
    )
    assert response.status_code == 200, response.text
    assert_conforms(schema, "GET", "/api/v1/sql", response)
    if output == "json":
        as_named(schema, "SqlResult", response.json(), whole=True)


def test_each_line_of_the_audit_export_is_as_described(
    client: TestClient, world: World, schema: BaseSchema
) -> None:
    response = client.get("/api/v1/audit/export", headers=world.headers("siteadmin"))
    assert response.status_code == 200
    assert_conforms(schema, "GET", "/api/v1/audit/export", response)
    content = schema.raw_schema["paths"]["/api/v1/audit/export"]["get"]["responses"]["200"]
    line_schema = content["content"]["application/x-ndjson"]["schema"]
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert lines
    for line in lines:
        assert set(line) == set(line_schema["properties"]) == set(line_schema["required"])
