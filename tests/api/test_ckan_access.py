"""The CKAN face under the access policy: every action × actor kind × visibility gets what
the native API would give, nothing private leaks through lists, counts, facets or tags,
a grantee reads only within the grant, and CKAN reads land in the dataset's access log."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.catalogue import versions
from tests.api.ckan_support import call, ckan_headers, described_client, failure, result
from tests.conftest import ENGINES
from tests.sharing_support import add_user, make_grant
from tests.world import OWNER, VISIBILITIES, World, add_dataset, populated_client

ACTORS = ("anonymous", "outsider", "member", "editor", "admin", "readonly", "siteadmin", "grantee")
OWNER_MEMBERS = frozenset({"member", "editor", "admin", "readonly"})
EDITORS = frozenset({"editor", "admin", "siteadmin"})
PRIVATE_WORDS = ("private-counts", "private-air", "Hidden Counts", "secret-tag")
GRANTED = ["junction", "cars", "note"]

Site = tuple[World, TestClient]


def add_grantee(world: World, client: TestClient) -> int:
    """A user of the partner organisation with a grant to private-counts: three columns
    (note pseudonymised), the rows of junction J1."""
    add_user(world, "grantee")
    grant = make_grant(
        client,
        world,
        "private-counts",
        user="grantee",
        columns=GRANTED,
        pseudonymised=["note"],
        row_filter={"junction": "J1"},
    )
    return int(grant["id"])


@pytest.fixture(scope="module", params=ENGINES)
def ckan(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[Site]:
    """A described site with a grantee, shared by the read-only cases."""
    folder: Path = tmp_path_factory.mktemp("ckan-access")
    for world, client in described_client(request.param, folder, postgres_database):
        world.tokens["grant_id"] = str(add_grantee(world, client))
        yield world, client


def sees(actor: str, visibility: str) -> bool:
    """Whether ``actor`` may see a dataset (the grantee: private-counts by its grant)."""
    if visibility == "open" or actor == "siteadmin":
        return True
    if visibility == "shared":
        return actor != "anonymous"
    return actor in OWNER_MEMBERS


def reads(actor: str, visibility: str) -> bool:
    """Whether ``actor`` may read a dataset's rows."""
    return visibility == "open" or actor in OWNER_MEMBERS | {"siteadmin"}


def expected(rule: str, actor: str, visibility: str, dataset: str) -> tuple[int, str | None]:
    """The status and error type of a reading action on ``dataset``."""
    granted = actor == "grantee" and dataset == "private-counts"
    if not (sees(actor, visibility) or granted):
        return 404, "Not Found Error"
    if rule == "view" or granted or reads(actor, visibility):
        return 200, None
    return 403, "Authorization Error"


Prepare = Callable[[str], dict[str, Any]]
READ_CASES: dict[str, tuple[str, Prepare]] = {
    "package_show": ("view", lambda name: {"id": name}),
    "resource_show": ("view", lambda name: {"id": f"{name}.csv"}),
    "datastore_search": ("read", lambda name: {"resource_id": f"{name}.json", "limit": 1}),
    "datastore_search_sql": (
        "read",
        lambda name: {"sql": f'SELECT count(*) AS n FROM "{name}.csv"'},  # noqa: S608
    ),
}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", sorted(READ_CASES))
def test_reading_actions(ckan: Site, action: str, actor: str, visibility: str, method: str) -> None:
    world, client = ckan
    dataset = f"{visibility}-counts"
    rule, prepare = READ_CASES[action]
    response = call(
        client, action, prepare(dataset), headers=ckan_headers(world, actor), method=method
    )
    status, kind = expected(rule, actor, visibility, dataset)
    if kind is None:
        result(response)
    else:
        failure(response, status, kind)


def visible_names(actor: str) -> set[str]:
    """The world's datasets ``actor`` sees (tables and sensors)."""
    names = {
        f"{visibility}-{kind}"
        for visibility in VISIBILITIES
        for kind in ("counts", "air")
        if sees(actor, visibility)
    }
    return names | ({"private-counts"} if actor == "grantee" else set())


def everything(client: TestClient, world: World, actor: str) -> dict[str, Any]:
    """The answers of every listing action, asked for everything, private included."""
    headers = ckan_headers(world, actor)
    every = {"include_private": True}
    facets = {"facet.field": ["organization", "tags", "res_format", "license_id"]}
    asked = {
        "package_list": every,
        "package_search": {**every, **facets, "rows": 1000},
        "current_package_list_with_resources": every,
        "organization_list": {"all_fields": True},
        "organization_show": {"id": OWNER, "include_datasets": True},
        "tag_list": {"all_fields": True},
        "group_list": {},
    }
    return {
        action: result(call(client, action, params, headers=headers))
        for action, params in asked.items()
    }


