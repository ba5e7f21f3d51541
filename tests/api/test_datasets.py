"""Datasets over HTTP: metadata, uploads, versions and the rows they serve."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import inspect
from starlette.testclient import TestClient

from tests.world import OWNER, World

CSV_V2 = "junction,counted_at,cars,speed,note\nJ9,2024-03-05T08:00:00Z,7,12.5,later\n"


def test_create_read_update_delete(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    created = client.post(
        "/api/v1/datasets",
        json={
            "name": "parking-bays",
            "organisation": OWNER,
            "title": "Parking bays",
            "tags": ["parking", "parking", "kerbside"],
            "licence": "CC-BY-4.0",
            "update_frequency": "daily",
            "spatial": {"type": "Point", "coordinates": [-1.55, 53.8]},
            "temporal": {"start": "2024-01-01", "end": "2024-12-31"},
        },
        headers=editor,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["visibility"] == "private"  # private until an admin opens it
    assert body["tags"] == ["parking", "kerbside"]
    assert body["current_version"] is None
    patched = client.patch(
        "/api/v1/datasets/parking-bays", json={"description": "Bays."}, headers=editor
    )
    assert patched.json()["description"] == "Bays."
    opened = client.patch(
        "/api/v1/datasets/parking-bays", json={"visibility": "open"}, headers=editor
    )
    assert opened.status_code == 403  # editors may not change visibility
    admin = world.headers("admin")
    assert (
        client.patch(
            "/api/v1/datasets/parking-bays", json={"visibility": "open"}, headers=admin
        ).json()["visibility"]
        == "open"
    )
    assert client.get("/api/v1/datasets/parking-bays").status_code == 200
    assert client.delete("/api/v1/datasets/parking-bays", headers=admin).status_code == 204
    assert client.get("/api/v1/datasets/parking-bays", headers=admin).status_code == 404


def test_names_are_unique_and_checked(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    again = client.post(
        "/api/v1/datasets", json={"name": "open-counts", "organisation": OWNER}, headers=editor
    )
    assert again.status_code == 409
    for bad in ("Bad Name", "../etc", "a" * 101, "-x", "x;drop"):
        response = client.post(
            "/api/v1/datasets", json={"name": bad, "organisation": OWNER}, headers=editor
        )
        assert response.status_code == 400, bad


def test_mass_assignment_is_refused(world: World, client: TestClient) -> None:
    admin = world.headers("admin")
    for field, value in (
        ("organisation", "partner"),
        ("created_by", 1),
        ("name", "renamed"),
        ("current_version", 9),
    ):
        response = client.patch("/api/v1/datasets/open-counts", json={field: value}, headers=admin)
        assert response.status_code == 400, field
    assert client.get("/api/v1/datasets/open-counts").json()["organisation"] == OWNER


def test_bad_metadata_gets_clear_errors(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    cases = {
        "visibility": "secret",
        "licence": "not a licence!",
        "update_frequency": "sometimes",
        "spatial": {"type": "Point", "coordinates": [500, 0]},
        "temporal": {"start": "2024-12-01", "end": "2024-01-01"},
    }
    for field, value in cases.items():
        response = client.patch("/api/v1/datasets/open-counts", json={field: value}, headers=editor)
        assert response.status_code in (400, 403), field
        assert response.json()["detail"]


def test_upload_makes_versions_and_old_ones_stay_queryable(
    world: World, client: TestClient
) -> None:
    editor = world.headers("editor")
    response = client.put(
        "/api/v1/datasets/open-counts/data",
        content=CSV_V2.encode(),
        headers={**editor, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["number"] == 2 and response.json()["row_count"] == 1
    current = client.get("/api/v1/datasets/open-counts/rows").json()
    assert [row["junction"] for row in current["rows"]] == ["J9"]
    old = client.get("/api/v1/datasets/open-counts/rows?_version=1").json()
    assert [row["junction"] for row in old["rows"]] == ["J1", "J2", "J1"]
    listed = client.get("/api/v1/datasets/open-counts/versions").json()
    assert [item["number"] for item in listed] == [2, 1]
    assert client.get("/api/v1/datasets/open-counts/rows?_version=7").status_code == 404


def test_failed_upload_leaves_the_current_version_intact(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    tables_before = set(inspect(world.site.engine).get_table_names())
    bad = "junction,cars\nJ1,10\nJ2,11,12\n"  # a ragged row
    response = client.put(
        "/api/v1/datasets/open-counts/data",
        content=bad.encode(),
        headers={**editor, "Content-Type": "text/csv"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "row" in response.json()["detail"].lower()
    assert client.get("/api/v1/datasets/open-counts").json()["current_version"] == 1
    assert len(client.get("/api/v1/datasets/open-counts/rows").json()["rows"]) == 3
    assert set(inspect(world.site.engine).get_table_names()) == tables_before


def test_cell_that_does_not_fit_the_schema_is_named(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    schema = {
        "fields": [{"name": "junction", "type": "string"}, {"name": "cars", "type": "integer"}]
    }
    response = client.put(
        "/api/v1/datasets/open-counts/data",
        files={
            "file": ("counts.csv", b"junction,cars\nJ1,10\nJ2,many\n", "text/csv"),
            "schema": (None, json.dumps(schema)),
        },
        headers=editor,
    )
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "cars" in detail and "many" in detail and "2" in detail


def test_upload_refusals(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    url = "/api/v1/datasets/open-counts/data"
    assert (
        client.put(url, content=b"", headers={**editor, "Content-Type": "text/csv"}).status_code
        == 400
    )
    wrong_type = client.put(url, content=b"x", headers={**editor, "Content-Type": "image/png"})
    assert wrong_type.status_code == 415
    limit = world.site.settings.limits.max_upload_bytes
    too_big = client.put(
        url,
        content=b"a",
        headers={**editor, "Content-Type": "text/csv", "Content-Length": str(limit + 1)},
    )
    assert too_big.status_code == 413
    assert client.get("/api/v1/datasets/open-counts").json()["current_version"] == 1


def test_header_names_that_look_like_sql_are_just_names(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    body = 'select,"it\'s","a""b",drop table x\n1,2,3,4\n'
    response = client.put(
        "/api/v1/datasets/open-counts/data",
        content=body.encode(),
        headers={**editor, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    rows = client.get("/api/v1/datasets/open-counts/rows").json()["rows"]
    assert rows == [{"select": 1, "it's": 2, 'a"b': 3, "drop table x": 4}]
    filtered = client.get("/api/v1/datasets/open-counts/rows", params={"select__gte": "1"})
    assert len(filtered.json()["rows"]) == 1


def test_formula_cells_are_stored_as_text_and_neutralised_on_export(
    world: World, client: TestClient
) -> None:
    rows = client.get("/api/v1/datasets/open-counts/rows?_fields=note").json()["rows"]
    assert rows[2]["note"] == '=HYPERLINK("http://x")'
    exported = client.get("/api/v1/datasets/open-counts/rows?_format=csv&_fields=note").text
    cells = [row[0] for row in csv.reader(io.StringIO(exported))]
    assert cells[0] == "note"
    assert '\'=HYPERLINK("http://x")' in cells


def test_queries_filter_sort_page_and_aggregate(world: World, client: TestClient) -> None:
    url = "/api/v1/datasets/open-counts/rows"
    by_junction = client.get(url, params={"junction": "J1", "_sort": "-cars"}).json()
    assert [row["cars"] for row in by_junction["rows"]] == [120, 95]
    first = client.get(url, params={"_limit": "2", "_count": "true"}).json()
    assert first["total"] == 3 and len(first["rows"]) == 2 and first["next"]
    second = client.get(url, params={"_limit": "2", "_next": first["next"]}).json()
    assert [row["junction"] for row in second["rows"]] == ["J1"] and second["next"] is None
    groups = client.get(url, params={"_group": "junction", "_agg": "count,sum:cars"}).json()
    totals = {group["junction"]: group["sum:cars"] for group in groups["groups"]}
    assert totals == {"J1": 215, "J2": 80}


def test_bad_queries_are_400_problems(world: World, client: TestClient) -> None:
    url = "/api/v1/datasets/open-counts/rows"
    for params in (
        {"nope": "1"},
        {"cars__between": "1"},
        {"cars": "many"},
        {"_limit": "1000000000"},
        {"_next": "garbage"},
        {"_sort": "cars; DROP TABLE datasets"},
        {"junction' OR 1=1 --": "x"},
    ):
        response = client.get(url, params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in response.text and "SELECT" not in response.text


def test_nulls_clear_optional_fields_and_are_refused_for_required_ones(
    world: World, client: TestClient
) -> None:
    admin = world.headers("admin")
    url = "/api/v1/datasets/open-counts"
    for field in ("title", "tags", "visibility"):
        response = client.patch(url, json={field: None}, headers=admin)
        assert response.status_code == 400, field
        assert field in response.json()["detail"]
    client.patch(url, json={"description": "Counts", "licence": "CC0-1.0"}, headers=admin)
    cleared = client.patch(url, json={"description": None, "licence": None}, headers=admin)
    assert cleared.status_code == 200
    assert cleared.json()["description"] == "" and cleared.json()["licence"] is None


def test_only_admins_publish_openly_at_creation(world: World, client: TestClient) -> None:
    body = {"name": "bus-stops", "organisation": OWNER, "visibility": "open"}
    assert (
        client.post("/api/v1/datasets", json=body, headers=world.headers("editor")).status_code
        == 403
    )
    assert (
        client.get("/api/v1/datasets/bus-stops", headers=world.headers("admin")).status_code == 404
    )
    assert (
        client.post("/api/v1/datasets", json=body, headers=world.headers("admin")).status_code
        == 201
    )


def test_an_organisation_keeps_at_least_one_admin(world: World, client: TestClient) -> None:
    admin = world.headers("admin")
    members = "/api/v1/organisations/city/members/admin-user"
    demoted = client.put(members, json={"role": "member"}, headers=admin)
    assert demoted.status_code == 409
    assert client.delete(members, headers=admin).status_code == 409
    roles = {
        m["username"]: m["role"]
        for m in client.get("/api/v1/organisations/city/members", headers=admin).json()
    }
    assert roles["admin-user"] == "admin"


def test_client_file_names_never_become_paths(world: World, client: TestClient) -> None:
    editor = world.headers("editor")
    for hostile in ("../../etc/passwd.csv", "..\\..\\boot.csv", "/abs/x.csv", "a\x00b.csv"):
        response = client.put(
            "/api/v1/datasets/open-counts/data",
            params={"filename": hostile},
            content=b"junction,cars\nJ1,1\n",
            headers={**editor, "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, (hostile, response.text)
        recorded = response.json()["source_name"]
        assert "/" not in recorded and "\\" not in recorded and ".." not in recorded
        assert "\x00" not in recorded
    leftovers = list((world.site.settings.data_dir / "uploads").iterdir())
    assert leftovers == []  # spooled uploads are removed after loading
