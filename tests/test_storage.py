"""The store migrates on both engines and the migration is idempotent."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from cityshare.storage import upgrade_store

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
