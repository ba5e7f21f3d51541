"""Fixtures for HTTP API tests through the in-process ASGI client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityshare.api import create_app
from cityshare.site import Site
from tests.api.ckan_support import described_client
from tests.conftest import ENGINES
from tests.world import World, build_world, make_site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A Site on a fresh store (SQLite or PostgreSQL)."""
    opened = make_site(database_url, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def world(site: Site, tmp_path: Path) -> World:
    """A populated site."""
    return build_world(site, tmp_path)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    """An in-process HTTP client; server errors come back as responses, as in production."""
    with TestClient(create_app(site), raise_server_exceptions=False) as http:
        yield http


@pytest.fixture(scope="module", params=ENGINES)
def ckan(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[tuple[World, TestClient]]:
    """One described site per engine, shared by a module's read-only CKAN tests."""
    folder: Path = tmp_path_factory.mktemp("ckan")
    yield from described_client(request.param, folder, postgres_database)
