"""Storage: engine set-up, metadata tables, migrations and dialect specifics."""

from cityshare.storage.engine import create_store_engine
from cityshare.storage.migrate import upgrade_store

__all__ = ["create_store_engine", "upgrade_store"]
