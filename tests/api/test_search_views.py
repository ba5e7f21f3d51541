"""Search as each reader sees a dataset's columns (cityshare.search.views): the
index follows column classes and every grant change, owners and site administrators
match every column, a pseudonymised coordinate takes GeoJSON away, a grant without its
view fails closed, and a store indexed before views drops hidden names when opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets, versions
from cityshare.search.index import index_if_empty
from cityshare.search.text import Document, write_document
from cityshare.site import Site
from cityshare.storage.schema import dataset_facet_lists, search_views
from cityshare.storage.schema import datasets as dataset_table
from tests.sharing_support import add_user, grant_url, make_grant
from tests.world import World

URL = "/api/v1/datasets"
DOCKS = "bike-docks"
DOCKS_CSV = "station,bays,fault_code,longitude,latitude\nS1,12,F7,-1.61,54.97\n"


def _docks(world: World, tmp_path: Path, visibility: str = "open") -> None:
    admin = console_actor(world.site, "admin")
    datasets.create_dataset(
        world.site, admin, organisation="city", name=DOCKS, title="Docks", visibility=visibility
    )
    source = tmp_path / "docks.csv"
    source.write_text(DOCKS_CSV)
    versions.publish_version(world.site, admin, DOCKS, source=source, media_type="text/csv")


def _classify(world: World, classes: dict[str, str]) -> None:
    admin = console_actor(world.site, "admin")
    datasets.update_dataset(world.site, admin, DOCKS, {"column_classes": classes})


def _found(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _names(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    return [found["name"] for found in _found(client, headers, **params)["datasets"]]


def test_classes_take_names_out_of_the_public_index_and_owners_keep_them(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    _docks(world, tmp_path)
    anonymous = world.headers("anonymous")
    assert _names(client, anonymous, q="fault") == [DOCKS]
    _classify(world, {"fault_code": "sensitive"})
    assert _names(client, anonymous, q="fault") == []
    for kind in ("member", "admin", "siteadmin"):
        assert _names(client, world.headers(kind), q="fault") == [DOCKS], kind
        assert _names(client, world.headers(kind), q="docks fault") == [DOCKS], kind
    member = world.headers("member")
    assert _names(client, member, q="fault", sort="name") == [DOCKS]
    assert _found(client, member, q="fault", limit=0)["count"] == 1
    assert _found(client, member, q="fault", facets="format")["count"] == 1
    _classify(world, {"fault_code": "public"})
    assert _names(client, anonymous, q="fault") == [DOCKS]


def test_each_grant_change_changes_what_its_grantee_finds(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    _docks(world, tmp_path)
    _classify(world, {"fault_code": "personal"})
    grantee = add_user(world, "analyst")
    assert _names(client, grantee, q="bays") == [DOCKS]  # a public column
    grant = make_grant(client, world, DOCKS, user="analyst", columns=["station", "fault_code"])
    assert _names(client, grantee, q="fault") == [DOCKS]
    assert _names(client, grantee, q="bays") == []
    changed = client.patch(
        grant_url(DOCKS, grant["id"]), json={"columns": ["bays"]}, headers=world.headers("admin")
    )
    assert changed.status_code == 200, changed.text
    assert _names(client, grantee, q="fault") == []
    assert _names(client, grantee, q="bays") == [DOCKS]
    revoked = client.delete(grant_url(DOCKS, grant["id"]), headers=world.headers("admin"))
    assert revoked.status_code == 200, revoked.text
    # Back to reading the open dataset's public columns.
    assert _names(client, grantee, q="fault") == []
    assert _names(client, grantee, q="longitude") == [DOCKS]


def test_a_pseudonymised_coordinate_offers_no_geojson(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    _docks(world, tmp_path, visibility="private")
    grantee = add_user(world, "analyst")
    make_grant(
        client,
        world,
        DOCKS,
        user="analyst",
        columns=["station", "longitude", "latitude"],
        pseudonymised=["latitude"],
    )
    found = _found(client, grantee, q="docks", facets="format")
    assert found["datasets"][0]["formats"] == ["CSV", "JSON", "NDJSON"]
    assert "GeoJSON" not in {item["name"] for item in found["facets"]["format"]}
    assert _names(client, grantee, format="geojson") == []
    owner = _found(client, world.headers("member"), q="docks", format="GeoJSON")
    assert [d["formats"] for d in owner["datasets"]] == [["CSV", "JSON", "NDJSON", "GeoJSON"]]


def test_a_grant_without_its_view_matches_no_words(
    world: World, client: TestClient, tmp_path: Path, site: Site
) -> None:
    _docks(world, tmp_path)
    grantee = add_user(world, "analyst")
    make_grant(client, world, DOCKS, user="analyst", columns=["station"])
    with site.writer.begin() as connection:
        connection.execute(delete(search_views).where(search_views.c.grant_id.is_not(None)))
    assert _names(client, grantee, q="docks") == []
    assert _names(client, grantee, q="bays") == []
    assert DOCKS in _names(client, grantee, limit=100)  # still listed: it is open


def test_a_store_indexed_with_hidden_names_is_indexed_again_when_opened(
    world: World, client: TestClient, tmp_path: Path, site: Site
) -> None:
    """What migration 0009 does: the facet lists emptied, the next opening indexes every
    dataset again and the old documents' hidden names are gone."""
    _docks(world, tmp_path)
    _classify(world, {"fault_code": "sensitive"})
    with site.writer.begin() as connection:
        old = Document("Docks bike-docks", "", "City city", "station fault_code", "")
        found = select(dataset_table.c.id).where(dataset_table.c.name == DOCKS)
        write_document(connection, connection.execute(found).scalar_one(), old)
    assert _names(client, {}, q="fault") == [DOCKS]  # the old document leaks
    with site.writer.begin() as connection:
        connection.execute(delete(dataset_facet_lists))
        assert index_if_empty(connection) > 0
    assert _names(client, {}, q="fault") == []
    assert _names(client, {}, q="station") == [DOCKS]
