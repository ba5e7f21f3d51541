"""The bounds of a grant hold for every way of reading: columns not granted do not exist,
rows outside the row filter do not exist, small groups are suppressed, pseudonymised
columns never show their real values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.bounds.view import pseudonym_key
from cityshare.catalogue import datasets, versions
from tests.sharing_support import (
    add_user,
    assert_problem,
    csv_records,
    make_grant,
    ndjson_records,
    row_keys,
    rows_url,
)
from tests.world import OWNER, World

PSEUDONYM = re.compile(r"[0-9a-f]{32}")
STATIONS_CSV = (
    "station,lon,lat,junction,plate\n"
    "S1,-1.55,53.80,J1,AB12CDE\n"
    "S2,-1.50,53.81,J2,XY34ZZZ\n"
    "S3,-1.54,53.79,J1,QQ99QQQ\n"
)


def get(client: TestClient, name: str, headers: dict[str, str], **params: str) -> Any:
    return client.get(rows_url(name), params=params, headers=headers)


def all_pages(
    client: TestClient, name: str, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    """Every row of a query, page by page through ``next`` cursors."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):
        extra = {} if cursor is None else {"_next": cursor}
        response = get(client, name, headers, **params, **extra)
        assert response.status_code == 200, response.text
        rows.extend(response.json()["rows"])
        cursor = response.json()["next"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


def same_problem(first: Any, second: Any, first_name: str, second_name: str) -> None:
    """Two refusals that differ only by the name asked for."""
    one, other = assert_problem(first, 400), assert_problem(second, 400)
    assert one["detail"].replace(first_name, "?") == other["detail"].replace(second_name, "?")
    assert one.get("parameter", "").replace(first_name, "?") == other.get("parameter", "").replace(
        second_name, "?"
    )


def test_columns_not_granted_cannot_be_reached(world: World, client: TestClient) -> None:
    private = world.datasets["private"]
    grantee = add_user(world, "columnist")
    make_grant(
        client,
        world,
        private,
        user="columnist",
        columns=["junction", "counted_at", "cars"],
        row_filter={"speed__lt": "40"},  # a bound on a column the grantee does not see
    )
    visible = {"junction", "counted_at", "cars"}
    answer = get(client, private, grantee)
    assert row_keys(answer) == visible
    assert [row["cars"] for row in answer.json()["rows"]] == [120, 95]
    assert "speed" not in answer.text and "note" not in answer.text
    assert "morning" not in answer.text
    assert row_keys(get(client, private, grantee, _fields="cars,junction")) == {"cars", "junction"}

    # Hidden columns are refused exactly like columns that do not exist.
    for parameter, template in (
        ("_fields", "junction,{}"),
        ("_sort", "-{}"),
        ("_group", "{}"),
        ("_agg", "avg:{}"),
        ("_agg", "count:{}"),
        ("_agg", "max:{}"),
        ("{}", "1"),
        ("{}__gt", "1"),
        ("{}__isnull", "true"),
        ("_bucket", "{}:1h"),
    ):
        for hidden in ("speed", "note"):
            asks = {parameter.format(hidden): template.format(hidden)}
            missing = {parameter.format("nosuch"): template.format("nosuch")}
            same_problem(
                get(client, private, grantee, **asks),
                get(client, private, grantee, **missing),
                hidden,
                "nosuch",
            )
    problem = assert_problem(get(client, private, grantee, _fields="speed"), 400)
    assert "note" not in problem["detail"]  # the list of fields names only granted ones

    # Exports.
    header = csv_records(get(client, private, grantee, _format="csv"))[0]
    assert header == ["junction", "counted_at", "cars"]
    assert [
        set(record) for record in ndjson_records(get(client, private, grantee, _format="ndjson"))
    ] == [
        visible,
        visible,
    ]
    grouped = csv_records(get(client, private, grantee, _format="csv", _group="junction"))
    assert grouped == [["junction", "count"], ["J1", "2"]]

    # Aggregates over granted columns work; the schema lists granted fields only.
    groups = get(client, private, grantee, _group="junction", _agg="count,avg:cars").json()
    assert groups["groups"] == [{"junction": "J1", "count": 2, "avg:cars": 107.5}]
    schema = client.get(f"/api/v1/datasets/{private}/schema", headers=grantee).json()
    assert [field["name"] for field in schema["fields"]] == ["junction", "counted_at", "cars"]
    version = client.get(f"/api/v1/datasets/{private}/versions/1", headers=grantee).json()
    assert [field["name"] for field in version["schema"]["fields"]] == [
        "junction",
        "counted_at",
        "cars",
    ]
    assert "speed" not in json.dumps(schema) and "note" not in json.dumps(version)

    # Cursors: pages carry granted columns only; an owner's cursor over a hidden sort
    # key is no way in.
    pages = all_pages(client, private, grantee, _limit="1", _sort="-cars")
    assert [row["cars"] for row in pages] == [120, 95]
    assert all(set(row) == visible for row in pages)
    owner = get(client, private, world.headers("member"), _sort="speed", _limit="1").json()
    assert owner["next"]
    replayed = get(client, private, grantee, _limit="1", _next=owner["next"])
    assert_problem(replayed, 400)
    assert_problem(get(client, private, grantee, _sort="speed", _next=owner["next"]), 400)


def test_geojson_export_leaves_hidden_columns_out(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    admin = console_actor(world.site, "admin")
    datasets.create_dataset(world.site, admin, organisation=OWNER, name="stations")
    source = tmp_path / "stations.csv"
    source.write_text(STATIONS_CSV)
    versions.publish_version(world.site, admin, "stations", source=source, media_type="text/csv")
    grantee = add_user(world, "mapper")
    make_grant(
        client,
        world,
        "stations",
        user="mapper",
        columns=["station", "lon", "lat"],
        row_filter={"junction": "J1"},
    )
    owner_view = get(client, "stations", world.headers("member"), _format="geojson").json()
    assert len(owner_view["features"]) == 3  # the owner's export has every row
    response = get(client, "stations", grantee, _format="geojson")
    assert response.status_code == 200, response.text
    collection = response.json()
    assert [feature["properties"] for feature in collection["features"]] == [
        {"station": "S1", "lon": -1.55, "lat": 53.8},
        {"station": "S3", "lon": -1.54, "lat": 53.79},
    ]
    assert collection["features"][0]["geometry"] == {
        "type": "Point",
        "coordinates": [-1.55, 53.8],
    }
    for secret in ("plate", "AB12CDE", "QQ99QQQ", "XY34ZZZ", "S2", "junction"):
        assert secret not in response.text, secret
    limited = get(client, "stations", grantee, _format="geojson", _limit="1")
    assert [f["properties"]["station"] for f in limited.json()["features"]] == ["S1"]
    link = limited.headers["link"]
    following = re.search(r"<([^>]+)>", link)
    assert following is not None
    rest = client.get(following.group(1), headers=grantee)
    assert [f["properties"]["station"] for f in rest.json()["features"]] == ["S3"]
    assert "plate" not in rest.text


def test_rows_outside_the_row_filter_do_not_exist(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    grantee = add_user(world, "filtered")
    grant = make_grant(
        client, world, shared, user="filtered", row_filter={"junction": "J1", "cars__gte": 90}
    )
    assert grant["row_filter"] == {"junction": "J1", "cars__gte": "90"}
    counted = get(client, shared, grantee, _count="true").json()
    assert counted["total"] == 2
    assert [(row["junction"], row["cars"]) for row in counted["rows"]] == [("J1", 120), ("J1", 95)]
    # Asking for the excluded rows gives nothing, not an error.
    none = get(client, shared, grantee, junction="J2", _count="true").json()
    assert none["rows"] == [] and none["total"] == 0
    assert get(client, shared, grantee, cars__lt="90", _count="true").json()["total"] == 0
    # A filter of one's own narrows further, and never widens.
    assert get(client, shared, grantee, cars__gte="100", _count="true").json()["total"] == 1
    assert get(client, shared, grantee, cars__gte="0", _count="true").json()["total"] == 2

    # Aggregates.
    by_junction = get(client, shared, grantee, _group="junction", _agg="count,sum:cars").json()
    assert by_junction["groups"] == [{"junction": "J1", "count": 2, "sum:cars": 215}]
    whole = get(client, shared, grantee, _agg="count,min:cars,max:speed").json()
    assert whole["groups"] == [{"count": 2, "min:cars": 95, "max:speed": 35.25}]
    hours = get(client, shared, grantee, _bucket="counted_at:1d").json()
    assert hours["groups"] == [{"counted_at": "2024-03-04T00:00:00Z", "count": 2}]

    # Sorting orders the rows in the filter only.
    ascending = get(client, shared, grantee, _sort="cars").json()["rows"]
    assert [row["cars"] for row in ascending] == [95, 120]

    # Exports.
    exported = csv_records(get(client, shared, grantee, _format="csv"))
    assert [record[0] for record in exported] == ["junction", "J1", "J1"]
    assert "J2" not in get(client, shared, grantee, _format="ndjson").text
    assert "80" not in get(client, shared, grantee, _format="csv", _fields="cars").text
    grouped = csv_records(get(client, shared, grantee, _format="csv", _group="junction"))
    assert grouped == [["junction", "count"], ["J1", "2"]]
    part = get(client, shared, grantee, _format="ndjson", _limit="1")
    assert [record["cars"] for record in ndjson_records(part)] == [120]
    link = re.search(r"<([^>]+)>", part.headers["link"])
    assert link is not None
    rest = client.get(link.group(1), headers=grantee)
    assert [record["cars"] for record in ndjson_records(rest)] == [95]
    assert "link" not in rest.headers

    # Pages.
    assert [row["cars"] for row in all_pages(client, shared, grantee, _limit="1")] == [120, 95]
    assert [
        row["cars"] for row in all_pages(client, shared, grantee, _limit="1", _sort="-speed")
    ] == [
        95,
        120,
    ]


def test_an_owners_cursor_does_not_lead_outside_the_filter(
    world: World, client: TestClient
) -> None:
    shared = world.datasets["shared"]
    grantee = add_user(world, "replayer")
    make_grant(client, world, shared, user="replayer", row_filter={"junction": "J1"})
    owner = world.headers("member")
    cursors = []
    for params in ({"_limit": "1"}, {"_limit": "2"}, {"_limit": "1", "_sort": "cars"}):
        page = get(client, shared, owner, **params).json()
        assert page["next"], params
        cursors.append((params, page["next"]))
    # Even the owner's own filtered query: replaying it must stay inside the filter.
    filtered = get(client, shared, owner, junction="J1", _limit="1").json()
    cursors.append(({"_limit": "1"}, filtered["next"]))
    for params, cursor in cursors:
        for extra in ({}, {"junction": "J1"}, {"junction": "J2"}):
            replay = get(client, shared, grantee, **params, **extra, _next=cursor)
            if replay.status_code == 400:
                assert_problem(replay, 400)
                continue
            assert replay.status_code == 200, replay.text
            assert {row["junction"] for row in replay.json()["rows"]} <= {"J1"}, (params, extra)
            for fmt in ("csv", "ndjson"):
                exported = get(
                    client, shared, grantee, **params, **extra, _next=cursor, _format=fmt
                )
                assert "J2" not in exported.text, (params, extra, fmt)
    # A cursor of the grantee's own stays inside too.
    mine = get(client, shared, grantee, _limit="1").json()
    assert mine["next"]
    assert [
        row["cars"] for row in get(client, shared, grantee, _next=mine["next"]).json()["rows"]
    ] == [95]


def test_small_groups_are_left_out(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    grantee = add_user(world, "aggregator")
    make_grant(client, world, shared, user="aggregator", min_group_size=2)
    by_junction = get(client, shared, grantee, _group="junction").json()
    assert by_junction["groups"] == [{"junction": "J1", "count": 2}]  # J2 has one row
    # The owner sees both groups.
    owner = get(client, shared, world.headers("member"), _group="junction").json()
    assert owner["groups"] == [{"junction": "J1", "count": 2}, {"junction": "J2", "count": 1}]
    sorted_groups = get(
        client, shared, grantee, _group="junction", _agg="avg:cars", _sort="-avg:cars"
    )
    assert [group["junction"] for group in sorted_groups.json()["groups"]] == ["J1"]
    assert get(client, shared, grantee, _group="junction,cars").json()["groups"] == []
    assert get(client, shared, grantee, _bucket="counted_at:1h").json()["groups"] == []
    assert get(client, shared, grantee, _agg="count").json()["groups"] == [{"count": 3}]
    assert get(client, shared, grantee, _agg="count", junction="J2").json()["groups"] == []
    exported = csv_records(get(client, shared, grantee, _group="junction", _format="csv"))
    assert exported == [["junction", "count"], ["J1", "2"]]
    lines = ndjson_records(get(client, shared, grantee, _group="note", _format="ndjson"))
    assert lines == []


def pseudonym(world: World, grant_id: int, value: str) -> str:
    key = pseudonym_key(world.site.secret_key, grant_id)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def test_pseudonymised_columns(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    first, second = add_user(world, "first-analyst"), add_user(world, "second-analyst")
    terms: dict[str, Any] = {
        "columns": ["junction", "cars", "note"],
        "pseudonymised": ["junction", "note"],
    }
    grant_one = make_grant(client, world, shared, user="first-analyst", **terms)
    grant_two = make_grant(client, world, shared, user="second-analyst", **terms)
    assert grant_one["pseudonymised"] == ["junction", "note"]

    rows_one = get(client, shared, first).json()["rows"]
    rows_two = get(client, shared, second).json()["rows"]
    junctions = [row["junction"] for row in rows_one]
    assert all(PSEUDONYM.fullmatch(value) for value in junctions)
    assert junctions[0] == junctions[2] != junctions[1]  # J1, J2, J1
    assert junctions[0] == pseudonym(world, grant_one["id"], "J1")
    assert junctions[1] == pseudonym(world, grant_one["id"], "J2")
    assert [row["cars"] for row in rows_one] == [120, 80, 95]  # not pseudonymised
    other = [row["junction"] for row in rows_two]
    assert other[0] == other[2] != other[1]
    assert other[0] == pseudonym(world, grant_two["id"], "J1")
    assert set(other).isdisjoint(junctions)  # unlinkable across grants
    assert rows_one[0]["note"] == pseudonym(world, grant_one["id"], "morning")
    assert rows_one[1]["note"] is None  # a missing value stays missing

    def shows_nothing_real(text: str) -> None:
        for real in ("J1", "J2", "morning", "HYPERLINK"):
            assert real not in text, (real, text[:300])

    answers = [
        get(client, shared, first),
        get(client, shared, first, _fields="junction"),
        get(client, shared, first, _format="csv"),
        get(client, shared, first, _format="ndjson"),
        get(client, shared, first, _group="junction"),
        get(client, shared, first, _group="junction,note", _agg="count,sum:cars,count:note"),
        get(client, shared, first, _group="junction", _format="csv"),
        get(client, shared, first, _group="note", _format="ndjson"),
        get(client, shared, first, _agg="count:junction"),
        get(client, shared, first, _group="junction", _sort="-count"),
        get(client, shared, first, _limit="1"),
        client.get(f"/api/v1/datasets/{shared}/schema", headers=first),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        if answer.headers["content-type"].startswith("application/json"):
            body = answer.json()
            cursor = body.pop("next", None)
            if cursor is not None:  # an opaque cursor: its payload is base64 JSON
                payload = cursor.split(".")[0]
                shows_nothing_real(
                    base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
                )
            shows_nothing_real(json.dumps(body))
        else:
            shows_nothing_real(answer.text)
    csv_rows = csv_records(answers[2])
    assert csv_rows[0] == ["junction", "cars", "note"]
    assert [record[0] for record in csv_rows[1:]] == junctions
    assert [record["junction"] for record in ndjson_records(answers[3])] == junctions

    # Grouped and counted by pseudonym, groups in the order of the pseudonyms.
    groups = answers[4].json()["groups"]
    expected = sorted([(junctions[0], 2), (junctions[1], 1)])
    assert [(group["junction"], group["count"]) for group in groups] == expected
    assert answers[8].json()["groups"] == [{"count:junction": 3}]
    assert [g["count"] for g in answers[9].json()["groups"]] == [2, 1]

    # Not filtered, not sorted, not summed or ranged.
    for params in (
        {"junction": "J1"},
        {"junction": junctions[0]},
        {"junction__startswith": "J"},
        {"junction__gt": "J1"},
        {"junction__isnull": "true"},
        {"note__contains": "morn"},
        {"junction__in": "J1,J2"},
        {"_sort": "junction"},
        {"_sort": "-note"},
        {"_group": "junction", "_sort": "junction"},
        {"_group": "junction", "_sort": "-junction"},
        {"_agg": "min:junction"},
        {"_agg": "max:note"},
    ):
        assert_problem(get(client, shared, first, **params), 400)
    schema = answers[11].json()
    fields = {field["name"]: field for field in schema["fields"]}
    assert set(fields) == {"junction", "cars", "note"}
    assert fields["junction"]["type"] == "string"
    assert fields["junction"]["x-cityshare-pseudonymised"] is True
    assert fields["cars"].get("x-cityshare-pseudonymised") is None


def test_a_limit_on_pseudonym_groups_does_not_follow_the_real_values(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    """Groups keyed by pseudonyms come in the order of the pseudonyms; ``_limit`` keeps
    the first of them in that order. Were the groups cut in the order of the real values,
    ``_limit=1, 2, …`` would give away that order, which pseudonyms must hide."""
    admin = console_actor(world.site, "admin")
    datasets.create_dataset(world.site, admin, organisation=OWNER, name="permits")
    source = tmp_path / "permits.csv"
    source.write_text("plate,n\n" + "".join(f"P{i:02d},{i}\n" for i in range(1, 17)))
    versions.publish_version(world.site, admin, "permits", source=source, media_type="text/csv")
    grantee = add_user(world, "counter")
    make_grant(
        client, world, "permits", user="counter", columns=["plate", "n"], pseudonymised=["plate"]
    )
    full = get(client, "permits", grantee, _group="plate", _limit="100").json()["groups"]
    keys = [group["plate"] for group in full]
    assert len(keys) == 16 and keys == sorted(keys)
    for limit in (1, 2, 5):
        part = get(client, "permits", grantee, _group="plate", _limit=str(limit)).json()
        assert part["truncated"] is True
        assert [group["plate"] for group in part["groups"]] == keys[:limit], limit
        exported = csv_records(
            get(client, "permits", grantee, _group="plate", _limit=str(limit), _format="csv")
        )
        assert [record[0] for record in exported[1:]] == keys[:limit], limit