@pytest.mark.parametrize("actor", ACTORS)
def test_lists_counts_facets_and_tags_show_only_visible_datasets(ckan: Site, actor: str) -> None:
    world, client = ckan
    answers = everything(client, world, actor)
    visible = visible_names(actor)
    assert set(answers["package_list"]) == visible
    search = answers["package_search"]
    assert search["count"] == len(visible)
    assert {package["name"] for package in search["results"]} == visible
    assert sum(search["facets"]["organization"].values()) == len(visible)
    assert {p["name"] for p in answers["current_package_list_with_resources"]} == visible
    city = next(org for org in answers["organization_list"] if org["name"] == OWNER)
    assert city["package_count"] == len(visible)
    assert answers["organization_show"]["package_count"] == len(visible)
    assert {p["name"] for p in answers["organization_show"]["packages"]} == visible
    tags = {tag["name"] for tag in answers["tag_list"]}
    assert ("secret-tag" in tags) == ("private-counts" in visible)
    assert (search["facets"]["tags"].get("secret-tag", 0) > 0) == ("private-counts" in visible)
    if not ({"private-counts", "private-air"} & visible):
        text = str(answers)
        assert not [word for word in PRIVATE_WORDS if word in text], actor


@pytest.mark.parametrize("actor", ["anonymous", "outsider"])
def test_refusals_say_nothing_of_what_exists(ckan: Site, actor: str) -> None:
    world, client = ckan
    headers = ckan_headers(world, actor)
    for name in ("private-counts", "no-such-dataset"):
        answers = [
            failure(
                call(client, "package_show", {"id": name}, headers=headers), 404, "Not Found Error"
            ),
            failure(
                call(client, "datastore_search", {"resource_id": name}, headers=headers),
                404,
                "Not Found Error",
            ),
        ]
        messages = [answer["message"].replace(name, "NAME") for answer in answers]
        assert messages == ["Not found: No dataset named 'NAME', or you may not see it."] * 2


# --- a grantee reads within the grant --------------------------------------------------------


def as_grantee(ckan: Site, action: str, **params: Any) -> Any:
    world, client = ckan
    return call(client, action, params, headers=ckan_headers(world, "grantee"))


def test_a_grantee_reads_granted_columns_and_rows_only(ckan: Site) -> None:
    found = result(as_grantee(ckan, "datastore_search", resource_id="private-counts.csv"))
    assert [field["id"] for field in found["fields"]] == GRANTED
    assert found["total"] == 2
    assert {record["junction"] for record in found["records"]} == {"J1"}
    notes = [record["note"] for record in found["records"]]
    assert "morning" not in notes and all(isinstance(note, str) for note in notes)
    # Text search covers what the grantee sees in the clear, within the row filter.
    assert (
        result(as_grantee(ckan, "datastore_search", resource_id="private-counts", q="J1"))["total"]
        == 2
    )
    for hidden in ("morning", "J2", "31.5"):
        hit = result(as_grantee(ckan, "datastore_search", resource_id="private-counts", q=hidden))
        assert hit["total"] == 0 and hit["records"] == []
    assert (
        result(
            as_grantee(
                ckan, "datastore_search", resource_id="private-counts", filters={"junction": "J2"}
            )
        )["total"]
        == 0
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filters": {"speed": 31.5}}, "filters"),
        ({"filters": {"note": "morning"}}, "filters"),
        ({"sort": "speed"}, "sort"),
        ({"sort": "note"}, "sort"),
        ({"fields": "speed"}, "fields"),
        ({"q": {"note": "morning"}}, "q"),
        ({"q": {"counted_at": "2024"}}, "q"),
    ],
)
def test_a_grantee_cannot_name_what_the_grant_hides(
    ckan: Site, params: dict[str, Any], field: str
) -> None:
    response = as_grantee(ckan, "datastore_search", resource_id="private-counts", **params)
    error = failure(response, 409, "Validation Error")
    assert field in error


