"""An unreachable store: which errors mean it, one log line per outage, and a 503 on every
route of an app whose PostgreSQL is not there (a port nobody listens on: a real refusal)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from cityshare.app import create_app
from cityshare.config import Settings
from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.storage import create_store_engine
from cityshare.storage.health import StoreHealth, is_unavailable_error, watch_store
from tests.e2e.conftest import free_port

STORE_LOG = "cityshare.store"


def refused_url() -> str:
    """A PostgreSQL URL on a port where nothing listens."""
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"


def error_of(engine: Engine, statement: str) -> BaseException:
    """The error ``statement`` raises on ``engine``."""
    with pytest.raises(Exception) as raised, engine.connect() as connection:
        connection.execute(text(statement))
    return raised.value


def unavailable_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == STORE_LOG]


def test_a_refused_postgresql_connection_is_unavailable() -> None:
    engine = create_store_engine(refused_url())
    try:
        error = error_of(engine, "SELECT 1")
    finally:
        engine.dispose()
    assert isinstance(error, DBAPIError)
    assert is_unavailable_error(error)
    assert is_unavailable_error(error.orig)  # the driver's own error too


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError) as raised:
        sqlite3.connect(tmp_path / "missing" / "store.db")
    assert is_unavailable_error(raised.value)


def test_a_full_pool_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'x.db'}", pool_size=1, max_overflow=0, pool_timeout=0.05
    )
    try:
        with engine.connect():
            error = error_of(engine, "SELECT 1")
    finally:
        engine.dispose()
    assert is_unavailable_error(error)


@pytest.mark.parametrize(
    "statement",
    ["SELECT * FROM nowhere", "SELECT 1 +", "SELECT abs(-9223372036854775808)"],
)
def test_bugs_and_bad_statements_are_not_unavailable(tmp_path: Path, statement: str) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert not is_unavailable_error(error_of(engine, statement))
    finally:
        engine.dispose()


def test_a_busy_store_a_time_limit_and_a_full_disk_keep_their_own_answers() -> None:
    assert not is_unavailable_error(sqlite3.OperationalError("database is locked"))
    assert not is_unavailable_error(sqlite3.OperationalError("interrupted"))
    assert not is_unavailable_error(sqlite3.OperationalError("database or disk is full"))
    # PostgreSQL's statement timeout and full disk are OperationalErrors with a SQLSTATE.
    assert not is_unavailable_error(psycopg.errors.QueryCanceled("statement timeout"))
    assert not is_unavailable_error(psycopg.errors.DiskFull("no space left on device"))
    assert is_unavailable_error(psycopg.errors.AdminShutdown("terminating connection"))
    assert not is_unavailable_error(ValueError("unable to open database file"))


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    health = StoreHealth()
    caplog.set_level(logging.INFO, logger=STORE_LOG)
    health.mark_up()  # not down: nothing to say
    error = sqlite3.OperationalError("disk I/O error")
    threads = [threading.Thread(target=health.mark_down, args=(error,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert health.is_down
    health.mark_up()
    health.mark_up()
    assert not health.is_down
    lines = unavailable_lines(caplog)
    assert len(lines) == 2, lines
    assert "unreachable" in lines[0] and "sqlite3.OperationalError: disk I/O error" in lines[0]
    assert "back after" in lines[1]
    assert all(record.exc_info is None for record in caplog.records)


def test_the_engine_reports_failures_and_the_next_statement_that_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=STORE_LOG)
    health = StoreHealth()
    down = create_store_engine(refused_url())
    watch_store(down, health)
    try:
        for _ in range(3):
            error_of(down, "SELECT 1")
    finally:
        down.dispose()
    assert health.is_down
    assert len(unavailable_lines(caplog)) == 1
    up = create_store_engine(f"sqlite:///{tmp_path / 'x.db'}")
    watch_store(up, health)
    try:
        error_of(up, "SELECT * FROM nowhere")  # a bug is not the store coming back...
        assert health.is_down
        with up.connect() as connection:  # ...a statement that runs is
            connection.execute(text("SELECT 1"))
    finally:
        up.dispose()
    assert not health.is_down
    assert len(unavailable_lines(caplog)) == 2


@pytest.fixture
def down_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app whose PostgreSQL store is not there; server exceptions are raised in the test
    (an unreachable store must never reach Starlette's 500 handler)."""
    settings = Settings(data_dir=tmp_path, database_url=refused_url(), secret_key="k" * 32)
    site = Site(settings=settings, engine=create_store_engine(settings.database_url or ""),
                secret_key=b"k" * 32)  # fmt: skip
    watch_store(site.engine, site.health)
    with TestClient(create_app(Runtime(site)), raise_server_exceptions=True) as client:
        yield client
    site.engine.dispose()


ROUTES = [
    ("GET", "/api/v1", {}),
    ("GET", "/api/v1/datasets", {}),
    ("GET", "/api/v1/datasets?q=traffic", {}),
    ("GET", "/api/v1/datasets/counts", {}),
    ("GET", "/api/v1/datasets/counts/rows", {}),
    ("GET", "/api/v1/datasets", {"Authorization": f"Bearer cs_{'a' * 43}"}),  # middleware
    ("POST", "/api/v1/ingest", {"X-Device-Id": "d1", "X-Signature": "c2lnbmF0dXJl"}),
]


@pytest.mark.parametrize(("method", "path", "headers"), ROUTES)
def test_every_api_route_answers_503_with_retry_after(
    down_client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    body = b'{"sent_at": "2024-01-01T00:00:00Z", "nonce": "n", "readings": []}'
    response = down_client.request(method, path, headers=headers, content=body)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/store-unavailable")
    assert "Traceback" not in response.text and "SQL" not in response.text


def test_ckan_answers_503_in_its_envelope(down_client: TestClient) -> None:
    response = down_client.get("/api/3/action/package_show", params={"id": "counts"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    envelope = response.json()
    assert envelope["success"] is False
    assert envelope["error"]["__type"] == "Store unavailable"


@pytest.mark.parametrize("path", ["/", "/dataset/counts"])
def test_a_browser_gets_a_503_page(down_client: TestClient, path: str) -> None:
    response = down_client.get(path, headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("text/html")
    assert "Store unavailable" in response.text
