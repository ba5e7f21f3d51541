"""Real CKAN clients against a running ``cityshare serve``: the ``ckanapi`` package (its
``RemoteCKAN`` and its command line, ``dump`` and ``load`` included) and ``frictionless``
opening a dataset through CKAN. Nothing is mocked; nothing private may leak."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckanapi
import frictionless
import httpx
import pytest
from frictionless.portals import CkanControl

from tests.conftest import ENGINES, store_url
from tests.e2e.conftest import Server, cityshare_env, run_cli_here, start_server

pytestmark = pytest.mark.e2e

COUNTS = (
    "junction,counted_at,cars,speed\n"
    "J1,2024-03-04T08:00:00Z,120,31.5\n"
    "J2,2024-03-04T09:00:00Z,80,42.0\n"
    "J1,2024-03-04T10:00:00Z,95,35.25\n"
)
PRIVATE_WORDS = ("secret-counts", "Secret counts", "secret-tag")


@dataclass
class Site:
    """A running server with an organisation, people and datasets of every visibility."""

    engine: str
    server: Server
    tokens: dict[str, str]

    def ckan(self, who: str = "anonymous", **options: Any) -> ckanapi.RemoteCKAN:
        """A RemoteCKAN acting as ``who`` (CKAN's own ``Authorization: <token>``)."""
        return ckanapi.RemoteCKAN(self.server.url, apikey=self.tokens.get(who), **options)


def engine_of(server: Server) -> str:
    """The engine of a server's store."""
    return "sqlite" if server.env["CITYSHARE_DATABASE_URL"].startswith("sqlite") else "postgresql"


def setup_site(server: Server, folder: Path) -> Site:
    """Initialise the store (``cityshare init``, run in this process), then build the
    catalogue through the CKAN API itself."""
    init = run_cli_here(server.env, "init", "--json")
    assert init.returncode == 0, init.stderr
    tokens = {"admin": json.loads(init.stdout)["admin_token"]}
    native = {"Authorization": f"Bearer {tokens['admin']}"}
    with httpx.Client(base_url=server.url, headers=native, timeout=30) as http:
        for name in ("city", "partner"):
            assert (
                http.post(
                    "/api/v1/organisations", json={"name": name, "title": name.title()}
                ).status_code
                == 201
            )
        for username, organisation, role in (
            ("erin", "city", "editor"),
            ("oscar", "partner", "admin"),
        ):
            assert http.post("/api/v1/users", json={"username": username}).status_code == 201
            member = f"/api/v1/organisations/{organisation}/members/{username}"
            assert http.put(member, json={"role": role}).status_code == 200
            created = http.post("/api/v1/tokens", json={"username": username, "scopes": ["write"]})
            tokens[username] = created.json()["token"]
    site = Site(engine=engine_of(server), server=server, tokens=tokens)
    source = folder / "counts.csv"
    source.write_text(COUNTS)
    with site.ckan("admin") as admin:
        for name, title, visibility, tags in (
            ("open-counts", "Open counts", "open", ["traffic"]),
            ("team-counts", "Team counts", "shared", ["traffic"]),
            ("secret-counts", "Secret counts", "private", ["traffic", "secret-tag"]),
        ):
            admin.action.package_create(
                name=name,
                title=title,
                owner_org="city",
                visibility=visibility,
                tags=[{"name": tag} for tag in tags],
                license_id="CC-BY-4.0",
                notes=f"{title}, every hour.",
            )
            with source.open("rb") as handle:
                admin.action.resource_create(package_id=name, upload=handle)
    return site


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[Site]:
    """A running server with its catalogue, one per engine, shared by the tests that only
    read it (or try changes it must refuse)."""
    folder = tmp_path_factory.mktemp("ckan")
    with store_url(request.param, folder, postgres_database) as url:
        server = start_server(cityshare_env(folder / "data", url))
        try:
            yield setup_site(server, folder)
        finally:
            server.process.terminate()
            server.process.wait(timeout=20)


@pytest.fixture
def own_site(server: Server, tmp_path: Path) -> Site:
    """A running server with its catalogue, for a test that changes it."""
    return setup_site(server, tmp_path)


def test_remote_ckan_reads(site: Site) -> None:
    with site.ckan() as anonymous:
        assert anonymous.action.status_show()["ckan_version"].startswith("2.")
        assert anonymous.action.package_list() == ["open-counts"]
        package = anonymous.action.package_show(id="open-counts")
        assert package["organization"]["name"] == "city" and package["private"] is False
        assert package["resources"][0]["id"] == "open-counts.csv"
        found = anonymous.action.package_search(
            q="*:*", fq="tags:traffic", **{"facet.field": ["tags"]}
        )
        assert found["count"] == 1 and found["facets"]["tags"] == {"traffic": 1}
        rows = anonymous.action.datastore_search(
            resource_id="open-counts.csv", filters={"junction": "J1"}, sort="cars desc"
        )
        assert [record["cars"] for record in rows["records"]] == [120, 95] and rows["total"] == 2
        text = 'SELECT junction, sum(cars) AS cars FROM "open-counts.csv" GROUP BY junction'
        summed = anonymous.action.datastore_search_sql(sql=f"{text} ORDER BY junction")
        assert summed["records"] == [
            {"junction": "J1", "cars": 215},
            {"junction": "J2", "cars": 80},
        ]
    with site.ckan("erin", get_only=True) as editor:  # GET, with the token in headers only
        assert editor.action.package_show(id="secret-counts")["private"] is True
        assert editor.action.package_list(include_private=True) == [
            "open-counts",
            "secret-counts",
            "team-counts",
        ]


def test_remote_ckan_raises_ckans_exceptions(site: Site) -> None:
    with site.ckan() as anonymous:
        with pytest.raises(ckanapi.NotFound):
            anonymous.action.package_show(id="secret-counts")
        with pytest.raises(ckanapi.NotFound):
            anonymous.action.datastore_search(resource_id="team-counts.csv")
        with pytest.raises(ckanapi.NotAuthorized):
            anonymous.action.package_create(name="nope", owner_org="city")
        with pytest.raises(ckanapi.ValidationError) as invalid:
            anonymous.action.datastore_search(resource_id="open-counts", filters={"nope": 1})
        assert "filters" in invalid.value.error_dict
        with pytest.raises(ckanapi.ValidationError):
            anonymous.action.datastore_search_sql(sql='DELETE FROM "open-counts.csv"')
        with pytest.raises(ckanapi.NotFound):
            anonymous.action.no_such_action()
    with site.ckan("oscar") as outsider:
        with pytest.raises(ckanapi.NotAuthorized):
            outsider.action.datastore_search(resource_id="team-counts.csv")
        with pytest.raises(ckanapi.NotAuthorized):
            outsider.action.package_patch(id="open-counts", notes="Mine now")
    with site.ckan("erin") as editor:
        with pytest.raises(ckanapi.ValidationError) as missing:
            editor.action.package_create(name="no-owner")
        assert "owner_org" in missing.value.error_dict
        with pytest.raises(ckanapi.NotAuthorized):
            editor.action.package_patch(id="secret-counts", private=False)
    with pytest.raises(ckanapi.NotAuthorized):
        ckanapi.RemoteCKAN(site.server.url, apikey="cs_forged").action.package_list()


def test_remote_ckan_writes_versions(own_site: Site, tmp_path: Path) -> None:
    newer = tmp_path / "newer.csv"
    newer.write_text("junction,cars\nJ3,7\n")
    with own_site.ckan("erin") as editor:
        with newer.open("rb") as handle:
            created = editor.action.resource_create(package_id="secret-counts", upload=handle)
        assert created["id"] == "secret-counts.csv" and created["version"] == 2
        rows = editor.action.datastore_search(resource_id="secret-counts")
        assert rows["records"] == [{"junction": "J3", "cars": 7}]
        editor.action.datastore_create(
            resource_id="secret-counts",
            fields=[{"id": "id", "type": "int"}, {"id": "name", "type": "text"}],
            records=[{"id": 1, "name": "one"}],
            primary_key=["id"],
        )
        editor.action.datastore_upsert(
            resource_id="secret-counts.csv",
            records=[{"id": 1, "name": "uno"}, {"id": 2, "name": "dos"}],
        )
        editor.action.datastore_delete(resource_id="secret-counts.csv", filters={"id": 2})
        assert editor.action.datastore_search(resource_id="secret-counts")["records"] == [
            {"id": 1, "name": "uno"}
        ]
        patched = editor.action.package_patch(id="secret-counts", notes="Changed by ckanapi")
        assert patched["notes"] == "Changed by ckanapi" and patched["private"] is True


def test_nothing_private_leaks_to_outsiders(site: Site) -> None:
    for who in ("anonymous", "oscar"):
        with site.ckan(who) as ckan:
            answers = [
                ckan.action.package_list(include_private=True),
                ckan.action.package_search(
                    include_private=True, rows=1000, **{"facet.field": ["tags", "organization"]}
                ),
                ckan.action.current_package_list_with_resources(include_private=True),
                ckan.action.organization_list(all_fields=True),
                ckan.action.organization_show(id="city", include_datasets=True),
                ckan.action.tag_list(),
            ]
            text = json.dumps(answers)
            assert not [word for word in PRIVATE_WORDS if word in text], who
            assert answers[4]["package_count"] == (1 if who == "anonymous" else 2)
            for call in (
                lambda: ckan.action.resource_show(id="secret-counts.csv"),
                lambda: ckan.action.datastore_search(resource_id="secret-counts.csv"),
                lambda: ckan.action.datastore_search_sql(
                    sql='SELECT count(*) FROM "secret-counts.csv"'
                ),
            ):
                with pytest.raises(ckanapi.NotFound):
                    call()


def ckanapi_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``ckanapi`` command. Its dump and load start ``ckanapi`` workers
    by name, so the folder of this interpreter's scripts goes first on PATH."""
    scripts = Path(sys.executable).parent
    command = scripts / "ckanapi"
    if not command.exists():
        found = shutil.which("ckanapi")
        assert found, "the ckanapi command is not installed (pip install ckanapi)"
        command = Path(found)
    env = dict(os.environ)
    env["PATH"] = f"{command.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(command), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def second_server(site: Site, tmp_path: Path, postgres_database: str | None) -> Iterator[Server]:
    """Another ``cityshare serve`` on a store of its own (same engine as the first)."""
    folder = tmp_path / "second"
    folder.mkdir()
    with store_url(site.engine, folder, postgres_database) as url:
        running = start_server(cityshare_env(folder / "data", url))
        try:
            yield running
        finally:
            running.process.terminate()
            running.process.wait(timeout=20)


def test_ckanapi_cli_action_dump_and_load(
    site: Site, second_server: Server, tmp_path: Path
) -> None:
    url = site.server.url
    listed = ckanapi_cli("action", "package_list", "-r", url, "-j")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == ["open-counts"]
    searched = ckanapi_cli("action", "package_search", "-r", url, "-g", "fq=tags:traffic", "-j")
    assert json.loads(searched.stdout)["count"] == 1
    # Anonymous dumps see the open dataset only.
    public = tmp_path / "public.jsonl"
    dumped = ckanapi_cli("dump", "datasets", "--all", "-r", url, "-O", str(public), "-q")
    assert dumped.returncode == 0, dumped.stderr
    assert [json.loads(line)["name"] for line in public.read_text().splitlines()] == ["open-counts"]
    # The admin dumps everything and loads it into another site.
    everything = tmp_path / "datasets.jsonl"
    dumped = ckanapi_cli(
        "dump",
        "datasets",
        "--all",
        "--include-private",
        "-r",
        url,
        "-a",
        site.tokens["admin"],
        "-O",
        str(everything),
    )
    assert dumped.returncode == 0, dumped.stderr
    originals = {
        record["name"]: record for record in map(json.loads, everything.read_text().splitlines())
    }
    assert set(originals) == {"open-counts", "team-counts", "secret-counts"}

    init = run_cli_here(second_server.env, "init", "--json")
    token = json.loads(init.stdout)["admin_token"]
    with httpx.Client(
        base_url=second_server.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        assert (
            http.post("/api/v1/organisations", json={"name": "city", "title": "City"}).status_code
            == 201
        )
    for _ in range(2):  # the second load updates what the first created
        loaded = ckanapi_cli(
            "load", "datasets", "-r", second_server.url, "-a", token, "-I", str(everything)
        )
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    with ckanapi.RemoteCKAN(second_server.url, apikey=token) as copy:
        assert copy.action.package_list(include_private=True) == sorted(originals)
        for name, original in originals.items():
            arrived = copy.action.package_show(id=name)
            for key in ("title", "notes", "license_id", "private", "visibility", "owner_org"):
                assert arrived[key] == original[key], (name, key)
            assert [tag["name"] for tag in arrived["tags"]] == [
                tag["name"] for tag in original["tags"]
            ]
            assert arrived["resources"] == []  # resources come from data, which is not copied


def test_frictionless_opens_a_dataset_through_ckan(site: Site) -> None:
    url = site.server.url
    package = frictionless.Package(f"{url}/dataset/open-counts")
    assert package.name == "open-counts" and package.title == "Open counts"
    csv = package.resources[0]
    assert csv.format == "csv" and csv.schema.field_names == [
        "junction",
        "counted_at",
        "cars",
        "speed",
    ]
    rows = csv.read_rows()
    assert [row["cars"] for row in rows] == [120, 80, 95]
    assert frictionless.validate(csv).valid
    same = frictionless.Package(control=CkanControl(baseurl=url, dataset="open-counts"))
    assert [resource.path for resource in same.resources] == [
        resource.path for resource in package.resources
    ]
    with pytest.raises(frictionless.FrictionlessException):
        frictionless.Package(f"{url}/dataset/secret-counts")
    with pytest.raises(frictionless.FrictionlessException):
        frictionless.Package(
            control=CkanControl(baseurl=url, dataset="secret-counts", apikey=site.tokens["oscar"])
        )
    # With a token that may see it, the metadata opens (the rows are read with a Bearer token).
    private = frictionless.Package(
        control=CkanControl(baseurl=url, dataset="secret-counts", apikey=site.tokens["erin"])
    )
    assert private.name == "secret-counts"
