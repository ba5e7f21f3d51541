"""Create or upgrade a store to the newest schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from cityshare.storage.engine import writer

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade_store(engine: Engine) -> None:
    """Bring the store behind ``engine`` to the newest schema (idempotent), its datasets
    indexed for search and its planner statistics in step with its size."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        # Imported here: the index is catalogue code, which itself stands on storage.
        from cityshare.catalogue.search_index import prepare_search

        prepare_search(connection)
