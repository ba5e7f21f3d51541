"""The SQL service: one read-only SELECT over the datasets an actor may read.

Opening each referenced dataset with :func:`~cityshare.catalogue.versions.open_version`
is the access decision: a dataset the actor may not see is a 404, one they see but may
not read a 401/403, and what they may read of it (columns, rows) is their view.
"""

from __future__ import annotations

from typing import Any

from cityshare.access import Actor
from cityshare.audit.events import data_read
from cityshare.catalogue.datasets import dataset_row
from cityshare.catalogue.reader import Reader
from cityshare.catalogue.versions import OpenVersion, open_version
from cityshare.errors import BadRequest, Forbidden, NotFound
from cityshare.site import Site
from cityshare.sql.guard import run_read_only
from cityshare.sql.parse import Statement, parse_statement
from cityshare.sql.rewrite import check_columns, render


def run_sql(reader: Reader, actor: Actor, text: str, *, output: str = "json") -> dict[str, Any]:
    """Run one read-only SELECT for ``actor`` and audit a read of every dataset it names.

    Answers ``{"columns": [...], "rows": [[...], ...], "truncated": bool,
    "truncated_by": "rows" | "bytes" | None, "datasets": [{"name", "version", "grant"},
    ...]}``; ``truncated`` is true when the row cap (``limits.max_sql_rows``) or the byte
    budget (``limits.max_sql_bytes``) cut rows off, and ``truncated_by`` says which.
    """
    site = reader.site
    statement = parse_statement(text)
    _refuse_shadowing(site, actor, statement)
    opened = {name: _open(reader, actor, name, statement) for name in statement.datasets}
    views = {name: version.view for name, version in opened.items()}
    check_columns(statement, views)
    limits = site.settings.limits
    cap = limits.max_sql_rows
    rendered = render(statement, views, site.engine.dialect.name, cap + 1)
    columns, rows, truncated_by = run_read_only(
        site.query_reader,
        rendered,
        cap,
        max_bytes=limits.max_sql_bytes,
        max_value_bytes=limits.max_sql_value_bytes,
    )
    for version in opened.values():
        reader.audit.submit_read(
            data_read(
                actor,
                version.dataset.id,
                version.dataset_name,
                version=version.number,
                query=text,
                rows=len(rows),
                output=output,
                grant=version.grant_id,
            )
        )
    return {
        "columns": columns,
        "rows": rows,
        "truncated": truncated_by is not None,
        "truncated_by": truncated_by,
        "datasets": [_described(version) for version in opened.values()],
    }


def _open(reader: Reader, actor: Actor, name: str, statement: Statement) -> OpenVersion:
    written = statement.written[name][:100]
    try:
        with reader.site.engine.connect() as connection:
            row = dataset_row(connection, actor, name, "dataset.read")
    except NotFound:
        raise NotFound(f"No dataset named {written!r}, or you may not see it.") from None
    if row.kind != "table":
        raise BadRequest(
            f"Dataset {name!r} holds live sensor streams, which SQL cannot read: use "
            "GET /api/v1/streams/{id}/observations.",
            dataset=name,
        )
    version = open_version(reader.site, actor, name, None, tables=reader.tables)
    if version.view.bounds.min_group_size is not None:
        raise Forbidden(
            f"Your grant to {name!r} allows only aggregates over groups of at least "
            f"{version.view.bounds.min_group_size} rows, which SQL cannot enforce: use the "
            "rows API's _group and _agg (GET /api/v1/datasets/{name}/rows).",
            dataset=name,
        )
    return version


def _refuse_shadowing(site: Site, actor: Actor, statement: Statement) -> None:
    """A CTE may not take the name of a dataset the actor can see (it would hide it)."""
    for key in sorted(statement.ctes):
        try:
            with site.engine.connect() as connection:
                dataset_row(connection, actor, key.replace("_", "-"), "dataset.view")
        except NotFound:
            continue
        raise BadRequest(
            f"The CTE {key[:100]!r} has the name of a dataset: give it another name.",
            cte=key[:100],
        )


def _described(version: OpenVersion) -> dict[str, Any]:
    return {"name": version.dataset_name, "version": version.number, "grant": version.grant_id}
