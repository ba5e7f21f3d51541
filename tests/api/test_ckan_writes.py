"""The CKAN Action API's writing actions: packages, uploads and the DataStore's writes,
with the roles and scopes of the native API, and new immutable versions for every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.api.ckan.routes import ACTIONS
from cityshare.catalogue import versions
from cityshare.errors import Conflict
from cityshare.http.ckan_envelope import UPLOAD_ACTIONS
from tests.api.ckan_support import call, ckan_headers, failure, result
from tests.sharing_support import add_user, make_grant
from tests.world import World


def post(client: TestClient, world: World, who: str, action: str, **params: Any) -> Any:
    """POST ``action`` as ``who`` with CKAN's own Authorization header."""
    return call(client, action, params, headers=ckan_headers(world, who), method="POST")


def records(client: TestClient, world: World, dataset: str, who: str = "editor") -> list[Any]:
    found = result(
        call(client, "datastore_search", {"resource_id": dataset}, headers=ckan_headers(world, who))
    )
    return list(found["records"])


# --- packages ---------------------------------------------------------------------------


def test_package_create_is_private_unless_asked(world: World, client: TestClient) -> None:
    created = result(
        post(
            client,
            world,
            "editor",
            "package_create",
            name="bike-counts",
            owner_org="city",
            title="Bike counts",
            notes="Bikes.",
            tags=[{"name": "bikes"}, "cycling"],
            license_id="CC-BY-4.0",
            extras=[
                {"key": "update_frequency", "value": "daily"},
                {"key": "temporal_start", "value": "2024-01-01"},
                {"key": "unknown", "value": "ignored"},
            ],
            resources=[{"url": "http://169.254.169.254/latest/meta-data/", "format": "CSV"}],
        )
    )
    assert created["name"] == "bike-counts" and created["private"] is True
    assert created["visibility"] == "private" and created["notes"] == "Bikes."
    assert [tag["name"] for tag in created["tags"]] == ["bikes", "cycling"]
    extras = {extra["key"]: extra["value"] for extra in created["extras"]}
    assert extras == {"update_frequency": "daily", "temporal_start": "2024-01-01", "kind": "table"}
    assert created["resources"] == []  # URL resources are never fetched, nor kept


def test_opening_data_is_an_admins_decision(world: World, client: TestClient) -> None:
    refused = post(
        client, world, "editor", "package_create", name="a-1", owner_org="city", private=False
    )
    failure(refused, 403, "Authorization Error")
    opened = post(
        client, world, "admin", "package_create", name="a-2", owner_org="city", private="false"
    )
    assert result(opened)["visibility"] == "open"
    shared = post(
        client, world, "admin", "package_create", name="a-3", owner_org="city", visibility="shared"
    )
    assert result(shared)["private"] is False and result(shared)["visibility"] == "shared"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"name": "x-1"}, "owner_org"),
        ({"owner_org": "city"}, "name"),
        ({"name": "Not A Slug", "owner_org": "city"}, "name"),
        ({"name": "x-2", "owner_org": "nowhere"}, "owner_org"),
        ({"name": "open-counts", "owner_org": "city"}, "name"),
        ({"name": "x-3", "owner_org": "city", "license_id": "not a licence"}, "license_id"),
        ({"name": "x-4", "owner_org": "city", "tags": "{bad"}, "tags"),
        ({"name": "x-5", "owner_org": "city", "private": True, "visibility": "open"}, "private"),
        ({"name": "x-6", "owner_org": "city", "visibility": "secret"}, "visibility"),
        (
            {"name": "x-7", "owner_org": "city", "extras": [{"key": "spatial", "value": "{"}]},
            "extras",
        ),
    ],
)
def test_package_create_validation_names_the_field(
    world: World, client: TestClient, params: dict[str, Any], field: str
) -> None:
    error = failure(
        post(client, world, "admin", "package_create", **params), 409, "Validation Error"
    )
    assert field in error, error


