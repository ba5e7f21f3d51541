"""The composition root: what a running cityshare is built from, assembled in one place.

Lower layers define their parts and take what they need as arguments; this module, used by
the CLI and the HTTP app factory, puts them together. It stands above every core package,
so it may import any of them (see docs/development.md for the layers).
"""

from __future__ import annotations

from cityshare.config import Settings
from cityshare.search.index import prepare_search
from cityshare.site import Site
from cityshare.storage import upgrade_store


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
