"""Reading a stream's history: ranges, keyset paging, buckets, latest values, exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from cityshare.site import Site
from tests.sensors import Device, add_device, add_sensor_dataset
from tests.world import World

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


def at(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def station(world: World, client: TestClient) -> Device:
    """A device with 250 readings a minute apart (values 0..249) and one boolean reading."""
    add_sensor_dataset(world.site, "air-live")
    device = add_device(
        world.site,
        "kirkgate",
        dataset="air-live",
        streams={"no2": ("no2", "number"), "open": ("door", "boolean"), "idle": ("x", "number")},
    )
    readings = [("no2", START + timedelta(minutes=i), float(i)) for i in range(250)]
    readings.append(("open", START, True))
    body, headers = device.signed(readings)
    assert client.post("/api/v1/ingest", content=body, headers=headers).status_code == 201
    return device


def observations_of(client: TestClient, stream: int, query: str = "") -> Any:
    return client.get(f"/api/v1/streams/{stream}/observations{query}")


def test_keyset_pages_cover_every_reading_once_in_order(
    client: TestClient, station: Device
) -> None:
    for order, expected in (("time", list(range(250))), ("-time", list(range(249, -1, -1)))):
        seen: list[float] = []
        query = f"?_limit=100&_sort={order}"
        while True:
            page = observations_of(client, station.streams["no2"], query).json()
            seen.extend(reading["value"] for reading in page["observations"])
            if page["next"] is None:
                break
            query = f"?_limit=100&_sort={order}&_next={page['next']}"
        assert seen == [float(value) for value in expected]


def test_a_time_range_is_from_inclusive_to_exclusive(client: TestClient, station: Device) -> None:
    page = observations_of(
        client, station.streams["no2"], f"?from={at(600)}&to={at(1200)}&_limit=1000"
    ).json()
    assert [reading["value"] for reading in page["observations"]] == [
        float(i) for i in range(10, 20)
    ]
    assert page["observations"][0]["time"] == at(600)


def test_buckets_aggregate_per_interval(client: TestClient, station: Device) -> None:
    page = observations_of(
        client,
        station.streams["no2"],
        f"?from={at(0)}&to={at(3600)}&_bucket=15m&_agg=avg,min,max,count,sum",
    ).json()
    assert page["buckets"] == [
        {
            "bucket": at(900 * k),
            "avg": 15 * k + 7.0,
            "min": 15.0 * k,
            "max": 15.0 * k + 14,
            "count": 15,
            "sum": sum(float(v) for v in range(15 * k, 15 * k + 15)),
        }
        for k in range(4)
    ]


def test_bucket_pages_continue_after_the_last_bucket(client: TestClient, station: Device) -> None:
    starts: list[str] = []
    query = "?_bucket=1h&_agg=count&_limit=2"
    while True:
        page = observations_of(client, station.streams["no2"], query).json()
        starts.extend(bucket["bucket"] for bucket in page["buckets"])
        if page["next"] is None:
            break
        query = f"?_bucket=1h&_agg=count&_limit=2&_next={page['next']}"
    assert starts == [at(3600 * h) for h in range(5)]  # 250 minutes span five hours


def test_latest_has_the_newest_reading_of_every_stream(client: TestClient, station: Device) -> None:
    latest = client.get("/api/v1/datasets/air-live/latest").json()
    by_name = {item["name"]: item for item in latest["streams"]}
    assert by_name["no2"]["value"] == 249.0 and by_name["no2"]["time"] == at(249 * 60)
    assert by_name["open"]["value"] is True
    assert by_name["idle"]["time"] is None and by_name["idle"]["value"] is None
    assert by_name["no2"]["device"]["location"]["type"] == "Point"


def test_csv_and_ndjson_exports_hold_every_reading(client: TestClient, station: Device) -> None:
    exported = observations_of(client, station.streams["no2"], "?_format=csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 250 and rows[0]["value"] == "0.0" and rows[0]["verified"] == "true"
    lines = observations_of(client, station.streams["no2"], "?_format=ndjson&_bucket=1h").content
    buckets = [orjson.loads(line) for line in lines.splitlines()]
    assert sum(bucket["count"] for bucket in buckets) == 250


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?since=2026-01-01T00:00:00Z", "since"),
        ("?from=yesterday", "from"),
        ("?from=2026-01-01T25:00:00", "from"),
        ("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("?_bucket=5x", "_bucket"),
        ("?_bucket=0m", "_bucket"),
        ("?_bucket=400d", "_bucket"),
        ("?_bucket=5m&_agg=median", "_agg"),
        ("?_agg=avg", "_agg"),
        ("?_limit=0", "_limit"),
        ("?_limit=10001", "_limit"),
        ("?_sort=value", "_sort"),
        ("?_format=xml", "_format"),
        ("?_next=abc.def", "_next"),
        ("?_limit=5&_limit=6", "_limit"),
    ],
)
def test_bad_parameters_get_a_problem_naming_them(
    client: TestClient, station: Device, query: str, parameter: str
) -> None:
    response = observations_of(client, station.streams["no2"], query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == parameter


def test_a_cursor_works_only_for_its_own_stream_and_range(
    client: TestClient, site: Site, station: Device
) -> None:
    no2 = station.streams["no2"]
    cursor = observations_of(client, no2, "?_limit=10").json()["next"]
    assert observations_of(client, no2, f"?_limit=10&_next={cursor}").status_code == 200
    for query in (
        f"?_limit=10&_next={cursor}&_sort=-time",
        f"?_limit=10&_next={cursor}&from={at(0)}",
    ):
        assert observations_of(client, station.streams["no2"], query).status_code == 400
    assert observations_of(client, station.streams["open"], f"?_next={cursor}").status_code == 400
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert observations_of(client, no2, f"?_next={tampered}").status_code == 400


def test_private_streams_do_not_exist_for_outsiders(client: TestClient, world: World) -> None:
    private_stream = world.streams["private"]
    for kind in ("anonymous", "outsider"):
        response = client.get(
            f"/api/v1/streams/{private_stream}/observations", headers=world.headers(kind)
        )
        assert response.status_code == 404
    member = client.get(
        f"/api/v1/streams/{private_stream}/observations", headers=world.headers("member")
    )
    assert member.status_code == 200
    listed = client.get("/api/v1/streams/999999", headers=world.headers("siteadmin"))
    assert listed.status_code == 404
