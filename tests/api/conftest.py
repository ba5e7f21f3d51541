"""Fixtures for HTTP API tests through the in-process ASGI client. The ``site`` and ``world``
of one's own come from the root ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityshare.app import create_app
from cityshare.runtime import Runtime
from tests.api.ckan_support import described_client
from tests.conftest import ENGINES
from tests.world import World


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An in-process HTTP client; server errors come back as responses, as in production."""
    with TestClient(create_app(runtime), raise_server_exceptions=False) as http:
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
