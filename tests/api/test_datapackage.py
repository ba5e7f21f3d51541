"""The Frictionless Data Package of a dataset describes what the asker would download."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import frictionless
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets
from cityshare.sharing import grants
from tests.world import World


def test_the_package_describes_metadata_schema_and_the_csv(
    world: World, client: TestClient
) -> None:
    response = client.get("/api/v1/datasets/open-counts/datapackage.json")
    assert response.status_code == 200, response.text
    package = response.json()
    assert package["profile"] == "tabular-data-package"
    assert package["name"] == "open-counts"
    assert package["contributors"] == [{"title": "city", "role": "publisher"}]
    (resource,) = package["resources"]
    assert resource["path"] == "http://testserver/api/v1/datasets/open-counts/rows?_format=csv"
    assert resource["mediatype"] == "text/csv"
    names = [field["name"] for field in resource["schema"]["fields"]]
    assert names == ["junction", "counted_at", "cars", "speed", "note"]
    # The resource is exactly the CSV a client downloads: same columns, in order.
    csv_header = client.get(resource["path"]).text.splitlines()[0]
    assert csv_header.split(",") == names


def test_a_grantee_gets_the_package_of_its_own_view(world: World, client: TestClient) -> None:
    admin = console_actor(world.site, "admin")
    spec = {
        "organisation": "partner",
        "purpose": "a study",
        "expires_at": datetime.now(UTC) + timedelta(days=1),
        "columns": ["junction", "cars", "note"],
        "pseudonymised": ["note"],
    }
    grants.create_grant(world.site, admin, "private-counts", spec)
    url = "/api/v1/datasets/private-counts/datapackage.json"
    package = client.get(url, headers=world.headers("outsider")).json()
    fields = package["resources"][0]["schema"]["fields"]
    assert [field["name"] for field in fields] == ["junction", "cars", "note"]
    assert fields[2]["type"] == "string" and fields[2]["x-cityshare-pseudonymised"] is True
    owner = client.get(url, headers=world.headers("member")).json()
    assert len(owner["resources"][0]["schema"]["fields"]) == 5


def test_invisible_datasets_and_datasets_without_data(world: World, client: TestClient) -> None:
    hidden = client.get("/api/v1/datasets/private-counts/datapackage.json")
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    admin = console_actor(world.site, "admin")
    datasets.create_dataset(world.site, admin, organisation="city", name="empty", visibility="open")
    empty = client.get("/api/v1/datasets/empty/datapackage.json")
    assert empty.status_code == 404 and "no data yet" in empty.json()["detail"]


def test_a_sensor_dataset_is_one_resource_per_stream_and_frictionless_agrees(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    assert world.station is not None
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [("no2-open", now - timedelta(minutes=minute), 40.0 + minute) for minute in range(3)]
    body, headers = world.station.signed(readings)
    assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 201
    name = world.sensor_datasets["open"]
    package = client.get(f"/api/v1/datasets/{name}/datapackage.json").json()
    (resource,) = package["resources"]
    assert resource["name"] == f"stream-{world.streams['open']}"
    assert resource["schema"]["fields"][1] == {
        "name": "value",
        "type": "number",
        "description": "no2 (µg/m³)",
    }
    # frictionless reads the CSV the API serves and checks every row against the schema.
    (tmp_path / "stream.csv").write_bytes(client.get(resource["path"]).content)
    resource["path"] = "stream.csv"
    descriptor = tmp_path / "datapackage.json"
    descriptor.write_text(json.dumps(package))
    report = frictionless.validate(str(descriptor))
    assert report.valid, report.flatten(["type", "note"])
    assert report.tasks[0].stats["rows"] == 3
    resource["schema"]["fields"][6]["type"] = "integer"  # "verified" is true/false
    descriptor.write_text(json.dumps(package))
    assert not frictionless.validate(str(descriptor)).valid
