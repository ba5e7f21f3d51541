"""``POST /api/v1/ingest`` is answered past Starlette's and FastAPI's layers; cityshare's
guards (body limit, token rules, rate limits) and the edge layers still apply to it, and
its errors still leave as problem+json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from cityshare.app import create_app
from cityshare.config import Limits
from cityshare.runtime import Runtime
from cityshare.site import Site
from tests.api.test_ingest import post, stored
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import World, build_world, make_site

NOW = datetime.now(UTC)


def minute(n: int) -> datetime:
    return NOW - timedelta(minutes=n)


def problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert "Traceback" not in response.text and "SELECT" not in response.text  # type: ignore[attr-defined]
    return response.json()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def station(world: World) -> Device:
    add_sensor_dataset(world.site, "air-live")
    return add_device(
        world.site, "kirkgate", dataset="air-live", streams={"no2": ("no2", "number")}
    )


def sensor_site(database_url: str, folder: Path, name: str, **settings: Any) -> tuple[Site, Device]:
    """A populated site with ``settings`` and one device feeding ``no2``."""
    site = make_site(database_url, folder, **settings)
    build_world(site, folder)
    add_sensor_dataset(site, "air-live")
    return site, add_device(site, name, dataset="air-live", streams={"no2": ("no2", "number")})


def test_an_acknowledgement_carries_the_security_headers(
    client: TestClient, station: Device
) -> None:
    response = post(client, *station.signed([("no2", minute(1), 1.0)]))
    assert response.status_code == 201
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["accepted"] == 1


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    database_url: str, tmp_path: Path
) -> None:
    site, device = sensor_site(
        database_url, tmp_path, "big", limits=Limits(max_json_body_bytes=1024)
    )
    try:
        body, headers = device.signed([("no2", minute(n), float(n)) for n in range(1, 40)])
        assert len(body) > 1024
        with TestClient(create_app(Runtime(site)), raise_server_exceptions=False) as http:
            found = problem(post(http, body, headers), 413)
            assert "1024" in str(found["detail"])
            # Sent in chunks without a length, it is cut off as it streams.
            chunks = iter([body[:600], body[600:]])
            streamed = http.post("/api/v1/ingest", content=chunks, headers=headers)
            problem(streamed, 413)
        assert stored(site) == 0
    finally:
        site.close()


def test_a_token_in_the_query_string_is_refused(client: TestClient, station: Device) -> None:
    body, headers = station.signed([("no2", minute(1), 1.0)])
    response = client.post("/api/v1/ingest?access_token=abc", content=body, headers=headers)
    assert "query string" in str(problem(response, 400)["detail"])


def test_requests_from_one_address_are_rate_limited(database_url: str, tmp_path: Path) -> None:
    site, device = sensor_site(
        database_url,
        tmp_path,
        "busy",
        rate_limit_address_per_second=0.01,
        rate_limit_address_burst=2,
    )
    try:
        with TestClient(create_app(Runtime(site)), raise_server_exceptions=False) as http:
            answers = [post(http, *device.signed([("no2", minute(n), 1.0)])) for n in (1, 2, 3)]
        assert [a.status_code for a in answers[:2]] == [201, 201]
        problem(answers[2], 429)
        assert int(answers[2].headers["retry-after"]) >= 1
        assert stored(site) == 2
    finally:
        site.close()


def test_a_failure_of_the_store_is_a_500_problem_with_a_reference(
    client: TestClient, site: Site, station: Device
) -> None:
    with site.engine.begin() as connection:
        connection.execute(text("DROP TABLE observations"))
    found = problem(post(client, *station.signed([("no2", minute(1), 1.0)])), 500)
    assert len(str(found["reference"])) == 16
    assert "observations" not in str(found)


def test_other_methods_get_a_405_problem(client: TestClient) -> None:
    assert "GET" in str(problem(client.get("/api/v1/ingest"), 405)["detail"])
