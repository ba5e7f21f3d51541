"""Errors that say what to do (issue 19, part 5): a JSON body sent without its
Content-Type, a bbox given latitude first, a file whose extension names no format, a
stream time without an offset."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.sharing_support import assert_problem
from tests.world import OWNER, World

DOCKS_CSV = "station,longitude,latitude\nS1,-0.12,51.50\nS2,-0.10,51.52\n"


def _docks(world: World, client: TestClient) -> str:
    editor = world.headers("admin")  # admins make datasets open
    created = client.post(
        "/api/v1/datasets",
        json={"name": "docks", "organisation": OWNER, "visibility": "open"},
        headers=editor,
    )
    assert created.status_code == 201, created.text
    loaded = client.put(
        "/api/v1/datasets/docks/data",
        content=DOCKS_CSV.encode(),
        headers={**editor, "Content-Type": "text/csv"},
    )
    assert loaded.status_code == 201, loaded.text
    return "/api/v1/datasets/docks/rows"


def test_json_without_a_content_type_says_to_send_one(world: World, client: TestClient) -> None:
    body = b'{"name": "untyped", "organisation": "%s"}' % OWNER.encode()
    refused = client.post("/api/v1/datasets", content=body, headers=world.headers("editor"))
    problem = assert_problem(refused, 415)
    assert "Content-Type: application/json" in problem["detail"]
    assert client.get("/api/v1/datasets/untyped").status_code == 404  # nothing was made


def test_a_json_body_of_the_wrong_shape_is_still_a_bad_request(
    world: World, client: TestClient
) -> None:
    refused = client.post("/api/v1/datasets", json=[1, 2], headers=world.headers("editor"))
    assert "Content-Type" not in assert_problem(refused, 400)["detail"]


def test_a_bbox_out_of_range_as_given_but_not_swapped_is_called_swapped(
    world: World, client: TestClient
) -> None:
    rows = _docks(world, client)
    problem = assert_problem(client.get(rows, params={"bbox": "51.4,-0.2,51.6,-0.05"}), 400)
    assert "latitude before longitude" in problem["detail"]
    assert "minLon,minLat,maxLon,maxLat" in problem["detail"]


def test_a_bbox_in_range_both_ways_that_only_matches_swapped_is_called_swapped(
    world: World, client: TestClient
) -> None:
    rows = _docks(world, client)
    # Valid either way round (both numbers within ±90): only the data tells.
    swapped = client.get(rows, params={"bbox": "51.45,-0.2,51.55,-0.05"})
    assert "latitude before longitude" in assert_problem(swapped, 400)["detail"]
    right = client.get(rows, params={"bbox": "-0.2,51.45,-0.05,51.55"})
    assert right.status_code == 200 and len(right.json()["rows"]) == 2
    elsewhere = client.get(rows, params={"bbox": "10,10,11,11"})  # empty, not swapped
    assert elsewhere.status_code == 200 and elsewhere.json()["rows"] == []


def test_an_unknown_file_extension_lists_the_extensions(world: World, client: TestClient) -> None:
    refused = client.put(
        "/api/v1/datasets/open-counts/data",
        params={"filename": "counts.txt"},
        content=b"junction,cars\nJ1,1\n",
        headers={**world.headers("editor"), "Content-Type": "application/octet-stream"},
    )
    detail = assert_problem(refused, 415)["detail"]
    assert "'counts.txt'" in detail and ".csv, .tsv" in detail and ".xlsx" in detail
    assert "text/csv" not in detail


def test_a_stream_time_without_an_offset_is_taken_as_utc(world: World, client: TestClient) -> None:
    stream = world.streams["open"]
    url = f"/api/v1/streams/{stream}/observations"
    naive = client.get(url, params={"from": "2024-01-01T00:00:00"})
    zoned = client.get(url, params={"from": "2024-01-01T00:00:00Z"})
    assert naive.status_code == 200, naive.text
    assert naive.json() == zoned.json()
    bad = assert_problem(client.get(url, params={"from": "yesterday"}), 400)
    assert "without an offset it is taken as UTC" in bad["detail"]


def test_rows_of_a_sensor_dataset_say_where_its_readings_are(
    world: World, client: TestClient
) -> None:
    name = world.sensor_datasets["open"]
    detail = assert_problem(client.get(f"/api/v1/datasets/{name}/rows"), 404)["detail"]
    assert "live sensor readings, not rows" in detail
    assert f"/api/v1/datasets/{name}/latest" in detail and "/observations" in detail
    created = client.post(
        "/api/v1/datasets",
        json={"name": "empty", "organisation": OWNER},
        headers=world.headers("editor"),
    )
    assert created.status_code == 201, created.text
    empty = client.get("/api/v1/datasets/empty/rows", headers=world.headers("editor"))
    assert "has no data yet: upload a file first" in assert_problem(empty, 404)["detail"]
