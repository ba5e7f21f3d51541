"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``CITYSHARE_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Each test session creates its own
database and drops it afterwards; each test gets a fresh schema inside it. When
PostgreSQL cannot be reached the PostgreSQL cases are skipped, unless
``CITYSHARE_REQUIRE_SERVICES=1``, which makes them fail instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.storage import create_store_engine, upgrade_store

if TYPE_CHECKING:
    from tests.world import World

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ENGINES = ["sqlite", "postgresql"]


def services_required() -> bool:
    """True when a missing service must fail the run instead of skipping."""
    return os.environ.get("CITYSHARE_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip a service-dependent test, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} (CITYSHARE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _admin_url() -> str:
    raw = os.environ.get("CITYSHARE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    url = make_url(raw)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test session (None when unreachable)."""
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"cityshare_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        yield None
        return
    yield make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _postgres_schema_url(database_url: str, schema: str) -> str:
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def store_url(engine_name: str, folder: Path, postgres_database: str | None) -> Iterator[str]:
    """A URL of an empty store on ``engine_name``: a SQLite file, or a fresh PostgreSQL schema."""
    if engine_name == "sqlite":
        yield f"sqlite:///{folder / 'store.db'}"
        return
    if postgres_database is None:
        skip_or_fail("PostgreSQL is not reachable at CITYSHARE_TEST_POSTGRES_URL")
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(postgres_database, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_database: str | None
) -> Iterator[str]:
    """A URL of an empty store, on the engine named by the ``engine_name`` parameter."""
    with store_url(getattr(request, "param", "sqlite"), tmp_path, postgres_database) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty store (SQLite or PostgreSQL)."""
    store = create_store_engine(database_url, pool_size=4)
    upgrade_store(store)
    yield store
    store.dispose()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A Site on a fresh store (SQLite or PostgreSQL), for tests that change it."""
    from tests.world import make_site  # tests.world imports this module

    opened = make_site(database_url, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def runtime(site: Site) -> Iterator[Runtime]:
    """The site's per-process parts (audit writer, readers' caches, ingestion), the ones
    the ``client`` fixtures' apps use; their background work is finished afterwards."""
    running = Runtime(site)
    yield running
    running.finish_background_work()


@pytest.fixture
def world(runtime: Runtime, tmp_path: Path) -> World:
    """A populated site of one's own."""
    from tests.world import build_world  # tests.world imports this module

    return build_world(runtime.site, tmp_path, runtime=runtime)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that touches storage once per engine."""
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", ENGINES, indirect=True)