@pytest.mark.parametrize("who", ["anonymous", "member", "readonly", "outsider"])
def test_package_create_needs_an_editor_with_a_write_token(
    world: World, client: TestClient, who: str
) -> None:
    response = post(client, world, who, "package_create", name="nope-1", owner_org="city")
    failure(response, 403, "Authorization Error")


def test_package_update_replaces_and_patch_changes(world: World, client: TestClient) -> None:
    post(client, world, "admin", "package_patch", id="private-counts", notes="Old", tags=["a"])
    updated = result(
        post(client, world, "editor", "package_update", id="private-counts", title="New title")
    )
    assert updated["title"] == "New title" and updated["notes"] == "" and updated["tags"] == []
    assert updated["visibility"] == "private"  # unchanged when not asked
    patched = result(
        post(client, world, "editor", "package_patch", id="private-counts", notes="Patched")
    )
    assert patched["title"] == "New title" and patched["notes"] == "Patched"
    # A package as shown loads back unchanged (ckanapi load does this).
    again = result(post(client, world, "editor", "package_update", **patched))
    assert {key: again[key] for key in ("title", "notes", "tags", "visibility")} == {
        key: patched[key] for key in ("title", "notes", "tags", "visibility")
    }


def test_package_update_refusals(world: World, client: TestClient) -> None:
    for params, field in (
        ({"id": "open-counts", "name": "renamed"}, "name"),
        ({"id": "open-counts", "owner_org": "partner"}, "owner_org"),
        ({"id": "open-counts", "extras": [{"key": "kind", "value": "sensor"}]}, "extras"),
    ):
        error = failure(
            post(client, world, "editor", "package_patch", **params), 409, "Validation Error"
        )
        assert field in error
    failure(
        post(client, world, "editor", "package_patch", id="open-counts", private=True),
        403,
        "Authorization Error",
    )
    failure(
        post(client, world, "outsider", "package_patch", id="private-counts", notes="x"),
        404,
        "Not Found Error",
    )
    failure(
        post(client, world, "outsider", "package_patch", id="shared-counts", notes="x"),
        403,
        "Authorization Error",
    )
    failure(
        post(client, world, "editor", "package_update", id="nothing-here"), 404, "Not Found Error"
    )
    # private=false leaves a shared dataset shared (CKAN calls both public).
    shared = result(
        post(client, world, "admin", "package_patch", id="shared-counts", private=False)
    )
    assert shared["visibility"] == "shared"


def test_a_patch_changing_nothing_still_needs_the_right_to_edit(
    world: World, client: TestClient
) -> None:
    for who in ("anonymous", "member", "outsider"):
        failure(
            post(client, world, who, "package_patch", id="open-counts"), 403, "Authorization Error"
        )
    failure(
        post(client, world, "outsider", "package_patch", id="private-counts"),
        404,
        "Not Found Error",
    )
    unchanged = result(post(client, world, "editor", "package_patch", id="open-counts"))
    assert (unchanged["name"], unchanged["visibility"]) == ("open-counts", "open")


# --- resource_create with an upload ---------------------------------------------------------


def upload(
    client: TestClient, world: World, who: str, dataset: str, content: bytes, **fields: str
) -> Any:
    return client.post(
        "/api/action/resource_create",
        data={"package_id": dataset, **fields},
        files={
            "upload": (fields.pop("filename", "counts.csv"), content, "application/octet-stream")
        },
        headers=ckan_headers(world, who),
    )


def test_resource_create_publishes_the_upload_as_a_new_version(
    world: World, client: TestClient
) -> None:
    created = result(upload(client, world, "editor", "private-counts", b"a,b\n1,x\n2,y\n"))
    assert created["id"] == "private-counts.csv" and created["version"] == 2
    assert records(client, world, "private-counts") == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    as_json = upload(client, world, "editor", "private-counts", b'[{"c": 1}]', filename="rows.json")
    assert result(as_json)["version"] == 3
    told = upload(client, world, "editor", "private-counts", b'{"c": 2}\n', format="NDJSON")
    assert result(told)["version"] == 4
    assert records(client, world, "private-counts") == [{"c": 2}]


