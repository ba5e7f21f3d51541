"""The database stopped and started under a running ``cityshare serve``.

A PostgreSQL cluster of the test's own (:mod:`tests.faults.pg_cluster`, never the
machine's shared server) is stopped with ``pg_ctl stop -m fast`` while the server runs.
Every kind of route then answers ``503`` with ``Retry-After``, in its own format (problem+json
on the API and ingestion, CKAN's envelope, an HTML page), the log says once that the store is
unreachable and shows no traceback; ingestion's 503 makes the device resend. Started again,
the same routes answer 200 without a restart of cityshare, the log says once that the store
is back, and the resent batch is stored exactly once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from cityshare.site import Site
from cityshare.storage.schema import ingest_batches
from tests.e2e.conftest import cityshare_env, free_port, wait_until_up
from tests.faults.pg_cluster import PgCluster, postgres_cluster
from tests.world import World, build_world, make_site

ROUNDS = 3  # each route asked this many times during the outage: still one log line
BACK_SECONDS = 60  # generous: how long the server may take to notice the store is back
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@dataclass
class Running:
    """``cityshare serve`` with its log (stdout and stderr) in a file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the test's own, removed afterwards."""
    with postgres_cluster() as started:
        yield started


@pytest.fixture
def world(cluster: PgCluster, tmp_path: Path) -> Iterator[World]:
    """The populated world of the API tests, stored in the cluster."""
    site = make_site(cluster.create_database("cityshare"), tmp_path / "data")
    built = build_world(site, tmp_path)
    built.runtime.finish_background_work()
    yield built
    site.close()


@pytest.fixture
def server(world: World, tmp_path: Path) -> Iterator[Running]:
    """``cityshare serve`` on the world's store, one worker, its log kept."""
    env = cityshare_env(tmp_path / "data", world.site.settings.resolved_database_url())
    env["CITYSHARE_SECRET_KEY"] = "test-secret-key"  # the world's sessions and cursors
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cityshare", "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = Running(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_until_up(f"{running.url}/api/v1", process)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=60)


def _requests(world: World) -> dict[str, tuple[str, str, dict[str, str]]]:
    """Routes of every kind, by what they show: (method, path, headers)."""
    member = world.headers("member")
    return {
        "api-index": ("GET", "/api/v1", {}),
        "api-rows": ("GET", "/api/v1/datasets/open-counts/rows", {}),
        "api-search": ("GET", "/api/v1/datasets?q=counts", {}),
        "api-dataset": ("GET", "/api/v1/datasets/open-counts", member),  # a token to look up
        "ckan": ("GET", "/api/3/action/package_show?id=open-counts", {}),
        "web": ("GET", "/dataset/open-counts", HTML),
    }


def _ingest(client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post("/api/v1/ingest", content=body, headers=headers)


def _assert_unavailable(kind: str, response: httpx.Response) -> None:
    assert response.status_code == 503, (kind, response.status_code, response.text[:300])
    assert int(response.headers["retry-after"]) > 0, kind
    media = response.headers["content-type"]
    if kind == "ckan":
        envelope = response.json()
        assert envelope["success"] is False
        assert envelope["error"]["__type"] == "Store unavailable"
    elif kind == "web":
        assert media.startswith("text/html"), media
        assert "Store unavailable" in response.text
    else:
        assert media == "application/problem+json", (kind, media)
        assert response.json()["type"].endswith("/store-unavailable")


def _wait_until_back(client: httpx.Client) -> None:
    deadline = time.monotonic() + BACK_SECONDS
    while client.get("/api/v1").status_code != 200:
        assert time.monotonic() < deadline, "the server did not see the store come back"
        time.sleep(0.2)


def _stored(site: Site, nonce: str) -> int:
    with site.engine.connect() as connection:
        query = select(func.count()).where(ingest_batches.c.nonce == nonce)
        return int(connection.execute(query).scalar_one())


def test_a_stopped_database_is_a_503_everywhere_and_its_return_needs_no_restart(
    cluster: PgCluster, world: World, server: Running
) -> None:
    routes = _requests(world)
    station = world.station
    assert station is not None
    moment = datetime.now(UTC) - timedelta(minutes=1)
    body, signed = station.signed([("no2-open", moment, 41.5)])
    nonce = body.split(b'"nonce":"')[1].split(b'"')[0].decode()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for kind, (method, path, headers) in routes.items():
            assert client.request(method, path, headers=headers).status_code == 200, kind

        before = len(server.log_text())
        cluster.stop()
        for _ in range(ROUNDS):
            for kind, (method, path, headers) in routes.items():
                _assert_unavailable(kind, client.request(method, path, headers=headers))
            _assert_unavailable("ingest", _ingest(client, body, signed))  # the device keeps it
        during = server.log_text()[before:]
        assert during.count("unreachable") == 1, during[-3000:]
        assert "Traceback" not in during, during[-3000:]

        cluster.start()
        _wait_until_back(client)
        for kind, (method, path, headers) in routes.items():
            assert client.request(method, path, headers=headers).status_code == 200, kind
        resent = _ingest(client, body, signed)  # the same batch, unchanged
        assert resent.status_code == 201, resent.text
        assert _ingest(client, body, signed).status_code == 200  # a duplicate, recognised

    after = server.log_text()[before:]
    assert after.count("unreachable") == 1, after[-3000:]
    assert after.count("is back after") == 1, after[-3000:]
    assert "Traceback" not in after, after[-3000:]
    assert _stored(world.site, nonce) == 1
