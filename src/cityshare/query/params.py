"""The raw query string: reserved parameters apart from filters, and their parsing.

Reserved names are :data:`RESERVED`; each may appear once. Any other name is a
filter (``field`` or ``field__op``), a field being named by its schema name. An
unknown name starting with ``_`` is an unknown reserved parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cityshare.config import Limits
from cityshare.errors import BadRequest
from cityshare.query.aggregate import split_list
from cityshare.query.spec import FORMATS, SortKey
from cityshare.query.values import field_list, parse_boolean, shown
from cityshare.tables.model import GEOMETRY_TYPE, PSEUDONYM_TYPE, Field, VersionTable

RESERVED = (
    "_fields", "_sort", "_limit", "_next", "_count", "_format", "_version",
    "_group", "_agg", "_bucket", "bbox",
)  # fmt: skip
MAX_PARAMETERS = 200
MAX_VALUE_CHARS = 65_536
MAX_SORT_KEYS = 5
MAX_FIELDS = 1000


@dataclass(frozen=True)
class RawParams:
    """Reserved parameters by name and the filter pairs in order."""

    reserved: dict[str, str]
    filters: tuple[tuple[str, str], ...]


def split_params(params: Sequence[tuple[str, str]]) -> RawParams:
    """Check every pair for size and text, then split reserved names from filters."""
    if len(params) > MAX_PARAMETERS:
        raise BadRequest(
            f"Too many query parameters ({len(params)}); at most {MAX_PARAMETERS}.",
            parameter="query",
            maximum=MAX_PARAMETERS,
        )
    reserved: dict[str, str] = {}
    filters: list[tuple[str, str]] = []
    for name, value in params:
        _check_text(name, value)
        if name in RESERVED:
            if name in reserved:
                raise BadRequest(
                    f"Parameter '{name}' is given more than once; give it once.",
                    parameter=name,
                )
            reserved[name] = value
        else:
            filters.append((name, value))
    return RawParams(reserved=reserved, filters=tuple(filters))


def _check_text(name: str, value: str) -> None:
    for text in (name, value):
        bad = len(text) > MAX_VALUE_CHARS or "\x00" in text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            bad = True
        if bad:
            raise BadRequest(
                f"Parameter '{shown(name)}': names and values must be UTF-8 text without "
                f"NUL characters, at most {MAX_VALUE_CHARS} characters long.",
                parameter=shown(name),
            )


def parse_fields(version: VersionTable, raw: str | None) -> tuple[Field, ...]:
    """``_fields=a,b``: the output fields in that order; all fields when absent."""
    if raw is None:
        return version.fields
    return tuple(
        _field(version, name, "_fields") for name in split_list(raw, "_fields", MAX_FIELDS)
    )


def parse_sort(version: VersionTable, raw: str | None) -> tuple[SortKey, ...]:
    """``_sort=a,-b``: row sort keys (``-`` descending); file order when absent."""
    if raw is None:
        return ()
    keys = []
    for item in split_list(raw, "_sort", MAX_SORT_KEYS):
        field = _field(version, item.removeprefix("-"), "_sort")
        if field.type in (GEOMETRY_TYPE, PSEUDONYM_TYPE):
            what = "geometry" if field.type == GEOMETRY_TYPE else "pseudonymised"
            raise BadRequest(
                f"Parameter '_sort': {what} field '{field.name}' cannot be sorted.",
                parameter="_sort",
                value=shown(item),
            )
        keys.append(SortKey(field=field, descending=item.startswith("-")))
    if len({key.field.name for key in keys}) < len(keys):
        raise BadRequest(
            f"Parameter '_sort': '{shown(raw)}' names a field twice.",
            parameter="_sort",
            value=shown(raw),
        )
    return tuple(keys)


def _field(version: VersionTable, name: str, parameter: str) -> Field:
    field = version.field(name)
    if field is None:
        raise BadRequest(
            f"Parameter '{parameter}': '{shown(name)}' is not a field of this dataset "
            f"(fields: {field_list(version)}).",
            parameter=parameter,
            value=shown(name),
        )
    return field


def parse_limit(raw: str | None, limits: Limits, *, export: bool) -> int | None:
    """``_limit``: 1 to ``limits.max_page_rows``; absent means the default page size
    for JSON and everything for exports (None)."""
    if raw is None:
        return None if export else limits.default_page_rows
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else 0
    if not 1 <= value <= limits.max_page_rows:
        raise BadRequest(
            f"Parameter '_limit': '{shown(raw)}' must be a whole number from 1 to "
            f"{limits.max_page_rows}.",
            parameter="_limit",
            value=shown(raw),
            maximum=limits.max_page_rows,
        )
    return value


def parse_flag(raw: str | None, parameter: str) -> bool:
    """A boolean parameter such as ``_count`` (``true/false/1/0``); False when absent."""
    if raw is None:
        return False
    try:
        return parse_boolean(raw)
    except ValueError:
        raise BadRequest(
            f"Parameter '{parameter}': '{shown(raw)}' must be true, false, 1 or 0.",
            parameter=parameter,
            value=shown(raw),
        ) from None


def parse_format(raw: str | None, version: VersionTable, *, aggregate: bool) -> str:
    """``_format``: json (default), csv, ndjson or geojson (rows with geometry only)."""
    value = "json" if raw is None else raw
    if value not in FORMATS:
        raise BadRequest(
            f"Parameter '_format': '{shown(value)}' is not a format; use one of "
            f"{', '.join(FORMATS)}.",
            parameter="_format",
            value=shown(value),
            allowed=list(FORMATS),
        )
    if value == "geojson" and (aggregate or not version.has_geometry):
        raise BadRequest(
            "Parameter '_format': geojson needs rows with a geometry (a geojson field or a "
            "longitude/latitude pair); aggregates have none.",
            parameter="_format",
            value=value,
        )
    return value