def test_the_body_limit_knows_every_action_that_takes_a_file() -> None:
    takes_upload = {name for name, action in ACTIONS.items() if action.takes_upload}
    assert takes_upload == set(UPLOAD_ACTIONS) == {"resource_create"}


def test_a_large_upload_goes_past_the_json_body_limit(world: World, client: TestClient) -> None:
    limit = world.site.settings.limits.max_json_body_bytes
    body = b"n,text\n" + b"".join(b"%d,%s\n" % (i, b"x" * 60) for i in range(limit // 60 + 10))
    assert len(body) > limit
    assert result(upload(client, world, "editor", "private-counts", body))["version"] == 2


def test_resource_create_refusals(world: World, client: TestClient) -> None:
    no_file = post(
        client,
        world,
        "editor",
        "resource_create",
        package_id="private-counts",
        url="http://x/y.csv",
    )
    assert "upload" in failure(no_file, 409, "Validation Error")
    unknown = upload(client, world, "editor", "private-counts", b"x", filename="notes.txt")
    assert "format" in failure(unknown, 409, "Validation Error")
    failure(
        upload(client, world, "anonymous", "open-counts", b"a\n1\n"), 403, "Authorization Error"
    )
    failure(upload(client, world, "member", "open-counts", b"a\n1\n"), 403, "Authorization Error")
    failure(upload(client, world, "outsider", "private-counts", b"a\n1\n"), 404, "Not Found Error")
    failure(upload(client, world, "editor", "open-air", b"a\n1\n"), 409, "Validation Error")
    assert (
        versions.list_versions(world.site, console_actor(world.site, "admin"), "open-counts")[
            0
        ].number
        == 1
    )


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body of ``(name, filename, content)`` parts, in this order."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--b0\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + b"--b0--\r\n", {"Content-Type": "multipart/form-data; boundary=b0"}


def test_resource_create_checks_package_id_before_the_file(
    world: World, client: TestClient
) -> None:
    def send(*parts: tuple[str, str | None, bytes]) -> Any:
        body, headers = multipart(*parts)
        headers.update(ckan_headers(world, "editor"))
        return client.post("/api/action/resource_create", content=body, headers=headers)

    late = send(("upload", "counts.csv", b"a\n1\n"), ("package_id", None, b"private-counts"))
    assert "package_id before the file" in failure(late, 400, "Bad Request")["message"]
    two = send(
        ("package_id", None, b"private-counts"),
        ("upload", "counts.csv", b"a\n1\n"),
        ("upload", "more.csv", b"a\n2\n"),
    )
    assert "one file" in failure(two, 409, "Validation Error")["upload"][0]
    no_file = send(("package_id", None, b"private-counts"), ("format", None, b"CSV"))
    assert "upload" in failure(no_file, 409, "Validation Error")
    assert not any((world.site.settings.data_dir / "uploads").iterdir())
    old_client = send(
        ('{"package_id": "private-counts"}', None, b""), ("upload", "c.csv", b"a\n7\n")
    )
    assert result(old_client)["version"] == 2
    assert records(client, world, "private-counts") == [{"a": 7}]


# --- DataStore writes --------------------------------------------------------------------------


def create_table(client: TestClient, world: World, dataset: str = "private-counts") -> Any:
    return result(
        post(
            client,
            world,
            "editor",
            "datastore_create",
            resource_id=f"{dataset}.csv",
            fields=[
                {"id": "id", "type": "int"},
                {"id": "name", "type": "text", "info": {"label": "Name"}},
                {"id": "seen", "type": "timestamp"},
            ],
            records=[{"id": 1, "name": "one", "seen": "2024-01-01T10:00:00Z"}],
            primary_key="id",
        )
    )


def test_datastore_create_with_fields_records_and_key(world: World, client: TestClient) -> None:
    created = create_table(client, world)
    assert created["primary_key"] == ["id"] and created["version"] == 2
    assert created["fields"] == [
        {"id": "id", "type": "int"},
        {"id": "name", "type": "text"},
        {"id": "seen", "type": "timestamp"},
    ]
    assert records(client, world, "private-counts") == [
        {"id": 1, "name": "one", "seen": "2024-01-01T10:00:00Z"}
    ]
    schema = result(
        call(
            client,
            "resource_show",
            {"id": "private-counts.csv"},
            headers=ckan_headers(world, "editor"),
        )
    )["schema"]
    assert schema["primaryKey"] == ["id"] and schema["fields"][1]["title"] == "Name"


def test_datastore_create_empty_and_inferred(world: World, client: TestClient) -> None:
    empty = post(
        client,
        world,
        "editor",
        "datastore_create",
        resource={"package_id": "private-counts"},
        fields=[{"id": "a"}],
    )
    assert result(empty)["records_loaded"] == 0
    assert records(client, world, "private-counts") == []
    inferred = post(
        client,
        world,
        "editor",
        "datastore_create",
        resource_id="private-counts",
        records=[{"x": 1.5}],
    )
    assert result(inferred)["records_loaded"] == 1
    assert records(client, world, "private-counts") == [{"x": 1.5}]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "fields"),
        ({"fields": [{"id": "a", "type": "geometry"}]}, "fields"),
        ({"fields": [{"type": "text"}]}, "fields"),
        ({"fields": "not a list"}, "fields"),
        ({"fields": [{"id": "a"}], "primary_key": "b"}, "primary_key"),
        ({"records": [{"a": 1}], "primary_key": "a"}, "fields"),
        ({"fields": [{"id": "a"}], "records": [{"b": 1}]}, "records"),
        ({"fields": [{"id": "a", "type": "int"}], "records": [{"a": "x"}]}, "message"),
        ({"fields": [{"id": "a"}], "records": ["row"]}, "records"),
    ],
)
def test_datastore_create_validation(
    world: World, client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = post(
        client, world, "editor", "datastore_create", resource_id="private-counts", **params
    )
    error = failure(response, 409, "Validation Error")
    assert field in error, error


def test_datastore_upsert_insert_update(world: World, client: TestClient) -> None:
    create_table(client, world)
    upserted = result(
        post(
            client,
            world,
            "editor",
            "datastore_upsert",
            resource_id="private-counts.csv",
            records=[{"id": "1", "name": "ONE"}, {"id": 2, "name": "two"}],
        )
    )
    assert (upserted["updated"], upserted["inserted"], upserted["version"]) == (1, 1, 3)
    assert records(client, world, "private-counts") == [
        {"id": 1, "name": "ONE", "seen": "2024-01-01T10:00:00Z"},
        {"id": 2, "name": "two", "seen": None},
    ]
    inserted = post(
        client,
        world,
        "editor",
        "datastore_upsert",
        resource_id="private-counts",
        method="insert",
        records=[{"id": 3}],
    )
    assert result(inserted)["inserted"] == 1
    duplicate = post(
        client,
        world,
        "editor",
        "datastore_upsert",
        resource_id="private-counts",
        method="insert",
        records=[{"id": 3}],
    )
    assert "already there" in failure(duplicate, 409, "Validation Error")["records"][0]
    missing = post(
        client,
        world,
        "editor",
        "datastore_upsert",
        resource_id="private-counts",
        method="update",
        records=[{"id": 9, "name": "x"}],
    )
    assert "No row" in failure(missing, 409, "Validation Error")["records"][0]
    bad = post(
        client,
        world,
        "editor",
        "datastore_upsert",
        resource_id="private-counts",
        method="merge",
        records=[],
    )
    assert "method" in failure(bad, 409, "Validation Error")
    keyless = post(
        client,
        world,
        "editor",
        "datastore_upsert",
        resource_id="open-counts",
        records=[{"cars": 1}],
    )
    assert "primary_key" in failure(keyless, 409, "Validation Error")
    # Every change was a new version; the first ones are still there.
    numbers = [
        v.number
        for v in versions.list_versions(
            world.site, console_actor(world.site, "admin"), "private-counts"
        )
    ]
    assert numbers == [4, 3, 2, 1]


def test_datastore_delete_by_filters_or_all(world: World, client: TestClient) -> None:
    deleted = result(
        post(
            client,
            world,
            "editor",
            "datastore_delete",
            resource_id="private-counts.csv",
            filters={"junction": "J1"},
        )
    )
    assert deleted["deleted"] == 2
    assert [row["junction"] for row in records(client, world, "private-counts")] == ["J2"]
    everything = result(
        post(client, world, "editor", "datastore_delete", resource_id="private-counts")
    )
    assert everything["deleted"] == 1 and records(client, world, "private-counts") == []
    bad = post(
        client,
        world,
        "editor",
        "datastore_delete",
        resource_id="private-counts",
        filters={"nope": 1},
    )
    assert "filters" in failure(bad, 409, "Validation Error")


@pytest.mark.parametrize("action", ["datastore_create", "datastore_upsert", "datastore_delete"])
@pytest.mark.parametrize(
    ("who", "status", "kind"),
    [
        ("anonymous", 404, "Not Found Error"),
        ("member", 403, "Authorization Error"),
        ("readonly", 403, "Authorization Error"),
        ("outsider", 404, "Not Found Error"),
    ],
)
def test_datastore_writes_need_the_upload_right(
    world: World, client: TestClient, action: str, who: str, status: int, kind: str
) -> None:
    params = {
        "resource_id": "private-counts",
        "records": [{"junction": "J9"}],
        "fields": [{"id": "junction"}],
    }
    failure(post(client, world, who, action, **params), status, kind)
    assert (
        len(
            versions.list_versions(world.site, console_actor(world.site, "admin"), "private-counts")
        )
        == 1
    )


def test_a_write_grantee_publishes_whole_tables_but_cannot_rewrite_rows(
    world: World, client: TestClient
) -> None:
    add_user(world, "provider")
    make_grant(
        client,
        world,
        "private-counts",
        user="provider",
        permissions=["read", "write"],
        columns=["junction"],
    )
    for action in ("datastore_upsert", "datastore_delete"):
        refused = post(client, world, "provider", action, resource_id="private-counts", records=[])
        assert "whole table" in failure(refused, 403, "Authorization Error")["message"]
    created = post(
        client,
        world,
        "provider",
        "datastore_create",
        resource_id="private-counts",
        records=[{"junction": "J7"}],
    )
    assert result(created)["version"] == 2


def test_a_change_computed_from_an_old_version_is_refused(world: World, tmp_path: Path) -> None:
    admin = console_actor(world.site, "admin")
    source = tmp_path / "one.csv"
    source.write_text("a\n1\n")
    with pytest.raises(Conflict):
        versions.publish_version(
            world.site, admin, "open-counts", source=source, media_type="text/csv", based_on=7
        )
    summary = versions.publish_version(
        world.site, admin, "open-counts", source=source, media_type="text/csv", based_on=1
    )
    assert summary.number == 2


def test_a_primary_key_naming_a_hidden_column_is_not_shown(
    world: World, client: TestClient
) -> None:
    create_table(client, world)
    add_user(world, "reader")
    make_grant(client, world, "private-counts", user="reader", columns=["name"])
    shown = call(
        client, "resource_show", {"id": "private-counts.csv"}, headers=ckan_headers(world, "reader")
    )
    schema = result(shown)["schema"]
    assert [field["name"] for field in schema["fields"]] == ["name"]
    assert "primaryKey" not in schema
    native = client.get("/api/v1/datasets/private-counts/schema", headers=world.headers("reader"))
    assert native.status_code == 200 and "primaryKey" not in native.json()
    owner = client.get("/api/v1/datasets/private-counts/schema", headers=world.headers("member"))
    assert owner.json()["primaryKey"] == ["id"]
