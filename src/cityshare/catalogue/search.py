"""Search the catalogue: full text over dataset metadata, filters, facets, sorting, paging.

Only datasets the asker may see are ever matched, counted or faceted: every statement
starts from the access policy's ``visible_datasets`` condition. Words match only the
column names the asker may read, and formats are only those it can use (see
:mod:`cityshare.search.views`). The full-text part is
engine-specific (SQLite FTS5, PostgreSQL tsvector; see :mod:`cityshare.search.text`);
filters and facets are plain SQL over the index tables kept by
:mod:`cityshare.search.index`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, func, select

from cityshare.access import Actor, SiteResource, ensure_allowed, visible_datasets
from cityshare.catalogue.datasets import KINDS, metadata_of, with_organisation
from cityshare.catalogue.metadata import VISIBILITIES
from cityshare.catalogue.models import DatasetPage, ListedDataset
from cityshare.errors import BadRequest
from cityshare.search.facets import FACET_LIMIT as FACET_LIMIT
from cityshare.search.facets import kept_counts, matched_counts, top
from cityshare.search.text import terms
from cityshare.search.views import (
    ReaderViews,
    count_formats_as_seen,
    format_condition,
    reader_views,
    text_matches,
    view_formats,
)
from cityshare.site import Site
from cityshare.storage.schema import dataset_facets, datasets, organisations
from cityshare.tables.data_formats import ALL_FORMATS, BY_LABEL

FACETS = ("organisation", "tag", "licence", "format", "kind", "visibility")
SORTS = ("relevance", "name", "-name", "modified", "-modified")
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_TEXT = 500
# A page by relevance ranks first this many of the best text matches (factor × the rows up
# to the page's end, plus more), then filters them; see _page_rows.
RANK_FIRST_FACTOR = 4
RANK_FIRST_MORE = 100


@dataclass(frozen=True)
class SearchQuery:
    """What to look for. Values of one filter are alternatives (OR), except tags and
    formats, which a dataset must all have (AND); different filters all apply (AND)."""

    text: str = ""
    organisations: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    licences: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    visibilities: tuple[str, ...] = ()
    sort: str = "relevance"  # without text, relevance means newest modified first
    offset: int = 0
    limit: int = 20
    facets: tuple[str, ...] = ()  # which of FACETS to count


@dataclass(frozen=True)
class SearchResult:
    """One page of matches: ``count`` is the total; ``datasets`` are each dataset's
    metadata with the ``formats`` the asker can read it in; ``facets`` maps each asked
    facet to ``[{"name": …, "count": …}, …]``, largest first."""

    count: int
    datasets: list[ListedDataset]
    facets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def page(self, following: str | None) -> DatasetPage:
        """This result as the API shows it, ``following`` the next page's URL if any."""
        return DatasetPage.model_validate(
            {
                "count": self.count,
                "datasets": self.datasets,
                "facets": self.facets,
                "next": following,
            }
        )


def search_datasets(site: Site, actor: Actor, query: SearchQuery) -> SearchResult:
    """One page of the datasets ``actor`` may see that match ``query``, with facets.
    Words match, and formats are those of, the columns ``actor`` may read."""
    ensure_allowed(actor, "dataset.list", SiteResource())
    _check(query)
    dialect = site.engine.dialect.name
    words = terms(query.text)
    browsing = not (words or query.tags or query.formats or query.licences or query.kinds)
    with site.engine.connect() as connection:
        views = reader_views(connection, actor)
        conditions = [visible_datasets(actor, datasets), *_filters(query, views)]
        in_text: list[ColumnElement[bool]] = []
        if words:
            found_text = select(text_matches(dialect, words, views).subquery().c.id)
            in_text.append(datasets.c.id.in_(found_text))
        matched_ids = select(datasets.c.id).where(*conditions, *in_text)
        if browsing:
            count, counts = kept_counts(
                connection, actor, query.facets, query.organisations, query.visibilities
            )
        elif query.facets:
            count, counts = matched_counts(connection, query.facets, matched_ids)
        else:
            counted = select(func.count()).select_from(matched_ids.subquery())
            count, counts = connection.execute(counted).scalar_one(), {}
        if "format" in counts and views.applies is not None:
            count_formats_as_seen(connection, views, matched_ids, counts["format"])
        expected = max(0, min(query.limit, count - query.offset))
        rows = _page_rows(connection, query, words, conditions, in_text, expected, views)
        formats = _formats_of(connection, [row.id for row in rows], views)
    found = [
        ListedDataset.model_validate(metadata_of(row) | {"formats": formats.get(row.id, [])})
        for row in rows
    ]
    facets = {facet: top(values) for facet, values in counts.items()}
    return SearchResult(count=count, datasets=found, facets=facets)