def test_a_grantee_through_sql_and_resources(ckan: Site) -> None:
    counted = result(
        as_grantee(
            ckan, "datastore_search_sql", sql='SELECT count(*) AS n FROM "private-counts.csv"'
        )
    )
    assert counted["records"] == [{"n": 2}]
    for text in ('SELECT speed FROM "private-counts"', 'SELECT note FROM "private-counts"'):
        failure(as_grantee(ckan, "datastore_search_sql", sql=text), 409, "Validation Error")
    schema = result(as_grantee(ckan, "resource_show", id="private-counts.csv"))["schema"]
    assert [field["name"] for field in schema["fields"]] == GRANTED
    assert "speed" not in str(result(as_grantee(ckan, "package_show", id="private-counts")))


def test_ckan_reads_are_in_the_access_log(ckan: Site) -> None:
    world, client = ckan
    grant = int(world.tokens["grant_id"])
    result(
        as_grantee(
            ckan, "datastore_search", resource_id="private-counts.csv", filters={"cars": 120}
        )
    )
    result(as_grantee(ckan, "datastore_search_sql", sql='SELECT cars FROM "private-counts"'))
    world.runtime.finish_background_work()
    log = client.get(
        "/api/v1/datasets/private-counts/access-log",
        params={"limit": 1000},
        headers=world.headers("admin"),
    ).json()["entries"]
    mine = [
        entry for entry in log if entry["action"] == "dataset.read" and entry["who"] == "grantee"
    ]
    assert [entry["detail"]["format"] for entry in mine[-2:]] == ["ckan", "ckan"]
    assert all(entry["grant"] == grant for entry in mine[-2:])
    assert '"filters": {"cars": 120}' in mine[-2]["detail"]["query"]
    assert mine[-2]["detail"]["rows"] == 1


def test_ckan_refusals_are_audited(ckan: Site) -> None:
    world, client = ckan
    before = client.get("/api/v1/audit/export", headers=world.headers("siteadmin")).text.count("\n")
    failure(
        call(
            client,
            "package_show",
            {"id": "private-counts"},
            headers=ckan_headers(world, "outsider"),
        ),
        404,
        "Not Found Error",
    )
    world.runtime.finish_background_work()
    lines = client.get("/api/v1/audit/export", headers=world.headers("siteadmin")).text.splitlines()
    assert len(lines) > before
    assert "/api/3/action/package_show" in lines[-1] and "refused" in lines[-1]


# --- writing actions × actor × visibility --------------------------------------------------------


@pytest.fixture(scope="module", params=ENGINES)
def writable(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[Site]:
    """A site whose write cases each work on a fresh dataset."""
    folder: Path = tmp_path_factory.mktemp("ckan-writes")
    with populated_client(request.param, folder, postgres_database) as (world, client):
        add_user(world, "grantee")
        yield world, client


def throwaway(world: World, visibility: str) -> str:
    name = f"w-{secrets.token_hex(4)}"
    add_dataset(world.site, world.site.settings.data_dir, name, visibility)
    return name


WRITE_CASES: dict[str, Prepare] = {
    "package_update": lambda name: {"id": name, "title": "Changed"},
    "package_patch": lambda name: {"id": name, "notes": "Changed"},
    "datastore_create": lambda name: {"resource_id": name, "records": [{"a": 1}]},
    "datastore_upsert": lambda name: {
        "resource_id": f"{name}.csv",
        "method": "insert",
        "records": [{"junction": "J5"}],
    },
    "datastore_delete": lambda name: {"resource_id": name, "filters": {"junction": "J1"}},
}


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", [*sorted(WRITE_CASES), "resource_create"])
def test_writing_actions(writable: Site, action: str, actor: str, visibility: str) -> None:
    world, client = writable
    name = throwaway(world, visibility)
    headers = ckan_headers(world, actor)
    if action == "resource_create":
        response = client.post(
            "/api/3/action/resource_create",
            data={"package_id": name},
            files={"upload": ("more.csv", b"a\n1\n")},
            headers=headers,
        )
    else:
        response = call(client, action, WRITE_CASES[action](name), headers=headers, method="POST")
    if action == "resource_create" and actor == "anonymous":
        # Refused before the body is read, whatever it names: anonymous visitors never
        # upload (the same answer for every dataset, so it tells nothing about any).
        failure(response, 403, "Authorization Error")
    elif not sees(actor, visibility):
        failure(response, 404, "Not Found Error")
    elif actor in EDITORS:
        result(response)
    else:
        failure(response, 403, "Authorization Error")
    published = versions.list_versions(world.site, console_actor(world.site, "admin"), name)
    changes_data = action not in ("package_update", "package_patch")
    allowed = actor in EDITORS and sees(actor, visibility)
    assert len(published) == (2 if changes_data and allowed else 1)
