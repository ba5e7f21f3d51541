"""Fixtures for the web catalogue's page tests: a populated site per engine, with one
more dataset whose every text is hostile, and a client that keeps cookies. The ``site`` and
``world`` of one's own come from the root ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.app import create_app
from cityshare.catalogue import datasets, versions
from cityshare.runtime import Runtime
from tests.conftest import ENGINES
from tests.world import OWNER, World, populated_client

SCRIPT = "<script>alert('title')</script>"
HOSTILE = {
    "title": f"Bus stops {SCRIPT}",
    "description": "See <img src=x onerror=alert(1)> and [here](javascript:alert(2))",
    "tags": ['"><svg onload=alert(3)>', "javascript:alert(4)"],
}
# Points in Newcastle upon Tyne; the names are hostile too.
HOSTILE_CSV = (
    "stop,longitude,latitude,shelter,opened_at\n"
    "<script>alert(5)</script>,-1.6178,54.9783,yes,2024-01-01T00:00:00Z\n"
    "<svg onload=alert(6)>,-1.6000,54.9700,no,2024-01-02T00:00:00Z\n"
    "javascript:alert(7),-1.5900,54.9900,yes,2024-01-03T00:00:00Z\n"
)


@pytest.fixture(scope="module", params=ENGINES)
def web(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[tuple[World, TestClient]]:
    """A populated site and an in-process client, with the hostile dataset ``bus-stops``."""
    folder: Path = tmp_path_factory.mktemp("web")
    with populated_client(request.param, folder, postgres_database) as (world, client):
        admin = console_actor(world.site, "admin")
        datasets.create_dataset(
            world.site, admin, organisation=OWNER, name="bus-stops", visibility="open", **HOSTILE
        )
        source = folder / "stops.csv"
        source.write_text(HOSTILE_CSV)
        versions.publish_version(
            world.site, admin, "bus-stops", source=source, media_type="text/csv"
        )
        yield world, client


@pytest.fixture
def browser_client(runtime: Runtime) -> Iterator[TestClient]:
    """An in-process client that keeps cookies, as a browser does."""
    with TestClient(create_app(runtime), raise_server_exceptions=False) as http:
        yield http
