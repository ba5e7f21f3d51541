"""``cityshare harvest`` as a real command, from a second real ``cityshare serve`` started
here, through its CKAN API and through its DCAT catalogue.

The source has datasets of every visibility: open ones with data, an open one with a
personal column, one without data, a live sensor dataset, a shared and a private one.
Only what an anonymous visitor of the source may read arrives; nothing else does, not
even with a token of the source's administrator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ENGINES, store_url
from tests.e2e.conftest import Server, cityshare_env, run_cli, run_cli_here, start_server

pytestmark = pytest.mark.e2e

COUNTS = (
    "junction,counted_at,cars,speed\n"
    "J1,2024-03-04T08:00:00Z,120,31.5\n"
    "J2,2024-03-04T09:00:00Z,80,42.0\n"
)
COUNTS_V2 = COUNTS + "J3,2024-03-04T10:00:00Z,95,35.25\n"
TRIPS = "trip,driver,minutes\nT1,Alice Example,12\nT2,Bob Example,30\n"
OPEN = ("air-live", "open-counts", "open-empty", "open-trips")
HIDDEN = ("secret-counts", "team-counts")
HIDDEN_WORDS = ("team-counts", "secret-counts", "Secret counts", "Team counts", "secret-tag")
PERSONAL_WORDS = ("driver", "Alice Example", "Bob Example")


@dataclass
class Store:
    """A cityshare store: its engine, its environment for the CLI, a server on it, an admin
    token."""

    engine: str
    env: dict[str, str]
    server: Server
    token: str

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def http(self, token: str | None = None) -> httpx.Client:
        """A client of the store's server (anonymous unless ``token`` is given)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def harvest(self, *args: str) -> tuple[int, dict[str, Any], str]:
        """``cityshare harvest ARGS --org mirror --json``: exit status, summary, stderr."""
        done = run_cli(self.env, "harvest", *args, "--org", "mirror", "--json")
        summary = json.loads(done.stdout) if done.stdout.strip() else {}
        return done.returncode, summary, done.stdout + done.stderr

    def names(self) -> list[str]:
        """Every dataset of the store, as its administrator sees them (CKAN's list)."""
        with self.http(self.token) as http:
            answer = http.get("/api/3/action/package_list", params={"include_private": "true"})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["result"])

    def rows(self, name: str, token: str | None = None) -> list[dict[str, Any]]:
        """A dataset's rows over HTTP (anonymously by default)."""
        with self.http(token) as http:
            answer = http.get(f"/api/v1/datasets/{name}/rows", params={"_limit": 1000})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["rows"])

    def versions(self, name: str) -> int:
        """How many versions a dataset has."""
        with self.http(self.token) as http:
            return len(http.get(f"/api/v1/datasets/{name}/versions").json())

    def dataset(self, name: str, token: str | None = None) -> httpx.Response:
        """``GET /api/v1/datasets/{name}``."""
        with self.http(token) as http:
            return http.get(f"/api/v1/datasets/{name}")


@contextmanager
def running_store(engine: str, folder: Path, postgres_database: str | None) -> Iterator[Store]:
    """A store of its own on ``engine``, initialised (``cityshare init``, run in this
    process), with a server on it."""
    with store_url(engine, folder, postgres_database) as url:
        env = cityshare_env(folder / "data", url)
        init = run_cli_here(env, "init", "--json")
        assert init.returncode == 0, init.stderr
        token = json.loads(init.stdout)["admin_token"]
        server = start_server(env)
        try:
            yield Store(engine=engine, env=env, server=server, token=token)
        finally:
            server.process.terminate()
            server.process.wait(timeout=20)


