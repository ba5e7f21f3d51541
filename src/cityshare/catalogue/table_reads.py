"""Read a dataset's rows: plan a query against the version the actor may read, run it
under the query time limit, and record the read in the audit log.

The query API's route and the web pages' previews, charts and maps all read through
here, so every read of table data is checked, limited and audited the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import OperationalError

from cityshare.access import Actor
from cityshare.audit.events import data_read
from cityshare.bounds.view import ReadView
from cityshare.catalogue.reader import Reader
from cityshare.catalogue.versions import OpenVersion, open_version
from cityshare.errors import BadRequest, QueryTimeout
from cityshare.query import QueryPlan, plan_query, run_json
from cityshare.storage.engine import is_time_limit_error

_PLAIN = (str, int, float, bool, date, datetime, time, Decimal, type(None))


def plan_read(
    reader: Reader,
    actor: Actor,
    name: str,
    params: Sequence[tuple[str, str]],
    connection: Connection | None = None,
) -> tuple[OpenVersion, QueryPlan]:
    """The version ``actor`` may read (``_version``, or the current one) and the query
    ``params`` ask of it; NotFound or Forbidden as the policy decides. The version is
    looked up on ``connection`` when given."""
    number = version_number(params)
    opened = open_version(reader.site, actor, name, number, connection, tables=reader.tables)
    plan = plan_query(
        params,
        opened.view.table,
        limits=reader.site.settings.limits,
        signer=reader.cursor_signer,
        scope=opened.table.table.name,
        bounds=opened.view.bounds,
    )
    return opened, plan


def read_json(
    reader: Reader, actor: Actor, name: str, params: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Rows or groups as the query API's JSON answer, read in a worker under the full
    query time limit, and audited."""
    params = [(key, value) for key, value in params if key != "_format"]  # JSON, the default
    opened, plan = plan_read(reader, actor, name, params)
    body = run_limited(reader.site.query_reader, plan)
    body["version"] = opened.number
    returned = len(body.get("rows") or body.get("groups") or ())
    audit_read(reader, actor, opened, urlencode(list(params)), returned, "json")
    return body


def run_limited(engine: Engine, plan: QueryPlan) -> dict[str, Any]:
    """Run a JSON query; QueryTimeout when it runs past the engine's time limit."""
    with limited_connection(engine) as connection:
        return run_json(connection, plan)


@contextmanager
def limited_connection(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine`` (a time-limited reader): a statement that runs past
    the time limit becomes QueryTimeout."""
    try:
        with engine.connect() as connection:
            yield connection
    except OperationalError as error:
        if is_time_limit_error(error):
            raise QueryTimeout(
                "The query ran past its time limit: add filters on indexed columns, "
                "ask for fewer rows, or drop _count."
            ) from None
        raise


def audit_read(
    reader: Reader, actor: Actor, opened: OpenVersion, query: str, rows: int | None, output: str
) -> None:
    """Record that ``actor`` read ``rows`` rows of ``opened`` with ``query``."""
    reader.audit.submit_read(
        data_read(
            actor,
            opened.dataset.id,
            opened.dataset_name,
            version=opened.number,
            query=query,
            rows=rows,
            output=output,
            grant=opened.grant_id,
        )
    )


def view_key(view: ReadView) -> tuple[object, ...]:
    """A cache key for answers derived from ``view``: everything that shapes what its
    reader gets (the version's table, every field with its type and pseudonym key, the
    geometry, the row bounds, the grant). Every cache of answers computed for a reader
    keys by this, so an attribute added to a view later is part of the key unasked.

    The version's Table object stands for the version itself (the key holds it, so it
    is never another version's); a pseudonym key is kept only as its digest.

    >>> view_key(opened.view) == view_key(open_version(site, other, name, None).view)
    """
    return ("view", _frozen(view))


def _frozen(value: object) -> object:
    """``value`` as a hashable key, every dataclass field included; TypeError for a kind
    of value not provided for (fail closed rather than leave a part out)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, bytes):
        return ("sha256", hashlib.sha256(value).hexdigest())
    if isinstance(value, Table):
        return value  # by identity: one object per version (see versions.open_version)
    if isinstance(value, tuple | list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, frozenset | set):
        return frozenset(_frozen(item) for item in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), _frozen(item)) for key, item in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = (_frozen(getattr(value, part.name)) for part in dataclasses.fields(value))
        return (type(value).__qualname__, *parts)
    raise TypeError(f"No cache key for a {type(value).__name__}")


def version_number(params: Sequence[tuple[str, str]]) -> int | None:
    """The ``_version`` asked for, if any."""
    raw = next((value for key, value in params if key == "_version"), None)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
        raise BadRequest(
            f"_version must be a positive whole number, not {raw[:40]!r}.", parameter="_version"
        )
    return int(raw)
