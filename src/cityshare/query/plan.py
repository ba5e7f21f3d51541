"""``plan_query``: a validated, engine-independent plan of one dataset query.

The plan holds parsed values only; SQL is built when the plan runs, for the
dialect of the connection (see :mod:`cityshare.query.rows` and
:mod:`cityshare.query.export`). Every parameter is checked here, so a plan that
exists can only fail at run time for database reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cityshare.config import Limits
from cityshare.errors import BadRequest
from cityshare.query.aggregate import parse_aggregate
from cityshare.query.cursor import CursorSigner, cursor_context, decode_cursor, encode_cursor
from cityshare.query.filters import parse_bbox, parse_filter
from cityshare.query.params import (
    parse_fields,
    parse_flag,
    parse_format,
    parse_limit,
    parse_sort,
    split_params,
)
from cityshare.query.spec import (
    EXTENSIONS,
    MEDIA_TYPES,
    UNBOUNDED,
    AggregateSpec,
    BBox,
    Filter,
    Position,
    RowBounds,
    SortKey,
)
from cityshare.tables.model import Field, VersionTable

AGGREGATE_PARAMETERS = ("_group", "_agg", "_bucket")
ROW_ONLY_PARAMETERS = ("_fields", "_next", "_count")


@dataclass(frozen=True)
class QueryPlan:
    """A checked query over one dataset version.

    ``format`` is json, csv, ndjson or geojson; ``limit`` is None only for an export
    without ``_limit`` (stream everything). ``aggregate`` is set for ``_group``/
    ``_agg``/``_bucket`` queries, which ignore ``fields``, ``sort`` and ``position``.
    """

    version: VersionTable
    format: str
    fields: tuple[Field, ...]
    filters: tuple[Filter, ...]
    bbox: BBox | None
    sort: tuple[SortKey, ...]
    limit: int | None
    position: Position | None
    count: bool
    aggregate: AggregateSpec | None
    signer: CursorSigner = field(repr=False)
    context: bytes = field(repr=False)
    min_group_size: int | None = None

    @property
    def media_type(self) -> str:
        """The Content-Type of the response body."""
        return MEDIA_TYPES[self.format]

    @property
    def extension(self) -> str:
        """A file name extension for the body (for Content-Disposition)."""
        return EXTENSIONS[self.format]

    @property
    def is_export(self) -> bool:
        """True for csv, ndjson and geojson bodies (streamed by ``stream_export``)."""
        return self.format != "json"

    @property
    def pages(self) -> bool:
        """True when the result can continue on a next page (a row query with a limit)."""
        return self.aggregate is None and self.limit is not None

    def cursor_after(self, values: tuple[Any, ...], row_id: int) -> str:
        """The signed cursor continuing after a row with sort key ``values``."""
        return encode_cursor(self.signer, self.context, self.sort, values, row_id)


def plan_query(
    params: Sequence[tuple[str, str]],
    version: VersionTable,
    *,
    limits: Limits,
    signer: CursorSigner,
    scope: str,
    bounds: RowBounds = UNBOUNDED,
) -> QueryPlan:
    """Parse and check the query string pairs of a rows request into a :class:`QueryPlan`.

    ``params`` are the raw pairs in order (``_version`` is accepted and ignored; the
    caller picks ``version``). ``scope`` binds cursors to one dataset version. ``bounds``
    adds filters every row must match (they bind cursors too) and a minimum group size
    for aggregates. Raises
    :class:`~cityshare.errors.BadRequest` naming the first bad parameter.
    """
    raw = split_params(params)
    reserved = raw.reserved
    aggregate_mode = any(name in reserved for name in AGGREGATE_PARAMETERS)
    if aggregate_mode:
        _refuse_row_parameters(reserved)
    asked = tuple(parse_filter(version, name, value) for name, value in raw.filters)
    filters = bounds.filters + asked
    box = parse_bbox(version, reserved["bbox"]) if "bbox" in reserved else None
    output = parse_format(reserved.get("_format"), version, aggregate=aggregate_mode)
    limit = parse_limit(reserved.get("_limit"), limits, export=output != "json")
    sort = () if aggregate_mode else parse_sort(version, reserved.get("_sort"))
    context = cursor_context(scope, _binding(filters, box, sort))
    return QueryPlan(
        version=version,
        format=output,
        fields=parse_fields(version, reserved.get("_fields")),
        filters=filters,
        bbox=box,
        sort=sort,
        limit=limit,
        position=_position(reserved, signer, context, sort),
        count=parse_flag(reserved.get("_count"), "_count"),
        aggregate=_aggregate(version, reserved) if aggregate_mode else None,
        signer=signer,
        context=context,
        min_group_size=bounds.min_group_size,
    )


def _refuse_row_parameters(reserved: dict[str, str]) -> None:
    for name in ROW_ONLY_PARAMETERS:
        if name in reserved:
            raise BadRequest(
                f"Parameter '{name}' does not apply to aggregate queries "
                "(_group, _agg, _bucket); aggregates return all their keys in one page.",
                parameter=name,
            )


def _aggregate(version: VersionTable, reserved: dict[str, str]) -> AggregateSpec:
    return parse_aggregate(
        version,
        group=reserved.get("_group"),
        agg=reserved.get("_agg"),
        bucket=reserved.get("_bucket"),
        sort=reserved.get("_sort"),
    )


def _position(
    reserved: dict[str, str], signer: CursorSigner, context: bytes, sort: tuple[SortKey, ...]
) -> Position | None:
    token = reserved.get("_next")
    return None if token is None else decode_cursor(signer, context, sort, token)


def _binding(filters: tuple[Filter, ...], box: BBox | None, sort: tuple[SortKey, ...]) -> Any:
    """The normalised query a cursor is bound to: what decides which rows come in
    which order (filters in any order, bbox, sort), not the page size or format."""
    return {
        "filters": sorted([item.field.name, item.op, item.raw] for item in filters),
        "bbox": None if box is None else [box.minx, box.miny, box.maxx, box.maxy],
        "sort": [[key.field.name, key.descending] for key in sort],
    }


__all__ = ["QueryPlan", "plan_query"]
