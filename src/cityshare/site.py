"""A running cityshare site: settings, the stores and the site secret, passed explicitly."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from cityshare.config import Settings
from cityshare.ratelimit import TokenBucketLimiter, make_limiter
from cityshare.storage import create_store_engine
from cityshare.storage.engine import time_limited, writer
from cityshare.storage.health import StoreHealth, watch_store

# How long a query may hold the event loop before it is moved to a worker thread.
INLINE_QUERY_SECONDS = 0.02


@dataclass(frozen=True)
class Site:
    """Settings, the stores and the site secret: what every core service needs; one per
    process. The per-process parts built on it (background writers, caches) are put
    together by :mod:`cityshare.runtime` and passed to what needs them."""

    settings: Settings
    engine: Engine
    secret_key: bytes
    # Whether the store answered when last used (see cityshare.storage.health).
    health: StoreHealth = field(default_factory=StoreHealth)

    @classmethod
    def open(cls, settings: Settings) -> Site:
        """Connect to the store as it is. To create or upgrade it and make it ready to
        search, open it with :func:`cityshare.runtime.open_site` instead."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_store_engine(settings.resolved_database_url())
        site = cls(settings=settings, engine=engine, secret_key=settings.resolved_secret_key())
        watch_store(engine, site.health)
        return site

    @property
    def writer(self) -> Engine:
        """The engine for write transactions (takes SQLite's write lock up front)."""
        return writer(self.engine)

    @cached_property
    def inline_reader(self) -> Engine:
        """The engine for reads tried inline on the event loop (see api/routes/rows.py)."""
        return time_limited(self.engine, INLINE_QUERY_SECONDS)

    @cached_property
    def query_reader(self) -> Engine:
        """The engine for query pages and counts, cancelled after the query time limit."""
        return time_limited(self.engine, self.settings.limits.query_seconds)

    @cached_property
    def export_reader(self) -> Engine:
        """The engine for streamed exports, cancelled after the export time limit."""
        return time_limited(self.engine, self.settings.limits.export_seconds)

    @cached_property
    def rate_limiter(self) -> TokenBucketLimiter:
        """The rate-limit store, a client like the engine: token buckets in Redis when
        ``redis_url`` is set (shared by every process), else in this process.
        ``rate_limiter.hit(key, rate=, burst=)``."""
        settings = self.settings
        return make_limiter(settings.redis_url, prefix=settings.rate_limit_prefix)

    def close(self) -> None:
        """Release the stores' connections (:meth:`cityshare.runtime.Runtime.close` first
        finishes the background work)."""
        limiter = self.__dict__.pop("rate_limiter", None)
        if limiter is not None:
            limiter.close()
        checkpoint_wal(self.engine)
        self.engine.dispose()


def checkpoint_wal(engine: Engine) -> None:
    """On SQLite, copy the write-ahead log into the database file and empty it, so that a
    clean stop leaves no WAL behind. A busy store (another process reading) keeps its
    log, for the last process to close it; any error here only means a longer log."""
    if engine.url.get_backend_name() != "sqlite":
        return
    try:
        raw = engine.raw_connection()  # outside SQLAlchemy's BEGIN: a checkpoint needs none
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
    except Exception as error:  # closing must go on
        logging.getLogger(__name__).warning("SQLite WAL checkpoint skipped: %s", error)
