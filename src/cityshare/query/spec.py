"""The parsed, validated parts of a dataset query (plain data, no SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityshare.tables.model import Field

FORMATS = ("json", "csv", "ndjson", "geojson")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "geojson": "application/geo+json",
}
EXTENSIONS = {"json": "json", "csv": "csv", "ndjson": "ndjson", "geojson": "geojson"}


@dataclass(frozen=True)
class Filter:
    """One filter ``field__op=value``; ``value`` is typed (a tuple for ``in``, a bool for
    ``isnull``); ``raw`` is the text as given, kept for binding cursors."""

    field: Field
    op: str
    value: Any
    raw: str


@dataclass(frozen=True)
class BBox:
    """A ``bbox`` filter in longitude/latitude degrees."""

    minx: float
    miny: float
    maxx: float
    maxy: float


@dataclass(frozen=True)
class SortKey:
    """One row sort key; NULLs always come last, whatever the direction."""

    field: Field
    descending: bool


@dataclass(frozen=True)
class Bucket:
    """``_bucket=field:size``: a datetime field floored to ``seconds``-wide buckets."""

    field: Field
    seconds: int
    label: str


@dataclass(frozen=True)
class Aggregate:
    """One aggregate: ``function`` over ``field`` (None for ``count``); ``key`` as written."""

    function: str
    field: Field | None
    key: str


@dataclass(frozen=True)
class GroupSort:
    """A sort key of aggregate output: a group key name or an aggregate key."""

    key: str
    descending: bool


@dataclass(frozen=True)
class AggregateSpec:
    """``_group``/``_bucket``/``_agg``: group keys, aggregates and their order."""

    groups: tuple[Field, ...]
    bucket: Bucket | None
    aggregates: tuple[Aggregate, ...]
    sort: tuple[GroupSort, ...]

    @property
    def key_names(self) -> tuple[str, ...]:
        """Names of the group keys in output order (group fields, then the bucket)."""
        names = tuple(field.name for field in self.groups)
        return (*names, self.bucket.field.name) if self.bucket else names

    @property
    def output_names(self) -> tuple[str, ...]:
        """All output keys: group keys then aggregate keys."""
        return (*self.key_names, *(aggregate.key for aggregate in self.aggregates))


@dataclass(frozen=True)
class RowBounds:
    """Limits a query runs within whatever it asks for (a grant's, see cityshare.sharing):
    ``filters`` every row must match, and the smallest group an aggregate may return."""

    filters: tuple[Filter, ...] = ()
    min_group_size: int | None = None


UNBOUNDED = RowBounds()


@dataclass(frozen=True)
class Position:
    """Where a keyset page starts: after the row ``row_id`` whose sort keys are ``values``
    (None when the cursor left them out because they were long; they are then read back)."""

    row_id: int
    values: tuple[Any, ...] | None
