"""Finding 8 of issue 16: search never reveals a column name the reader may not read.

An anonymous search for a sensitive column's name found its open dataset; a grantee found
datasets by columns outside its grant; the GeoJSON format was offered (facet, formats,
CKAN resources, DCAT distributions) to readers whose coordinates are hidden. Each face
of the catalogue is asked as each kind of reader against a real ``cityshare serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets, versions
from cityshare.sharing import grants
from tests.security.conftest import Served, ServeFactory
from tests.sharing_support import add_user

# An open dataset with a sensitive column and personal coordinates.
OPEN = "clinic-visits"
OPEN_CSV = (
    "station,bicycles,diagnosis,longitude,latitude\nS1,4,flu,-1.55,53.80\nS2,7,cold,-1.54,53.81\n"
)
OPEN_CLASSES = {"diagnosis": "sensitive", "longitude": "personal", "latitude": "personal"}
# A private dataset shared by a grant that names some of its (all public) columns.
PRIVATE = "kerb-survey"
PRIVATE_CSV = "kerbside,lorries,tramline,longitude,latitude\nK1,3,T4,-1.50,53.70\n"


def _publish(served: Served, name: str, visibility: str, body: str, tmp: Path) -> None:
    site = served.world.site
    admin = console_actor(site, "admin")
    datasets.create_dataset(
        site, admin, organisation="city", name=name, title=name, visibility=visibility
    )
    source = tmp / f"{name}.csv"
    source.write_text(body)
    versions.publish_version(site, admin, name, source=source, media_type="text/csv")


def _grant(served: Served, name: str, user: str, columns: list[str]) -> None:
    site = served.world.site
    spec = {
        "purpose": "Testing what search reveals",
        "expires_at": datetime.now(UTC) + timedelta(days=30),
        "permissions": ["read"],
        "user": user,
        "columns": columns,
    }
    grants.create_grant(site, console_actor(site, "admin"), name, spec)


@contextmanager
def _readers(serve: ServeFactory, tmp: Path) -> Iterator[Readers]:
    """The world with the two datasets, and clients for each kind of reader (closed after)."""
    served, grantee = _set_up(serve, tmp)
    with (
        served.client("anonymous") as anonymous,
        served.client("outsider") as outsider,
        served.client("member") as member,
        httpx.Client(base_url=served.server.url, headers=grantee, timeout=60) as granted,
    ):
        yield Readers(anonymous, outsider, member, granted)


def _set_up(serve: ServeFactory, tmp: Path) -> tuple[Served, dict[str, str]]:
    served = serve()
    _publish(served, OPEN, "open", OPEN_CSV, tmp)
    datasets.update_dataset(
        served.world.site,
        console_actor(served.world.site, "admin"),
        OPEN,
        {"column_classes": OPEN_CLASSES},
    )
    _publish(served, PRIVATE, "private", PRIVATE_CSV, tmp)
    grantee = add_user(served.world, "grantee-user")
    _grant(served, PRIVATE, "grantee-user", ["kerbside", "lorries"])
    _grant(served, OPEN, "grantee-user", ["station", "diagnosis"])
    served.world.runtime.finish_background_work()
    return served, grantee


@dataclass(frozen=True)
class Readers:
    """A client per kind of reader: the public, an outsider, an owner, a grantee."""

    anonymous: httpx.Client
    outsider: httpx.Client
    member: httpx.Client
    granted: httpx.Client


def _names(client: httpx.Client, **params: Any) -> list[str]:
    response = client.get("/api/v1/datasets", params=params)
    assert response.status_code == 200, response.text
    return [dataset["name"] for dataset in response.json()["datasets"]]


def _search(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/datasets", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _formats(body: dict[str, Any], name: str) -> list[str]:
    formats: list[str] = next(
        found["formats"] for found in body["datasets"] if found["name"] == name
    )
    return formats


def _facet(body: dict[str, Any], facet: str) -> dict[str, int]:
    return {item["name"]: item["count"] for item in body["facets"][facet]}


def test_search_matches_only_the_columns_the_reader_may_read(
    serve: ServeFactory, tmp_path: Path
) -> None:
    with _readers(serve, tmp_path) as readers:
        _check_words(readers)


def _check_words(readers: Readers) -> None:
    anonymous, member, granted = readers.anonymous, readers.member, readers.granted
    # A hidden column's name finds nothing for the public, its dataset for the owner.
    for client in (anonymous, readers.outsider):
        assert _names(client, q="diagnosis") == []
        assert _search(client, q="diagnosis", facets="format")["count"] == 0
        assert _names(client, q="longitude") == []
        assert _names(client, q="bicycles") == [OPEN]  # a public column still finds it
    assert _names(member, q="diagnosis") == [OPEN]
    assert _names(member, q="clinic diagnosis") == [OPEN]
    assert _names(member, q="tramline") == [PRIVATE]

    # A grantee finds by the columns its grant names, and by no other.
    assert _names(granted, q="lorries") == [PRIVATE]
    assert _names(granted, q="tramline") == []
    assert _names(granted, q="kerb longitude") == []
    assert _names(granted, q="diagnosis") == [OPEN]  # named in its grant
    assert _names(granted, q="bicycles") == []  # public, but outside its grant
    assert _search(granted, q="tramline", facets="format")["count"] == 0


def test_geojson_is_offered_only_to_readers_of_the_coordinates(
    serve: ServeFactory, tmp_path: Path
) -> None:
    with _readers(serve, tmp_path) as readers:
        _check_search_formats(readers)
        _check_other_faces(readers)


def _check_search_formats(readers: Readers) -> None:
    anonymous, member, granted = readers.anonymous, readers.member, readers.granted
    for client, name in ((anonymous, OPEN), (granted, OPEN), (granted, PRIVATE)):
        body = _search(client, q=name.split("-")[0], facets="format")
        assert "GeoJSON" not in _formats(body, name)
        assert "GeoJSON" not in _facet(body, "format")
        assert name not in _names(client, format="GeoJSON")
        browsed = _search(client, facets="format", limit=100)
        assert "GeoJSON" not in _formats(browsed, name)
    for name in (OPEN, PRIVATE):
        body = _search(member, q=name.split("-")[0], facets="format")
        assert "GeoJSON" in _formats(body, name)
        assert _facet(body, "format")["GeoJSON"] == 1
        assert name in _names(member, format="GeoJSON")
    # Browsing: the kept counts of the format facet follow the reader too.
    assert "GeoJSON" not in _facet(_search(anonymous, facets="format"), "format")
    assert _facet(_search(member, facets="format"), "format")["GeoJSON"] == 2


def _check_other_faces(readers: Readers) -> None:
    anonymous, member, granted = readers.anonymous, readers.member, readers.granted
    # CKAN package_search, its res_format facet and filter, and package_show.
    ckan = "/api/3/action/package_search"
    found = anonymous.get(ckan, params={"q": "diagnosis"}).json()["result"]
    assert found["count"] == 0
    found = anonymous.get(ckan, params={"q": "clinic", "facet.field": '["res_format"]'}).json()[
        "result"
    ]
    assert found["count"] == 1
    assert "GeoJSON" not in found["facets"]["res_format"]
    assert "GeoJSON" not in {r["format"] for r in found["results"][0]["resources"]}
    filtered = anonymous.get(ckan, params={"fq": "res_format:GeoJSON"}).json()["result"]
    assert OPEN not in [package["name"] for package in filtered["results"]]
    shown = anonymous.get("/api/3/action/package_show", params={"id": OPEN})
    assert shown.status_code == 200, shown.text
    assert "GeoJSON" not in {r["format"] for r in shown.json()["result"]["resources"]}
    for word in ("diagnosis", "longitude", "latitude"):
        assert word not in shown.text

    # DCAT, the listing, the Data Package and the home page say nothing of them either.
    for client, name, hidden in (
        (anonymous, OPEN, ("diagnosis", "longitude")),
        (granted, PRIVATE, ("tramline", "longitude")),
        (granted, OPEN, ("bicycles", "longitude")),
    ):
        for path in (
            f"/datasets/{name}.ttl",
            f"/api/v1/datasets/{name}/datapackage.json",
            f"/api/v1/datasets/{name}",
            "/api/v1/datasets?limit=100",
            f"/?q={name.split('-')[0]}",
        ):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            for word in (*hidden, "geo+json", "GeoJSON"):
                assert word not in answer.text, (path, word)
    owned = member.get(f"/datasets/{OPEN}.ttl")
    assert "geo+json" in owned.text
