"""Checking the terms of a grant against the dataset it is on (plain data in, plain out).

Terms arrive as a mapping (from the API or an approved access request) and leave as
the column values of a ``grants`` row. Columns, pseudonymised columns and the row
filter are checked against the dataset's current version, so a grant never names a
column that does not exist or a filter the query language would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cityshare.access.grants import PERMISSIONS
from cityshare.clock import naive_utc, utcnow
from cityshare.errors import BadRequest, Conflict
from cityshare.query.filters import parse_filter
from cityshare.tables.model import GEOMETRY_TYPE, VersionTable

MAX_PURPOSE_CHARS = 2000
MAX_TERMS_CHARS = 5000
MAX_YEARS = 10
MAX_FILTERS = 20
MAX_GROUP_SIZE = 1_000_000
BOUND_KEYS = ("columns", "row_filter", "min_group_size", "pseudonymised")


def checked_text(value: Any, name: str, maximum: int, *, required: bool) -> str:
    """Trimmed text of at most ``maximum`` characters (BadRequest otherwise)."""
    text = str(value or "").strip()
    if required and not text:
        raise BadRequest(f"'{name}' is required: say what the data is for.", parameter=name)
    if len(text) > maximum:
        raise BadRequest(f"'{name}' is longer than {maximum} characters.", parameter=name)
    return text


def checked_expiry(value: Any) -> datetime:
    """A future expiry within ten years, as naive UTC."""
    if not isinstance(value, datetime):
        raise BadRequest(
            "'expires_at' is required: a time in RFC 3339, e.g. 2027-06-30T00:00:00Z.",
            parameter="expires_at",
        )
    moment = naive_utc(value)
    now = utcnow()
    if moment <= now:
        raise BadRequest("'expires_at' must be in the future.", parameter="expires_at")
    if moment > now + timedelta(days=366 * MAX_YEARS):
        raise BadRequest(
            f"'expires_at' may be at most {MAX_YEARS} years away.", parameter="expires_at"
        )
    return moment


def checked_permissions(value: Any) -> str:
    """Permissions as stored: a comma-separated subset of read and write."""
    names = ["read"] if value is None else list(value)
    unknown = [name for name in names if name not in PERMISSIONS]
    if unknown or not names:
        raise BadRequest(
            f"'permissions' must be a non-empty list of {', '.join(PERMISSIONS)}.",
            parameter="permissions",
        )
    return ",".join(name for name in PERMISSIONS if name in names)


def checked_bounds(
    terms: Mapping[str, Any], table: VersionTable | None, kind: str
) -> dict[str, Any]:
    """The column and row bounds of ``terms``, checked against ``table`` (the current
    version; None when the dataset has no data yet)."""
    if terms.get("columns") == []:
        raise BadRequest(
            "'columns' names at least one column; leave it out to grant every public column.",
            parameter="columns",
        )
    wanted = {key: terms.get(key) for key in BOUND_KEYS if terms.get(key) not in (None, [], {})}
    if not wanted:
        return dict.fromkeys(BOUND_KEYS)
    if kind != "table":
        raise BadRequest(
            "Column and row bounds apply to datasets of tables; a grant on a sensor "
            "dataset covers all its streams.",
            parameter=next(iter(wanted)),
        )
    if table is None:
        raise Conflict("Upload the dataset's data first: bounds are checked against its columns.")
    columns = _columns(table, wanted.get("columns"))
    return {
        "columns": columns,
        "row_filter": _row_filter(table, wanted.get("row_filter")),
        "min_group_size": _group_size(wanted.get("min_group_size")),
        "pseudonymised": _pseudonymised(table, columns, wanted.get("pseudonymised")),
    }


def _columns(table: VersionTable, value: Any) -> list[str] | None:
    if value is None:
        return None
    names = [str(name) for name in value]
    for name in names:
        if table.field(name) is None:
            raise BadRequest(
                f"'columns': {name[:80]!r} is not a column of this dataset.", parameter="columns"
            )
    return list(dict.fromkeys(names))


def _row_filter(table: VersionTable, value: Any) -> list[list[str]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or len(value) > MAX_FILTERS:
        raise BadRequest(
            f"'row_filter' is an object of at most {MAX_FILTERS} query filters, "
            'e.g. {"district": "north", "cars__gte": "10"}.',
            parameter="row_filter",
        )
    pairs = [[str(name), _filter_text(raw)] for name, raw in value.items()]
    for name, raw in pairs:
        if name.startswith("_") or name == "bbox":
            raise BadRequest(
                f"'row_filter': {name[:80]!r} is not a filter; use column or column__op.",
                parameter="row_filter",
            )
        parse_filter(table, name, raw)  # BadRequest names the filter and the problem
    return pairs


def _filter_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list):
        return ",".join(str(item) for item in raw)
    return str(raw)


def _group_size(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= MAX_GROUP_SIZE:
        raise BadRequest(
            f"'min_group_size' is a whole number from 2 to {MAX_GROUP_SIZE}.",
            parameter="min_group_size",
        )
    return value


def _pseudonymised(table: VersionTable, columns: list[str] | None, value: Any) -> list[str] | None:
    if value is None:
        return None
    names = list(dict.fromkeys(str(name) for name in value))
    for name in names:
        field = table.field(name)
        if field is None or field.type == GEOMETRY_TYPE:
            raise BadRequest(
                f"'pseudonymised': {name[:80]!r} is not a column that can be pseudonymised.",
                parameter="pseudonymised",
            )
        if columns is None or name not in columns:
            raise BadRequest(
                f"'pseudonymised': {name[:80]!r} must also be one of the granted 'columns'.",
                parameter="pseudonymised",
            )
    return names