def _page_rows(
    connection: Connection,
    query: SearchQuery,
    words: list[str],
    conditions: list[ColumnElement[bool]],
    in_text: list[ColumnElement[bool]],
    expected: int,
    views: ReaderViews,
) -> list[Row[Any]]:
    """The ``expected`` datasets of the asked page, in the asked order."""
    if not expected:
        return []
    dialect = connection.dialect.name
    if query.sort != "relevance" or not words:
        return list(connection.execute(_ordered_page(query, conditions, in_text)).all())
    # Rank the best few text matches, then keep those the asker may see and wants; only
    # when too few of them are (a rare, narrow filter) rank every match.
    best = (query.offset + query.limit) * RANK_FIRST_FACTOR + RANK_FIRST_MORE
    ranked = _ranked_page(query, dialect, words, conditions, best, views)
    rows = connection.execute(ranked).all()
    if len(rows) < expected:
        ranked = _ranked_page(query, dialect, words, conditions, None, views)
        rows = connection.execute(ranked).all()
    return list(rows)


def _ranked_page(
    query: SearchQuery,
    dialect: str,
    words: list[str],
    conditions: list[ColumnElement[bool]],
    best: int | None,
    views: ReaderViews,
) -> Select[Any]:
    """A page by relevance among the ``best`` text matches (all of them if None). The text
    matches come first, each ranked once: joining the other way round makes SQLite run
    the full-text query once per dataset."""
    matched = text_matches(dialect, words, views)
    if best is not None:
        matched = matched.order_by(matched.selected_columns.rank).limit(best)
    ranked = matched.cte("ranked").prefix_with("MATERIALIZED")
    statement = with_organisation().join(ranked, ranked.c.id == datasets.c.id)
    statement = statement.where(*conditions).order_by(ranked.c.rank, datasets.c.name)
    return statement.offset(query.offset).limit(query.limit)


def _ordered_page(
    query: SearchQuery, conditions: list[ColumnElement[bool]], in_text: list[ColumnElement[bool]]
) -> Select[Any]:
    """A page in name or modification order."""
    name = datasets.c.name
    order: list[ColumnElement[Any]]
    if query.sort in ("relevance", "-modified"):
        order = [datasets.c.modified_at.desc(), name]
    elif query.sort == "modified":
        order = [datasets.c.modified_at, name]
    else:
        order = [name.desc()] if query.sort == "-name" else [name]
    statement = with_organisation().where(*conditions, *in_text).order_by(*order)
    return statement.offset(query.offset).limit(query.limit)


def _check(query: SearchQuery) -> None:
    if len(query.text) > MAX_TEXT:
        raise BadRequest(f"q is longer than {MAX_TEXT} characters.", parameter="q")
    if not 0 <= query.limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 0 and {MAX_LIMIT}.", parameter="limit")
    if not 0 <= query.offset <= MAX_OFFSET:
        raise BadRequest(
            f"offset must be between 0 and {MAX_OFFSET}: narrow the search to go further.",
            parameter="offset",
        )
    _one_of(query.sort, SORTS, "sort")
    for facet in query.facets:
        _one_of(facet, FACETS, "facets")
    for kind in query.kinds:
        _one_of(kind, KINDS, "kind")
    for visibility in query.visibilities:
        _one_of(visibility, VISIBILITIES, "visibility")


def _one_of(value: str, allowed: tuple[str, ...], parameter: str) -> None:
    if value not in allowed:
        raise BadRequest(
            f"{parameter} {value[:40]!r} is not one of {', '.join(allowed)}.", parameter=parameter
        )


def _filters(query: SearchQuery, views: ReaderViews) -> list[ColumnElement[bool]]:
    """The filters as conditions on ``datasets``; values are bound, never formatted. A
    format is one the reader can use (its views')."""
    found: list[ColumnElement[bool]] = []
    if query.organisations:
        owners = select(organisations.c.id).where(organisations.c.name.in_(query.organisations))
        found.append(datasets.c.organisation_id.in_(owners))
    for column, values in (
        (datasets.c.licence, query.licences),
        (datasets.c.kind, query.kinds),
        (datasets.c.visibility, query.visibilities),
    ):
        if values:
            found.append(column.in_(values))
    for tag in query.tags:
        having = select(dataset_facets.c.dataset_id).where(
            dataset_facets.c.facet == "tag", dataset_facets.c.value == tag
        )
        found.append(datasets.c.id.in_(having))
    found.extend(format_condition(_format_label(label), views) for label in query.formats)
    return found


def _format_label(label: str) -> str:
    """A format as the index names it: ``geojson`` is ``GeoJSON``."""
    known = BY_LABEL.get(label.lower())
    return known.label if known else label


def _formats_of(
    connection: Connection, dataset_ids: list[int], views: ReaderViews
) -> dict[int, list[str]]:
    """The formats of each of ``dataset_ids`` the reader can use, in the usual order."""
    found: dict[int, list[str]] = {}
    if not dataset_ids:
        return found
    rows = connection.execute(
        select(dataset_facets.c.dataset_id, dataset_facets.c.value).where(
            dataset_facets.c.facet == "format", dataset_facets.c.dataset_id.in_(dataset_ids)
        )
    )
    for dataset_id, label in rows:
        found.setdefault(dataset_id, []).append(label)
    found.update(view_formats(connection, views, dataset_ids))
    order = {data_format.label: index for index, data_format in enumerate(ALL_FORMATS)}
    return {
        key: sorted(labels, key=lambda label: order.get(label, 99)) for key, labels in found.items()
    }
