"""A running cityshare site: settings, the store and the site secret, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from cityshare.config import Settings
from cityshare.storage import create_store_engine, upgrade_store
from cityshare.storage.engine import writer


@dataclass(frozen=True)
class Site:
    """Everything a core service needs; one per process."""

    settings: Settings
    engine: Engine
    secret_key: bytes

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Site:
        """Connect to the store (creating and upgrading it unless ``migrate`` is False)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_store_engine(settings.resolved_database_url())
        if migrate:
            upgrade_store(engine)
        return cls(settings=settings, engine=engine, secret_key=settings.resolved_secret_key())

    @property
    def writer(self) -> Engine:
        """The engine for write transactions (takes SQLite's write lock up front)."""
        return writer(self.engine)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def utcnow() -> datetime:
    """The current time in UTC, without tzinfo (how the store keeps times)."""
    return datetime.now(UTC).replace(tzinfo=None)
