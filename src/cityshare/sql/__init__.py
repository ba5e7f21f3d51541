"""Read-only SQL over datasets (``GET /api/v1/sql``), for people who know SQL.

:mod:`.parse` reads one statement with sqlglot and checks it against the allow-list
(:mod:`.allow`); :mod:`.rewrite` replaces each dataset by a subquery within the reader's
view and regenerates the SQL for the store's engine; :mod:`.guard` runs it read-only and
time-limited; :mod:`.run` is the service that ties them together and audits the read.
"""

from cityshare.sql.run import run_sql

__all__ = ["run_sql"]