@pytest.fixture(scope="module", params=ENGINES)
def source(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[Store]:
    """The remote site: datasets of every visibility, built over its own API and CLI.

    One per engine, shared by the module's tests, which only read it, but for
    ``test_harvest_through_ckan_again_and_after_changes``: after checking the source as
    built, it renames ``open-counts`` and publishes a second version of it. The other tests
    compare what they harvest with the source as it is at the time, so they pass before or
    after that change.
    """
    folder = tmp_path_factory.mktemp("harvest")
    with running_store(request.param, folder / "source", postgres_database) as store:
        build_source(store, folder)
        yield store


@pytest.fixture
def local(source: Store, tmp_path: Path, postgres_database: str | None) -> Iterator[Store]:
    """The harvesting site, on the source's engine, with the organisation ``mirror`` and
    nothing in it: a new one for every test."""
    with running_store(source.engine, tmp_path / "local", postgres_database) as store:
        assert run_cli_here(store.env, "org", "create", "mirror").returncode == 0
        yield store


def build_source(store: Store, folder: Path) -> None:
    """Organisation ``city`` with open, shared and private datasets, data, a personal
    column and a live sensor dataset with one reading."""
    with store.http(store.token) as http:
        assert (
            http.post("/api/v1/organisations", json={"name": "city", "title": "City"}).status_code
            == 201
        )
        for name, title, visibility, csv in (
            ("open-counts", "Open counts", "open", COUNTS),
            ("open-empty", "Open, no data yet", "open", None),
            ("open-trips", "Trips", "open", TRIPS),
            ("team-counts", "Team counts", "shared", COUNTS),
            ("secret-counts", "Secret counts", "private", COUNTS),
        ):
            created = http.post("/api/v1/datasets", json=_dataset(name, title, visibility))
            assert created.status_code == 201, created.text
            if csv is not None:
                put = http.put(
                    f"/api/v1/datasets/{name}/data",
                    content=csv.encode(),
                    headers={"Content-Type": "text/csv"},
                )
                assert put.status_code == 201, put.text
        classes = {"column_classes": {"driver": "personal"}}
        assert http.patch("/api/v1/datasets/open-trips", json=classes).status_code == 200
    add_sensor(store, folder)


def _dataset(name: str, title: str, visibility: str) -> dict[str, Any]:
    tags = ["traffic", "secret-tag"] if visibility != "open" else ["traffic"]
    return {
        "name": name,
        "organisation": "city",
        "title": title,
        "description": f"{title}, counted every hour.",
        "visibility": visibility,
        "tags": tags,
        "licence": "CC-BY-4.0",
        "update_frequency": "hourly",
        "temporal": {"start": "2024-03-01", "end": "2024-03-31"},
        "spatial": {"type": "Point", "coordinates": [-1.55, 53.8]},
    }


def add_sensor(store: Store, folder: Path) -> None:
    """The open sensor dataset ``air-live``: one device, one stream, one reading (with the
    ``cityshare device`` and ``stream`` commands, run in this process)."""
    key = folder / "device-key"
    assert run_cli_here(store.env, "device", "keygen", str(key)).returncode == 0
    added = run_cli_here(
        store.env, "device", "add", "--org", "city", "--name", "station", "--public-key",
        f"{key}.pub", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    uid = json.loads(added.stdout)["uid"]
    stream = run_cli_here(
        store.env, "stream", "add", "--org", "city", "--visibility", "open", "--dataset",
        "air-live", "--device", uid, "--name", "no2", "--property", "no2",
    )  # fmt: skip
    assert stream.returncode == 0, stream.stderr
    sent = run_cli_here(
        store.env, "device", "send", uid, "--key", str(key), "--stream", "no2", "--value",
        "41.5", "--url", store.url,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr


def assert_nothing_private(local: Store, output: str) -> None:
    """The local store has exactly the source's open datasets, without personal columns,
    and neither it nor the command's output names anything hidden."""
    assert local.names() == list(OPEN)
    for name in HIDDEN:
        assert local.dataset(name, local.token).status_code == 404
    with local.http(local.token) as http:
        everything = http.get("/api/3/action/package_search", params={"rows": 1000}).text
        everything += http.get("/catalog.ttl").text
    everything += json.dumps(local.rows("open-trips", local.token)) + output
    for word in (*HIDDEN_WORDS, *PERSONAL_WORDS):
        assert word not in everything, word


def test_harvest_through_ckan_again_and_after_changes(source: Store, local: Store) -> None:
    status, summary, output = local.harvest(source.url, "--allow-private-addresses")
    assert status == 0, output
    assert (summary["type"], summary["source"]) == ("ckan", source.url)
    assert {item["name"]: item["status"] for item in summary["datasets"]} == dict.fromkeys(
        OPEN, "created"
    )
    assert_nothing_private(local, output)
    for name in ("open-counts", "open-trips"):  # the rows anyone may read
        assert local.rows(name) == source.rows(name), name
    assert [row["value"] for row in local.rows("air-live")] == [41.5]  # a snapshot
    counts = local.dataset("open-counts").json()
    assert (counts["title"], counts["licence"], counts["tags"], counts["visibility"]) == (
        "Open counts",
        "CC-BY-4.0",
        ["traffic"],
        "open",
    )
    assert counts["temporal"] == {"start": "2024-03-01", "end": "2024-03-31"}
    assert counts["spatial"] == {"type": "Point", "coordinates": [-1.55, 53.8]}
    assert counts["organisation"] == "mirror" and counts["update_frequency"] == "hourly"
    assert local.dataset("open-empty").json()["current_version"] is None

    status, again, output = local.harvest(source.url, "--allow-private-addresses")
    assert status == 0 and again["counts"]["unchanged"] == 4 and again["counts"]["created"] == 0
    assert local.names() == list(OPEN) and local.versions("open-counts") == 1

    with source.http(source.token) as http:
        patched = http.patch("/api/v1/datasets/open-counts", json={"title": "Counts, renamed"})
        assert patched.status_code == 200
        put = http.put(
            "/api/v1/datasets/open-counts/data",
            content=COUNTS_V2.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert put.status_code == 201
    status, changed, output = local.harvest(source.url, "--allow-private-addresses")
    assert status == 0, output
    outcome = {item["name"]: item for item in changed["datasets"]}
    assert outcome["open-counts"]["status"] == "updated"
    assert "metadata: title" in outcome["open-counts"]["detail"]
    assert changed["counts"]["updated"] >= 1 and changed["counts"]["created"] == 0
    assert local.versions("open-counts") == 2
    assert local.dataset("open-counts").json()["title"] == "Counts, renamed"
    assert local.rows("open-counts") == source.rows("open-counts")

    # The same source read as DCAT is another source: it makes nothing twice.
    status, dcat, output = local.harvest(
        f"{source.url}/catalog.ttl", "--type", "dcat", "--allow-private-addresses"
    )
    assert status == 0, output
    assert dcat["counts"]["created"] == 0 and dcat["counts"]["skipped"] == 4
    assert local.names() == list(OPEN) and local.versions("open-counts") == 2


def test_harvest_through_dcat_pages(source: Store, local: Store) -> None:
    catalogue = f"{source.url}/catalog.ttl?page_size=2"  # two pages, joined by hydra:next
    status, summary, output = local.harvest(catalogue, "--allow-private-addresses")
    assert status == 0, output
    assert summary["type"] == "dcat"
    assert {item["name"]: item["status"] for item in summary["datasets"]} == dict.fromkeys(
        OPEN, "created"
    )
    assert_nothing_private(local, output)
    for name in ("open-counts", "open-trips"):
        assert local.rows(name) == source.rows(name), name
    trips = local.dataset("open-trips").json()
    assert (trips["title"], trips["licence"], trips["update_frequency"]) == (
        "Trips",
        "CC-BY-4.0",
        "hourly",
    )
    status, again, output = local.harvest(catalogue, "--type", "dcat", "--allow-private-addresses")
    assert status == 0 and again["counts"]["unchanged"] == 4, output
    assert local.names() == list(OPEN) and local.versions("open-trips") == 1


def test_loopback_is_refused_without_the_opt_in_and_tokens_open_nothing(
    source: Store, local: Store
) -> None:
    refused = run_cli(local.env, "harvest", source.url, "--org", "mirror")
    assert refused.returncode == 1
    assert f"Refused {source.url}: 127.0.0.1 is a loopback address" in refused.stderr
    assert "--allow-private-addresses" in refused.stderr
    assert local.names() == []
    # The source's administrator may see everything there; the harvest still takes only
    # what is public, and downloads data anonymously (no personal column comes along).
    status, summary, output = local.harvest(
        source.url, "--allow-private-addresses", "--token", source.token, "--no-data"
    )
    assert status == 0, output
    assert summary["counts"]["not_public"] >= 1
    assert local.names() == list(OPEN)
    status, summary, output = local.harvest(
        source.url, "--allow-private-addresses", "--token", source.token
    )
    assert status == 0, output
    assert_nothing_private(local, output)
    assert local.rows("open-trips") == source.rows("open-trips")
