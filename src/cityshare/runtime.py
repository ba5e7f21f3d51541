"""The composition root: what a running cityshare is built from, assembled in one place.

Lower layers define their parts and take what they need as arguments; this module, used by
the CLI and the HTTP app factory, puts them together. It stands above every core package,
so it may import any of them (see docs/development.md for the layers).

A :class:`~cityshare.site.Site` is settings, the stores and the secrets. A
:class:`Runtime` adds the parts one process keeps running beside it: the audit writer
(reads and refusals appended in the background), the readers' caches, ingestion's
group committer and device cache, and the SQL endpoint's threads. Each part is built on
first use and handed to the services that need it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

from cityshare.audit.writer import AuditWriter
from cityshare.catalogue.reader import Reader
from cityshare.config import Settings
from cityshare.search.index import prepare_search
from cityshare.site import Site
from cityshare.sql.pool import SqlPool
from cityshare.storage import upgrade_store
from cityshare.streams.committer import GroupCommitter
from cityshare.streams.ingest import Ingestion

# Threads per process that verify signed batches (CPU-bound: more only contend for the GIL).
INGEST_THREADS = 2


def open_site(settings: Settings, *, migrate: bool = True) -> Site:
    """Open the store for ``settings``: unless ``migrate`` is False, created or upgraded to
    the newest schema, its datasets indexed for search and its planner statistics in step
    with its size."""
    site = Site.open(settings)
    if migrate:
        upgrade_store(site.engine)
        with site.writer.begin() as connection:
            prepare_search(connection)
    return site


@dataclass(frozen=True)
class Runtime:
    """A site with the parts one process runs beside it; one per process.

    Background threads start on first use. :meth:`finish_background_work` stores what
    they hold and stops them (they start again when next needed); :meth:`close` also
    releases the store.
    """

    site: Site

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """The runtime of the site :func:`open_site` opens."""
        return cls(open_site(settings, migrate=migrate))

    @cached_property
    def audit(self) -> AuditWriter:
        """Appends audit events of reads and refusals in batches, off the request path."""
        return AuditWriter(self.site)

    @cached_property
    def reader(self) -> Reader:
        """What the read paths share: version tables, the cursor signer, the audit writer."""
        return Reader(self.site, self.audit)

    @cached_property
    def ingestion(self) -> Ingestion:
        """Ingestion's device cache and SQLite commit lock."""
        return Ingestion(self.site)

    @cached_property
    def ingest_committer(self) -> GroupCommitter:
        """Commits signed batches from concurrent requests in shared transactions."""
        return GroupCommitter(self.ingestion)

    @cached_property
    def ingest_executor(self) -> ThreadPoolExecutor:
        """Threads that verify signed batches; few, so a burst leaves threads for readers."""
        return ThreadPoolExecutor(max_workers=INGEST_THREADS, thread_name_prefix="ingest")

    @cached_property
    def sql_pool(self) -> SqlPool:
        """The threads that run SQL statements, with caps per actor and address."""
        return SqlPool(self.site.settings.limits)

    def finish_background_work(self) -> None:
        """Commit queued ingestion and append queued audit events, then stop their threads
        (they start again on next use)."""
        executor = self.__dict__.pop("ingest_executor", None)
        if executor is not None:
            executor.shutdown(wait=True)
        for name in ("ingest_committer", "audit"):
            worker = self.__dict__.get(name)
            if worker is not None:
                worker.close()

    def close(self) -> None:
        """Finish background work, stop the SQL threads and release the store."""
        self.finish_background_work()
        sql_pool = self.__dict__.pop("sql_pool", None)
        if sql_pool is not None:
            sql_pool.shutdown()
        self.site.close()
