"""What reading a site's data takes beyond the store: the cache of version tables, the
signer of query cursors and the audit writer that records each read.

One :class:`Reader` per process, built by :mod:`cityshare.runtime`, is passed to every
read path (the query API, CKAN's datastore, SQL, the web's previews and charts), so each
read is checked, limited and audited the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from cityshare.audit.writer import AuditWriter
from cityshare.lru import LruCache
from cityshare.query.cursor import CursorSigner
from cityshare.site import Site
from cityshare.tables.model import VersionTable


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
class Reader:
    """A site with what its read paths share in this process."""

    site: Site
    audit: AuditWriter
    tables: VersionTableCache = field(default_factory=VersionTableCache)

    @cached_property
    def cursor_signer(self) -> CursorSigner:
        """Signs and checks query cursors with the site secret."""
        return CursorSigner(self.site.secret_key)
