"""Issue 16, finding 4: a grantee allowed to write could reverse its pseudonyms.

With ``["read", "write"]`` and ``plate`` pseudonymised, a grantee uploaded candidate plates
as a new version, read their pseudonyms back and matched them with those of version 1:
every pseudonym of version 1 mapped back to its plate. A reader of pseudonyms now never
writes the dataset they hide values of: no grant holds both, an upload by an actor who
reads the dataset's pseudonyms under any live grant is refused (grants already in a store
included), and the attack below finds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets, versions
from cityshare.clock import utcnow
from cityshare.storage.schema import datasets as datasets_table
from cityshare.storage.schema import grants, organisations, users
from tests.security.conftest import Served, ServeFactory
from tests.sharing_support import add_user, in_future
from tests.world import OTHER, OWNER, World

DATASET = "permits"
REAL_PLATES = [f"AB{number:02d}CDE" for number in range(60)]
CANDIDATES = REAL_PLATES + [f"ZZ{number:02d}ZZZ" for number in range(40)]


def permits_csv(plates: list[str]) -> str:
    """A permits file: one row per plate."""
    return "plate,zone\n" + "".join(f"{plate},Z{index % 4}\n" for index, plate in enumerate(plates))


def add_permits(world: World) -> None:
    """The owner's private permits dataset, version 1 holding the real plates."""
    site = world.site
    admin = console_actor(site, "admin")
    datasets.create_dataset(
        site, admin, organisation=OWNER, name=DATASET, title="Permits", visibility="private"
    )
    source = site.settings.data_dir / "permits.csv"
    source.write_text(permits_csv(REAL_PLATES))
    versions.publish_version(site, admin, DATASET, source=source, media_type="text/csv")


def stored_grant(world: World, permissions: str, **grantee: Any) -> int:
    """A grant row written straight into the store, as a store made before the fix may
    hold one (pseudonymising ``plate``)."""
    values: dict[str, Any] = {
        "grantee_user_id": None,
        "grantee_organisation_id": None,
        "purpose": "Permit statistics",
        "terms": "",
        "permissions": permissions,
        "columns": ["plate", "zone"],
        "pseudonymised": ["plate"],
        "expires_at": utcnow().replace(year=utcnow().year + 1),
        "created_at": utcnow(),
    }
    with world.site.writer.begin() as connection:
        values["dataset_id"] = connection.execute(
            select(datasets_table.c.id).where(datasets_table.c.name == DATASET)
        ).scalar_one()
        if "user" in grantee:
            values["grantee_user_id"] = connection.execute(
                select(users.c.id).where(users.c.username == grantee["user"])
            ).scalar_one()
        else:
            values["grantee_organisation_id"] = connection.execute(
                select(organisations.c.id).where(organisations.c.name == grantee["organisation"])
            ).scalar_one()
        result = connection.execute(grants.insert().values(values))
        return int(result.inserted_primary_key[0])


def plates_recovered(served: Served, username: str) -> dict[str, str]:
    """The attack: read version 1's pseudonyms, upload candidate plates as a new version,
    read their pseudonyms, and match. The pseudonyms of version 1 mapped back to plates."""
    rows_url = f"/api/v1/datasets/{DATASET}/rows"
    with served.client(username) as client:
        first = client.get(rows_url, params={"_version": "1", "_limit": "1000"})
        assert first.status_code == 200, first.text
        hidden = {row["plate"] for row in first.json()["rows"]}
        assert len(hidden) == len(REAL_PLATES) and not hidden & set(REAL_PLATES)
        upload = client.put(
            f"/api/v1/datasets/{DATASET}/data",
            content=permits_csv(CANDIDATES).encode(),
            headers={"Content-Type": "text/csv"},
        )
        if upload.status_code != 201:
            assert upload.status_code == 403, upload.text
            assert "pseudonym" in upload.json()["detail"]
            return {}
        written = client.get(rows_url, params={"_limit": "1000"})
        assert written.status_code == 200, written.text
        by_pseudonym = {
            row["plate"]: plate
            for row, plate in zip(written.json()["rows"], CANDIDATES, strict=True)
        }
    return {pseudonym: by_pseudonym[pseudonym] for pseudonym in hidden if pseudonym in by_pseudonym}


def current_version(served: Served) -> int:
    with served.client("admin") as client:
        return int(client.get(f"/api/v1/datasets/{DATASET}").json()["current_version"])


def test_a_grant_cannot_write_and_deliver_pseudonyms(serve: ServeFactory) -> None:
    served = serve()
    add_permits(served.world)
    add_user(served.world, "analyst")
    base = {"purpose": "Permit statistics", "expires_at": in_future(), "user": "analyst"}
    bounds = {"columns": ["plate", "zone"], "pseudonymised": ["plate"]}
    url = f"/api/v1/datasets/{DATASET}/grants"
    with served.client("admin") as admin:
        both = admin.post(url, json={**base, **bounds, "permissions": ["read", "write"]})
        assert both.status_code == 409, both.text
        assert "pseudonym" in both.json()["detail"]
        reader = admin.post(url, json={**base, **bounds})
        assert reader.status_code == 201, reader.text
        grant_id = reader.json()["id"]
        added = admin.patch(f"{url}/{grant_id}", json={"permissions": ["read", "write"]})
        assert added.status_code == 409, added.text
        # Nor a second grant to the same grantee that writes what the first one hides.
        writer = admin.post(url, json={**base, "permissions": ["write"]})
        assert writer.status_code == 409, writer.text
        assert admin.get(f"{url}/{grant_id}").json()["permissions"] == ["read"]


def test_a_writer_cannot_reverse_its_pseudonyms(serve: ServeFactory) -> None:
    served = serve()
    world = served.world
    add_permits(world)
    # A grant holding both, as stores made before the fix may have one.
    add_user(world, "legacy-analyst")
    stored_grant(world, "read,write", user="legacy-analyst")
    assert plates_recovered(served, "legacy-analyst") == {}
    # Pseudonyms under a grant to the user, write under a grant to their organisation.
    add_user(world, "partner-analyst", organisation=OTHER)
    stored_grant(world, "read", user="partner-analyst")
    with served.client("admin") as admin:
        created = admin.post(
            f"/api/v1/datasets/{DATASET}/grants",
            json={
                "purpose": "Permit uploads",
                "expires_at": in_future(),
                "organisation": OTHER,
                "permissions": ["write"],
            },
        )
    assert created.status_code == 201, created.text
    assert plates_recovered(served, "partner-analyst") == {}
    assert current_version(served) == 1
    # A writer who reads no pseudonyms still writes.
    add_user(world, "uploader", organisation=OTHER)
    with served.client("uploader") as client:
        upload = client.put(
            f"/api/v1/datasets/{DATASET}/data",
            content=permits_csv(CANDIDATES).encode(),
            headers={"Content-Type": "text/csv"},
        )
    assert upload.status_code == 201, upload.text


def test_a_reader_of_pseudonyms_still_reads_them(serve: ServeFactory) -> None:
    served = serve()
    add_permits(served.world)
    add_user(served.world, "reader")
    stored_grant(served.world, "read", user="reader")
    with served.client("reader") as client:
        rows = client.get(f"/api/v1/datasets/{DATASET}/rows", params={"_limit": "1000"})
    assert rows.status_code == 200, rows.text
    plates = [row["plate"] for row in rows.json()["rows"]]
    assert len(set(plates)) == len(REAL_PLATES) and not set(plates) & set(REAL_PLATES)
