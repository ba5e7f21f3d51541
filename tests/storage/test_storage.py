"""The store migrates on both engines and the migration is idempotent."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError

from cityshare.storage import create_store_engine, upgrade_store
from cityshare.storage.engine import is_time_limit_error, time_limited

EXPECTED_TABLES = {
    "organisations",
    "users",
    "memberships",
    "tokens",
    "datasets",
    "dataset_versions",
    "alembic_version",
}


def test_migration_creates_metadata_tables(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES


def test_migration_is_idempotent(engine: Engine) -> None:
    upgrade_store(engine)
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES


RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def test_time_limited_queries_are_cancelled_and_the_connection_recovers(engine: Engine) -> None:
    limited = time_limited(engine, 0.3)
    started = time.monotonic()
    with pytest.raises(OperationalError) as caught, limited.connect() as connection:
        connection.exec_driver_sql(RUNAWAY).scalar()
    assert is_time_limit_error(caught.value)
    assert time.monotonic() - started < 10
    with engine.connect() as connection:  # no limit left behind on pooled connections
        time.sleep(0.4)
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_sqlite_store_is_durable_and_concurrent(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
