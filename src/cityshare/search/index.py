"""Keep the search index true to the catalogue.

Every change to what search looks at (a dataset's metadata, its current version's
columns and their classes, its streams, its organisation's title, the grants that name
its columns) calls :func:`reindex_dataset` in the same transaction, so search never
shows a stale or a deleted dataset. The index holds what every reader of a dataset may
see (its public columns, the formats they can be read in); what owners and grantees see
beyond that is kept as views (:mod:`cityshare.search.views`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from cityshare.search.facets import write_facet_list
from cityshare.search.text import (
    Document,
    compact_text_index,
    delete_document,
    write_document,
)
from cityshare.search.views import ColumnView, delete_views, public_view, write_views
from cityshare.storage.schema import (
    dataset_facet_lists,
    dataset_facets,
    dataset_versions,
    datasets,
    datastreams,
    facet_counts,
    organisations,
)
from cityshare.storage.statistics import refresh_if_stale
from cityshare.tables.data_formats import dataset_formats

MAX_VALUE_LENGTH = 300
_COUNT_KEY = ("facet", "value", "visibility", "organisation_id")


def reindex_dataset(connection: Connection, dataset_id: int) -> None:
    """Index dataset ``dataset_id`` as it now is (or drop it from the index if gone)."""
    remove_dataset(connection, dataset_id)
    row = connection.execute(
        select(
            datasets,
            organisations.c.name.label("org_name"),
            organisations.c.title.label("org_title"),
        )
        .join(organisations, organisations.c.id == datasets.c.organisation_id)
        .where(datasets.c.id == dataset_id)
    ).first()
    if row is None:
        return
    schema = _current_schema(connection, row)
    seen = _public_view(connection, row, schema)
    tags = sorted({str(tag).strip()[:MAX_VALUE_LENGTH] for tag in row.tags or []} - {""})
    facets = [
        {
            "dataset_id": dataset_id,
            "facet": facet,
            "value": value,
            "visibility": row.visibility,
            "organisation_id": row.organisation_id,
        }
        for facet, value in _facet_values(row, tags, seen.formats)
    ]
    connection.execute(insert(dataset_facets), facets)
    _add_counts(connection, facets, 1)
    write_facet_list(connection, dataset_id, [(f["facet"], f["value"]) for f in facets])
    document = Document(
        title=f"{row.title} {row.name}",
        tags=" ".join(tags),
        organisation=f"{row.org_title} {row.org_name}",
        columns=" ".join(seen.words),
        description=row.description or "",
    )
    write_document(connection, dataset_id, document)
    write_views(connection, row, schema, document)


def remove_dataset(connection: Connection, dataset_id: int) -> None:
    """Drop dataset ``dataset_id`` from the index."""
    indexed = dataset_facets.c.dataset_id == dataset_id
    old = [dict(row._mapping) for row in connection.execute(select(dataset_facets).where(indexed))]
    if old:
        _add_counts(connection, old, -1)
        connection.execute(delete(dataset_facets).where(indexed))
    connection.execute(
        delete(dataset_facet_lists).where(dataset_facet_lists.c.dataset_id == dataset_id)
    )
    delete_document(connection, dataset_id)
    delete_views(connection, dataset_id)


def _public_view(connection: Connection, row: Any, schema: dict[str, Any] | None) -> ColumnView:
    """The column words and formats every reader of the dataset sees."""
    if row.kind == "table":
        return public_view(row.kind, schema, row.column_classes)
    words = tuple(_stream_words(connection, row.id))
    return ColumnView(
        words, tuple(data_format.label for data_format in dataset_formats(row.kind, None))
    )


def _facet_values(row: Any, tags: list[str], formats: tuple[str, ...]) -> list[tuple[str, str]]:
    """What a dataset counts for in each facet (formats: as every reader can use them)."""
    values = [("organisation", row.org_name), ("kind", row.kind), ("visibility", row.visibility)]
    if row.licence:
        values.append(("licence", row.licence[:MAX_VALUE_LENGTH]))
    values.extend(("tag", tag) for tag in tags)
    values.extend(("format", label) for label in formats)
    return values


def _add_counts(connection: Connection, facets: list[dict[str, Any]], delta: int) -> None:
    """Add ``delta`` to the count of each facet value, by who may see it."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(facet_counts)
    statement = statement.on_conflict_do_update(
        index_elements=list(_COUNT_KEY),
        set_={"count": facet_counts.c.count + statement.excluded.count},
    )
    connection.execute(
        statement, [{key: facet[key] for key in _COUNT_KEY} | {"count": delta} for facet in facets]
    )
    if delta < 0:
        connection.execute(delete(facet_counts).where(facet_counts.c.count <= 0))


def reindex_organisation(connection: Connection, organisation_id: int) -> None:
    """Index again every dataset of an organisation (after its title changed)."""
    owned = select(datasets.c.id).where(datasets.c.organisation_id == organisation_id)
    _reindex(connection, connection.execute(owned).scalars())


def index_if_empty(connection: Connection) -> int:
    """Index every dataset if there are datasets but no index (a store upgraded to the
    schema with search or with facet lists, or one whose index was lost); the number
    indexed."""
    indexed = select(dataset_facet_lists.c.dataset_id).limit(1)
    if connection.execute(indexed).first() is not None:
        return 0
    if connection.execute(select(datasets.c.id).limit(1)).first() is None:
        return 0
    return reindex_all(connection)


def reindex_all(connection: Connection) -> int:
    """Index every dataset again; the number indexed."""
    count = _reindex(connection, connection.execute(select(datasets.c.id)).scalars().all())
    compact_text_index(connection)
    return count


def prepare_search(connection: Connection) -> None:
    """Make an opened store ready to search: indexed if it has no index; when the
    catalogue has halved or doubled, fresh planner statistics and a compact text index."""
    index_if_empty(connection)
    if refresh_if_stale(connection):
        compact_text_index(connection)


def _reindex(connection: Connection, dataset_ids: Iterable[int]) -> int:
    count = 0
    for dataset_id in list(dataset_ids):
        reindex_dataset(connection, dataset_id)
        count += 1
    return count


def _current_schema(connection: Connection, row: Any) -> dict[str, Any] | None:
    if row.current_version is None:
        return None
    schema: dict[str, Any] | None = connection.execute(
        select(dataset_versions.c.schema).where(
            dataset_versions.c.dataset_id == row.id,
            dataset_versions.c.number == row.current_version,
        )
    ).scalar()
    return schema


def _stream_words(connection: Connection, dataset_id: int) -> list[str]:
    """Each stream's name, observed property, unit and description."""
    rows = connection.execute(
        select(
            datastreams.c.name,
            datastreams.c.observed_property,
            datastreams.c.unit,
            datastreams.c.description,
        ).where(datastreams.c.dataset_id == dataset_id)
    )
    return [word for row in rows for word in row if word]
