"""The Frictionless Data Package of a dataset describes what the asker would download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from cityshare.cli_support import console_actor
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


def test_invisible_and_sensor_datasets(world: World, client: TestClient) -> None:
    hidden = client.get("/api/v1/datasets/private-counts/datapackage.json")
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    sensor = client.get(f"/api/v1/datasets/{world.sensor_datasets['open']}/datapackage.json")
    assert sensor.status_code == 409
    assert "streams" in sensor.json()["detail"]
