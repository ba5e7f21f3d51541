"""The CKAN Action API's reading actions: envelope, prefixes, GET and POST, the mapping of
datasets to packages and resources, search, organisations, tags and authentication."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.ckan_support import (
    PREFIXES,
    call,
    ckan_headers,
    failure,
    result,
)
from tests.world import World

Site = tuple[World, TestClient]


# --- the envelope, prefixes and methods -------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_prefix_and_method_answers_in_the_envelope(
    ckan: Site, prefix: str, method: str
) -> None:
    _world, client = ckan
    response = call(client, "package_show", {"id": "open-counts"}, method=method, prefix=prefix)
    body = response.json()
    assert set(body) == {"help", "success", "result"}
    assert body["help"] == "http://testserver/api/3/action/help_show?name=package_show"
    assert result(response)["name"] == "open-counts"


def test_status_show_and_site_read(ckan: Site) -> None:
    _world, client = ckan
    status = result(call(client, "status_show"))
    assert status["ckan_version"].startswith("2.")
    assert status["site_url"] == "http://testserver"
    assert "datastore" in status["extensions"]
    assert result(call(client, "site_read")) is True


def test_the_help_url_answers(ckan: Site) -> None:
    _world, client = ckan
    envelope = call(client, "package_search").json()
    helped = client.get(envelope["help"].removeprefix("http://testserver"))
    assert "Datasets the actor may see" in result(helped)
    failure(call(client, "help_show", {"name": "nope"}), 404, "Not Found Error")


def test_unknown_action_is_a_clear_error(ckan: Site) -> None:
    _world, client = ckan
    error = failure(call(client, "package_destroy_everything"), 400, "Not Found Error")
    assert error["message"] == "Action name not known: package_destroy_everything"
    error = failure(call(client, "nope", method="POST"), 400, "Not Found Error")
    # Paths under the prefixes that are no action answer in the envelope too.
    response = client.get("/api/3/action/package_show/extra")
    failure(response, 404, "Not Found Error")


def test_writing_actions_need_post(ckan: Site) -> None:
    world, client = ckan
    response = call(client, "package_create", {"name": "x"}, headers=ckan_headers(world, "editor"))
    assert "Use POST" in failure(response, 400, "Bad Request")["message"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"[1, 2]", "application/json"), (b'"x"', "")],
)
def test_bodies_that_are_no_json_object_are_refused(
    ckan: Site, body: bytes, content_type: str
) -> None:
    _world, client = ckan
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/3/action/package_show", content=body, headers=headers)
    assert "JSON Error" in failure(response, 400, "Bad Request")["message"]


def test_form_posts_and_ckans_single_json_field_are_read(ckan: Site) -> None:
    _world, client = ckan
    form = client.post("/api/action/package_show", data={"id": "open-counts"})
    assert result(form)["name"] == "open-counts"
    legacy = client.post("/api/action/package_show", data={'{"id": "open-counts"}': ""})
    assert result(legacy)["name"] == "open-counts"


def test_missing_and_malformed_parameters_name_the_field(ckan: Site) -> None:
    _world, client = ckan
    assert failure(call(client, "package_show"), 409, "Validation Error")["id"] == ["Missing value"]
    error = failure(call(client, "package_list", {"limit": "-1"}), 409, "Validation Error")
    assert "limit" in error
    error = failure(call(client, "package_search", {"rows": "5000"}), 409, "Validation Error")
    assert "rows" in error
    error = failure(
        call(client, "package_list", {"include_private": "maybe"}), 409, "Validation Error"
    )
    assert "include_private" in error


# --- packages and resources -----------------------------------------------------------


def test_package_show_maps_every_field(ckan: Site) -> None:
    _world, client = ckan
    package = result(call(client, "package_show", {"id": "open-counts"}))
    assert package["id"] == package["name"] == "open-counts"
    assert package["notes"] == "Cars counted at junctions every hour."
    assert [tag["name"] for tag in package["tags"]] == ["traffic", "roads"]
    assert package["num_tags"] == 2
    assert package["license_id"] == "CC-BY-4.0" and package["isopen"] is True
    assert package["owner_org"] == "city"
    assert package["organization"]["name"] == "city" and package["organization"]["title"]
    assert package["private"] is False and package["visibility"] == "open"
    assert package["state"] == "active" and package["type"] == "dataset"
    assert package["metadata_created"] and not package["metadata_modified"].endswith("Z")
    extras = {extra["key"]: extra["value"] for extra in package["extras"]}
    assert extras["update_frequency"] == "hourly"
    assert extras["temporal_start"] == "2024-03-04" and extras["kind"] == "table"
    assert '"Point"' in extras["spatial"]
    assert package["num_resources"] == len(package["resources"]) == 3


def test_resources_are_the_ways_to_read_the_data(ckan: Site) -> None:
    _world, client = ckan
    resources = result(call(client, "package_show", {"id": "open-counts"}))["resources"]
    assert [res["id"] for res in resources] == [
        "open-counts.csv",
        "open-counts.json",
        "open-counts.ndjson",
    ]
    csv = resources[0]
    assert csv["format"] == "CSV" and csv["mimetype"] == "text/csv"
    assert csv["url"] == "http://testserver/api/v1/datasets/open-counts/rows?_format=csv"
    assert csv["datastore_active"] is True and csv["package_id"] == "open-counts"
    # The schema is the one the asker would read: the personal column is not there.
    assert [field["name"] for field in csv["schema"]["fields"]] == [
        "junction",
        "counted_at",
        "cars",
        "speed",
    ]
    assert result(call(client, "resource_show", {"id": "open-counts.json"}))["format"] == "JSON"
    for missing in ("open-counts.xlsx", "open-counts", "nope.csv"):
        failure(call(client, "resource_show", {"id": missing}), 404, "Not Found Error")


def test_sensor_datasets_have_a_resource_per_stream_and_format(ckan: Site) -> None:
    world, client = ckan
    package = result(call(client, "package_show", {"id": "open-air"}))
    stream = world.streams["open"]
    assert [res["id"] for res in package["resources"]] == [
        f"open-air.stream-{stream}.csv",
        f"open-air.stream-{stream}.json",
        f"open-air.stream-{stream}.ndjson",
    ]
    first = package["resources"][0]
    assert first["url"].endswith(f"/api/v1/streams/{stream}/observations?_format=csv")
    assert first["datastore_active"] is False
    shown = result(call(client, "resource_show", {"id": first["id"]}))
    assert shown == {key: value for key, value in first.items()}
    error = failure(
        call(client, "datastore_search", {"resource_id": first["id"]}), 404, "Not Found Error"
    )
    assert "sensor" in error["message"]


def test_package_list_leaves_private_datasets_out_unless_asked(ckan: Site) -> None:
    world, client = ckan
    assert result(call(client, "package_list")) == ["open-air", "open-counts"]
    member = ckan_headers(world, "member")
    assert result(call(client, "package_list", headers=member)) == [
        "open-air",
        "open-counts",
        "shared-air",
        "shared-counts",
    ]
    every = result(call(client, "package_list", {"include_private": True}, headers=member))
    assert every == sorted(every) and len(every) == 6
    window = call(
        client, "package_list", {"limit": 2, "offset": 1, "include_private": True}, headers=member
    )
    assert result(window) == every[1:3]


def test_current_package_list_with_resources(ckan: Site) -> None:
    world, client = ckan
    found = result(
        call(client, "current_package_list_with_resources", headers=ckan_headers(world, "member"))
    )
    assert {package["name"] for package in found} == {
        "open-air",
        "open-counts",
        "shared-air",
        "shared-counts",
    }
    modified = [package["metadata_modified"] for package in found]
    assert modified == sorted(modified, reverse=True)
    assert all("resources" in package for package in found)
    one = result(
        call(
            client,
            "current_package_list_with_resources",
            {"limit": 1, "page": 2},
            headers=ckan_headers(world, "member"),
        )
    )
    assert [package["name"] for package in one] == [found[1]["name"]]


# --- search ---------------------------------------------------------------------------


def search(client: TestClient, headers: dict[str, str] | None = None, **params: object) -> dict:
    found: dict = result(call(client, "package_search", dict(params), headers=headers))
    return found


def test_package_search_everything_and_paging(ckan: Site) -> None:
    world, client = ckan
    member = ckan_headers(world, "member")
    everything = search(client, member, q="*:*", rows=2, sort="name asc")
    assert everything["count"] == 4
    assert [package["name"] for package in everything["results"]] == ["open-air", "open-counts"]
    following = search(client, member, q="*:*", rows=2, start=2, sort="name asc")
    assert [package["name"] for package in following["results"]] == ["shared-air", "shared-counts"]
    assert search(client, member, sort="name desc", rows=1)["results"][0]["name"] == "shared-counts"
    with_private = search(client, member, include_private=True)
    assert with_private["count"] == 6


def test_package_search_text_and_filters(ckan: Site) -> None:
    world, client = ckan
    member = ckan_headers(world, "member")
    assert [p["name"] for p in search(client, member, q="every")["results"]] == ["open-counts"]
    by_tags = search(client, member, fq="tags:traffic", include_private=True)
    assert {p["name"] for p in by_tags["results"]} == {
        "open-counts",
        "shared-counts",
        "private-counts",
    }
    both = search(client, member, fq="tags:traffic AND tags:roads")
    assert [p["name"] for p in both["results"]] == ["open-counts"]
    licensed = search(client, member, fq='license_id:"CC0-1.0"')
    assert [p["name"] for p in licensed["results"]] == ["shared-counts"]
    by_org = search(client, member, fq="+organization:city res_format:CSV")
    assert by_org["count"] == 4
    assert search(client, member, fq="organization:partner")["count"] == 0
    # Field terms in q filter too (frictionless sends q=organization:NAME).
    assert search(client, member, q="organization:city tags:roads")["count"] == 1
    private_only = search(client, member, fq="capacity:private", include_private=True)
    assert {p["name"] for p in private_only["results"]} == {"private-air", "private-counts"}


def test_package_search_facets(ckan: Site) -> None:
    world, client = ckan
    found = search(
        client,
        ckan_headers(world, "member"),
        **{"facet.field": ["organization", "tags", "res_format", "license_id"]},
    )
    assert found["facets"]["organization"] == {"city": 4}
    assert found["facets"]["tags"] == {"traffic": 2, "roads": 1}
    assert found["facets"]["license_id"] == {"CC-BY-4.0": 1, "CC0-1.0": 1}
    assert found["facets"]["res_format"]["CSV"] == 4
    organisation = found["search_facets"]["organization"]
    assert organisation["items"] == [{"name": "city", "display_name": "City", "count": 4}]
    assert search(client, facet="false", **{"facet.field": ["tags"]})["facets"] == {}


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"fq": "-tags:traffic"}, "Search Query Error"),
        ({"fq": "tags:traffic OR tags:roads"}, "Search Query Error"),
        ({"fq": "title:x"}, "Search Query Error"),
        ({"fq": "just words"}, "Search Query Error"),
        ({"sort": "views_recent desc"}, "Search Query Error"),
        ({"facet.field": '["groups"]'}, "Validation Error"),
        ({"facet.field": "[not json"}, "Validation Error"),
        ({"start": "-1"}, "Validation Error"),
    ],
)
def test_package_search_refuses_what_it_cannot_read(
    ckan: Site, params: dict[str, str], kind: str
) -> None:
    _world, client = ckan
    status = 400 if kind == "Search Query Error" else 409
    failure(call(client, "package_search", params), status, kind)


# --- organisations, groups, tags -------------------------------------------------------


def test_organization_list_and_show(ckan: Site) -> None:
    world, client = ckan
    assert result(call(client, "organization_list")) == ["city", "partner"]
    listed = result(call(client, "organization_list", {"all_fields": True}))
    assert [(org["name"], org["package_count"]) for org in listed] == [("city", 2), ("partner", 0)]
    ordered = result(
        call(client, "organization_list", {"sort": "package_count desc", "all_fields": True})
    )
    assert ordered[0]["name"] == "city"
    member = ckan_headers(world, "member")
    shown = result(call(client, "organization_show", {"id": "city"}, headers=member))
    assert shown["package_count"] == 6 and shown["packages"] == []
    with_packages = result(
        call(client, "organization_show", {"id": "city", "include_datasets": True}, headers=member)
    )
    assert len(with_packages["packages"]) == 6
    failure(call(client, "organization_show", {"id": "nowhere"}), 404, "Not Found Error")
    failure(call(client, "organization_list", {"sort": "x"}), 409, "Validation Error")


def test_group_list_is_empty_and_tag_list_lists_visible_tags(ckan: Site) -> None:
    world, client = ckan
    assert result(call(client, "group_list")) == []
    assert result(call(client, "tag_list")) == ["roads", "traffic"]
    member = ckan_headers(world, "member")
    assert result(call(client, "tag_list", headers=member)) == ["roads", "secret-tag", "traffic"]
    assert result(call(client, "tag_list", {"query": "RO"})) == ["roads"]
    full = result(call(client, "tag_list", {"all_fields": True}))
    assert full[0]["name"] == "roads" and full[0]["vocabulary_id"] is None
    assert result(call(client, "tag_list", {"vocabulary_id": "genres"})) == []


# --- authentication ---------------------------------------------------------------------


def test_ckan_style_tokens_are_accepted_on_ckan_routes_only(ckan: Site) -> None:
    world, client = ckan
    token = world.tokens["member"]
    shown = {"id": "private-counts"}
    for headers in (
        {"Authorization": token},
        {"Authorization": f"Bearer {token}"},
        {"X-CKAN-API-Key": token},
        {"Authorization": token, "X-CKAN-API-Key": token},
    ):
        response = call(client, "package_show", shown, headers=headers)
        assert result(response)["name"] == "private-counts"
        assert response.headers["cache-control"] == "no-store"
    # The native API keeps its one form: a bare token is refused there, as problem+json.
    native = client.get("/api/v1/datasets/private-counts", headers={"Authorization": token})
    assert native.status_code == 401
    assert native.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "cs_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-CKAN-API-Key": "cs_unknown"},
    ],
)
def test_bad_credentials_are_refused_never_ignored(ckan: Site, headers: dict[str, str]) -> None:
    _world, client = ckan
    response = call(client, "package_show", {"id": "open-counts"}, headers=headers)
    failure(response, 403, "Authorization Error")


def test_two_different_tokens_are_refused(ckan: Site) -> None:
    world, client = ckan
    headers = {"Authorization": world.tokens["member"], "X-CKAN-API-Key": world.tokens["admin"]}
    error = failure(call(client, "status_show", headers=headers), 403, "Authorization Error")
    assert "different tokens" in error["message"]


def test_tokens_in_the_query_string_are_refused(ckan: Site) -> None:
    world, client = ckan
    response = client.get("/api/3/action/package_list", params={"api_key": world.tokens["member"]})
    assert "query string" in failure(response, 409, "Validation Error")["message"]


def test_other_routes_keep_problem_json(ckan: Site) -> None:
    _world, client = ckan
    response = client.get("/api/v1/datasets/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
