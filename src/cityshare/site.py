"""A running cityshare site: settings, the store and the site secret, passed explicitly."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from cityshare.config import Settings
from cityshare.lru import LruCache
from cityshare.query.cursor import CursorSigner
from cityshare.storage import create_store_engine
from cityshare.storage.engine import time_limited, writer
from cityshare.storage.health import StoreHealth, watch_store
from cityshare.tables.model import VersionTable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cityshare.audit.writer import AuditWriter
    from cityshare.ratelimit import TokenBucketLimiter
    from cityshare.sql.pool import SqlPool
    from cityshare.streams.committer import GroupCommitter
    from cityshare.streams.senders import Sender

# Threads per process that verify signed batches (CPU-bound: more only contend for the GIL).
INGEST_THREADS = 2
# Devices each process keeps for ingestion (checked again by every storing transaction).
INGEST_SENDERS = 10_000
# How long a query may hold the event loop before it is moved to a worker thread.
INLINE_QUERY_SECONDS = 0.02


class VersionTableCache(LruCache[tuple[str, datetime], VersionTable]):
    """Built :class:`VersionTable` objects by table name and the version's creation time.

    Versions never change once published, so a cached table stays true; reusing the
    same Table object also lets SQLAlchemy reuse its compiled SQL. The name alone is not
    enough: SQLite gives a deleted dataset's id to the next one, and with it the names
    of its versions' tables.
    """

    def __init__(self, capacity: int = 512) -> None:
        super().__init__(capacity)

    def remember(self, created_at: datetime, table: VersionTable) -> VersionTable:
        """Remember ``table`` of the version created at ``created_at`` and return it."""
        return self.put((table.table.name, created_at), table)


@dataclass(frozen=True)
class Site:
    """Everything a core service needs; one per process."""

    settings: Settings
    engine: Engine
    secret_key: bytes
    version_tables: VersionTableCache = field(default_factory=VersionTableCache)
    # Charts drawn from published versions, by the reader's whole view (table_reads.view_key).
    figures: LruCache[tuple[object, ...], object] = field(default_factory=lambda: LruCache(256))
    # Taken by ingest commits on a SQLite file before its flock (streams.ingest.writer_turn).
    ingest_commit_lock: threading.Lock = field(default_factory=threading.Lock)
    # Devices as ingestion last read them (see cityshare.streams.senders).
    ingest_senders: LruCache[str, Sender] = field(default_factory=lambda: LruCache(INGEST_SENDERS))
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
    def cursor_signer(self) -> CursorSigner:
        """Signs and checks query cursors with the site secret."""
        return CursorSigner(self.secret_key)

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
    def signing_key(self) -> Ed25519PrivateKey:
        """The site's Ed25519 key (signs audit checkpoints); generated on first use."""
        from cityshare.audit.checkpoint import load_or_create_signing_key

        return load_or_create_signing_key(self.settings.resolved_signing_key_file())

    @cached_property
    def ingest_committer(self) -> GroupCommitter:
        """Commits signed batches from concurrent requests in shared transactions."""
        from cityshare.streams.committer import GroupCommitter

        return GroupCommitter(self)

    @cached_property
    def ingest_executor(self) -> ThreadPoolExecutor:
        """Threads that verify signed batches; few, so a burst leaves threads for readers."""
        return ThreadPoolExecutor(max_workers=INGEST_THREADS, thread_name_prefix="ingest")

    @cached_property
    def audit_writer(self) -> AuditWriter:
        """Appends audit events of reads and refusals in batches, off the request path."""
        from cityshare.audit.writer import AuditWriter

        return AuditWriter(self)

    @cached_property
    def sql_pool(self) -> SqlPool:
        """The threads that run SQL statements, with caps per actor and address."""
        from cityshare.sql.pool import SqlPool

        return SqlPool(self.settings.limits)

    @cached_property
    def rate_limiter(self) -> TokenBucketLimiter:
        """Token buckets for rate limits: in Redis when ``redis_url`` is set (shared by
        every process), else in this process. ``rate_limiter.hit(key, rate=, burst=)``."""
        from cityshare.ratelimit import make_limiter

        settings = self.settings
        return make_limiter(settings.redis_url, prefix=settings.rate_limit_prefix)

    def finish_background_work(self) -> None:
        """Commit queued ingestion and append queued audit events, then stop their threads
        (they start again on next use)."""
        executor = self.__dict__.pop("ingest_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)
        for name in ("ingest_committer", "audit_writer"):
            worker = self.__dict__.pop(name, None)
            if worker is not None:
                worker.close()

    def close(self) -> None:
        """Finish background work and release database connections."""
        self.finish_background_work()
        limiter = self.__dict__.pop("rate_limiter", None)
        if limiter is not None:
            limiter.close()
        sql_pool = self.__dict__.pop("sql_pool", None)
        if sql_pool is not None:
            sql_pool.shutdown()
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
