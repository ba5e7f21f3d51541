"""Create or upgrade a store to the newest schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from cityshare.storage.engine import writer

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade_store(engine: Engine) -> None:
    """Bring the store behind ``engine`` to the newest schema (idempotent). Its search index
    is made ready above storage, by ``cityshare.runtime.open_site``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with writer(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
