"""Planner statistics for SQLite, kept roughly in step with the catalogue's size.

SQLite plans a query from its indexes alone until ``ANALYZE`` has counted them; on a
large catalogue that guess can be a hundred times slower (it would, for instance, merge
two indexes to list a signed-in user's newest datasets instead of walking the
``modified_at`` index). PostgreSQL's autovacuum keeps its own statistics.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# Below this many datasets every plan is fast; above it, statistics are refreshed when the
# catalogue has halved or doubled since they were taken.
MIN_DATASETS = 1000
TABLES = ("datasets", "dataset_facets")


def refresh_if_stale(connection: Connection) -> bool:
    """Run ``ANALYZE`` on the catalogue tables of a SQLite store if their statistics are
    missing or out of step with the catalogue's size; whether it ran."""
    if connection.dialect.name != "sqlite":
        return False
    count = connection.execute(text("SELECT count(*) FROM datasets")).scalar_one()
    if count < MIN_DATASETS:
        return False
    counted = _counted(connection)
    if counted is not None and count / 2 <= counted <= count * 2:
        return False
    for table in TABLES:
        connection.execute(text(f"ANALYZE {table}"))
    return True


def _counted(connection: Connection) -> int | None:
    """The number of datasets when statistics were last taken, if ever."""
    has_stats = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).first()
    if has_stats is None:
        return None
    stat = connection.execute(
        text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'datasets' LIMIT 1")
    ).scalar()
    return int(str(stat).split()[0]) if stat else None
