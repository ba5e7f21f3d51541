"""Column classes: personal and sensitive columns never leave the owner organisation
unless a grant names them; only the owner's admins change classes; an uploaded schema
can make a column stricter, never looser."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from tests.sharing_support import (
    COLUMNS,
    add_user,
    assert_problem,
    csv_records,
    make_grant,
    ndjson_records,
    row_keys,
    rows_url,
)
from tests.world import SAMPLE_CSV, World, audit_entries

PUBLIC = {"junction", "counted_at", "cars"}
SCHEMA_FIELDS = [
    {"name": "junction", "type": "string"},
    {"name": "counted_at", "type": "datetime"},
    {"name": "cars", "type": "integer"},
    {"name": "speed", "type": "number"},
    {"name": "note", "type": "string"},
]


def classify(client: TestClient, world: World, name: str, classes: dict[str, str]) -> None:
    response = client.patch(
        f"/api/v1/datasets/{name}", json={"column_classes": classes}, headers=world.headers("admin")
    )
    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json()["column_classes"].items() if k in classes} == classes


def schema_of(client: TestClient, name: str, headers: dict[str, str]) -> dict[str, dict[str, str]]:
    response = client.get(f"/api/v1/datasets/{name}/schema", headers=headers)
    assert response.status_code == 200, response.text
    return {field["name"]: field for field in response.json()["fields"]}


def test_personal_and_sensitive_columns_stay_with_the_owner(
    world: World, client: TestClient
) -> None:
    open_name, shared = world.datasets["open"], world.datasets["shared"]
    for name in (open_name, shared):
        classify(client, world, name, {"note": "personal", "speed": "sensitive"})

    # Outsiders cannot read a shared dataset's rows, but they see its schema: without
    # the classified fields.
    outsider = world.headers("outsider")
    assert list(schema_of(client, shared, outsider)) == ["junction", "counted_at", "cars"]
    for name, headers in ((open_name, {}), (open_name, outsider)):
        rows = client.get(rows_url(name), headers=headers)
        assert row_keys(rows) == PUBLIC
        assert "morning" not in rows.text and "31.5" not in rows.text
        for params in (
            {"_fields": "junction,note"},
            {"_sort": "speed"},
            {"note": "morning"},
            {"speed__gt": "1"},
            {"_group": "note"},
            {"_agg": "avg:speed"},
        ):
            refused = client.get(rows_url(name), params=params, headers=headers)
            assert_problem(refused, 400)
        assert csv_records(client.get(rows_url(name) + "?_format=csv", headers=headers))[0] == [
            "junction",
            "counted_at",
            "cars",
        ]
        exported = client.get(rows_url(name) + "?_format=ndjson", headers=headers)
        assert all(set(record) == PUBLIC for record in ndjson_records(exported))
        assert "morning" not in exported.text
        fields = schema_of(client, name, headers)
        assert list(fields) == ["junction", "counted_at", "cars"]
        assert {field["classification"] for field in fields.values()} == {"public"}

    # Owners read everything, and see each field's classification.
    for kind in ("member", "admin", "siteadmin"):
        headers = world.headers(kind)
        assert row_keys(client.get(rows_url(open_name), headers=headers)) == set(COLUMNS)
        fields = schema_of(client, open_name, headers)
        assert {name: field["classification"] for name, field in fields.items()} == {
            "junction": "public",
            "counted_at": "public",
            "cars": "public",
            "speed": "sensitive",
            "note": "personal",
        }
    # The classification lives with the dataset: a new upload keeps it.
    upload = client.put(
        f"/api/v1/datasets/{open_name}/data",
        content=SAMPLE_CSV.encode(),
        headers={**world.headers("editor"), "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201, upload.text
    assert row_keys(client.get(rows_url(open_name))) == PUBLIC


def test_grants_reach_classified_columns_only_by_name(world: World, client: TestClient) -> None:
    shared = world.datasets["shared"]
    classify(client, world, shared, {"note": "personal", "speed": "sensitive"})
    plain = add_user(world, "plain-grantee")
    named = add_user(world, "named-grantee")
    make_grant(client, world, shared, user="plain-grantee")  # columns: null
    make_grant(client, world, shared, user="named-grantee", columns=["junction", "note"])
    assert row_keys(client.get(rows_url(shared), headers=plain)) == PUBLIC
    assert set(schema_of(client, shared, plain)) == PUBLIC
    assert_problem(client.get(rows_url(shared) + "?_fields=note", headers=plain), 400)
    named_rows = client.get(rows_url(shared), headers=named)
    assert row_keys(named_rows) == {"junction", "note"}
    assert named_rows.json()["rows"][0]["note"] == "morning"
    fields = schema_of(client, shared, named)
    assert {name: field["classification"] for name, field in fields.items()} == {
        "junction": "public",
        "note": "personal",
    }
    # A class set after the grant applies to it at once.
    classify(client, world, shared, {"cars": "personal"})
    assert row_keys(client.get(rows_url(shared), headers=plain)) == {"junction", "counted_at"}


def test_only_the_owners_admins_change_classes(world: World, client: TestClient) -> None:
    open_name = world.datasets["open"]
    url = f"/api/v1/datasets/{open_name}"
    classify(client, world, open_name, {"note": "personal"})
    for kind in ("editor", "readonly", "member", "outsider"):
        lowered = client.patch(
            url, json={"column_classes": {"note": "public"}}, headers=world.headers(kind)
        )
        assert_problem(lowered, 403)
    assert_problem(client.patch(url, json={"column_classes": {"note": "public"}}), 401)
    assert "note" not in row_keys(client.get(rows_url(open_name)))
    assert client.get(url, headers=world.headers("admin")).json()["column_classes"] == {
        "note": "personal"
    }
    for bad in ({"note": "secret"}, {"note": ""}, {"": "personal"}, {"note": None}):
        assert (
            client.patch(
                url, json={"column_classes": bad}, headers=world.headers("admin")
            ).status_code
            == 400
        ), bad
    assert client.get(url, headers=world.headers("member")).json()["column_classes"] == {
        "note": "personal"
    }
    assert "column_classes" not in client.get(url).json()  # it names personal columns
    # The admin may lower it again.
    classify(client, world, open_name, {"note": "public"})
    assert "note" in row_keys(client.get(rows_url(open_name)))


def test_an_uploaded_schema_makes_columns_stricter_never_looser(
    world: World, client: TestClient
) -> None:
    open_name = world.datasets["open"]
    classify(client, world, open_name, {"note": "personal"})
    fields = [dict(field) for field in SCHEMA_FIELDS]
    fields[3]["classification"] = "personal"  # speed: raised
    fields[4]["classification"] = "public"  # note: an attempt to lower
    response = client.put(
        f"/api/v1/datasets/{open_name}/data",
        files={
            "file": ("counts.csv", SAMPLE_CSV.encode(), "text/csv"),
            "schema": (None, json.dumps({"fields": fields})),
        },
        headers=world.headers("editor"),
    )
    assert response.status_code == 201, response.text
    described = client.get(f"/api/v1/datasets/{open_name}", headers=world.headers("admin")).json()
    assert described["column_classes"] == {"note": "personal", "speed": "personal"}
    assert row_keys(client.get(rows_url(open_name))) == PUBLIC
    owner_fields = schema_of(client, open_name, world.headers("member"))
    assert owner_fields["note"]["classification"] == "personal"
    assert owner_fields["speed"]["classification"] == "personal"
    assert set(schema_of(client, open_name, {})) == PUBLIC
    # A classification that is not a class is refused, and changes nothing.
    fields[0]["classification"] = "top-secret"
    refused = client.put(
        f"/api/v1/datasets/{open_name}/data",
        files={
            "file": ("counts.csv", SAMPLE_CSV.encode(), "text/csv"),
            "schema": (None, json.dumps({"fields": fields})),
        },
        headers=world.headers("editor"),
    )
    assert_problem(refused, 400)
    assert client.get(f"/api/v1/datasets/{open_name}").json()["current_version"] == 2


RENAMED_CSV = SAMPLE_CSV.replace(
    "junction,counted_at,cars,speed,note", "junction,counted_at,cars,speed,remark"
)


def upload(client: TestClient, world: World, name: str, body: str, **params: str) -> Any:
    return client.put(
        f"/api/v1/datasets/{name}/data",
        content=body.encode(),
        params=params,
        headers={**world.headers("editor"), "Content-Type": "text/csv"},
    )


def test_a_new_version_without_a_classified_column_needs_a_decision(
    world: World, client: TestClient
) -> None:
    open_name = world.datasets["open"]
    classify(client, world, open_name, {"note": "personal", "cars": "sensitive"})
    refused = assert_problem(upload(client, world, open_name, RENAMED_CSV), 409)
    assert "'note' (personal)" in refused["detail"]
    assert '{"note": "remark"}' in refused["detail"]  # the column in its place
    assert "cars" not in refused["detail"]  # still there: no decision needed
    for bad in (
        '{"cars": "remark"}',  # not missing from the file
        '{"note": "absent"}',  # not a column of the file
        '["note"]',
        '{"note": 3}',
        "not json",
    ):
        assert_problem(upload(client, world, open_name, RENAMED_CSV, carry_classes=bad), 400)
    assert client.get(f"/api/v1/datasets/{open_name}").json()["current_version"] == 1
    # Renamed: the new column takes the class; the old name keeps it, for version 1.
    carried = upload(client, world, open_name, RENAMED_CSV, carry_classes='{"note": "remark"}')
    assert carried.status_code == 201, carried.text
    described = client.get(f"/api/v1/datasets/{open_name}", headers=world.headers("admin")).json()
    assert described["column_classes"] == {
        "note": "personal",
        "remark": "personal",
        "cars": "sensitive",
    }
    assert row_keys(client.get(rows_url(open_name))) == {"junction", "counted_at", "speed"}
    old = client.get(rows_url(open_name), params={"_version": "1"})
    assert row_keys(old) == {"junction", "counted_at", "speed"}
    # Dropped: nothing takes the class, and no decision is asked again for it.
    without = "junction,counted_at,cars\nJ1,2024-03-04T08:00:00Z,1\n"
    dropped = upload(client, world, open_name, without, carry_classes='{"remark": null}')
    assert dropped.status_code == 201, dropped.text
    assert upload(client, world, open_name, without).status_code == 201
    for version in ("1", "2", "3", "4"):
        shown = client.get(rows_url(open_name), params={"_version": version})
        assert not row_keys(shown) & {"note", "remark", "cars"}, version
    decisions = [
        entry["detail"].get("carry_classes")
        for entry in audit_entries(world.site)
        if entry.get("action") == "dataset.upload"
    ]
    assert {"note": "remark"} in decisions and {"remark": None} in decisions
