"""Search as each reader sees a dataset's columns: never a column name they may not read.

A dataset's full-text document and its facet values (see
:mod:`cityshare.search.index`) hold what every reader of it may see: its
metadata and its *public* columns, and the formats those can be read in (GeoJSON only
when the coordinates or the geometry are public). Some readers see other columns
(:mod:`cityshare.bounds.view`): members of the owner organisation and site
administrators the whole dataset, a grantee whose grant names columns exactly those.
Each such *view* is kept in ``search_views`` with its own document (``view_text``) and
formats, written with the public one by ``reindex_dataset``: the owners' view when the
dataset has a personal or sensitive column, and one per live grant that names columns.

A search swaps in the views that apply to its reader: for those datasets their
document replaces the public one in the text match, and their formats replace the
public ones in results, the format facet and the format filter. Anonymous readers have
no views, so their searches run on the public index alone; a signed-in reader to whom
no view applies pays one indexed look-up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    delete,
    false,
    insert,
    or_,
    select,
    union_all,
)

from cityshare.access import Actor
from cityshare.bounds.classes import public_columns
from cityshare.search.text import (
    VIEW_TEXT,
    Document,
    delete_document,
    matches,
    write_document,
)
from cityshare.storage.rows import inserted_id
from cityshare.storage.schema import dataset_facets, datasets, grants, search_views
from cityshare.tables.data_formats import dataset_formats
from cityshare.tables.model import POINT_PROPERTY

_PSEUDONYM_TYPE = "string"  # a pseudonymised field reads as text, never as a geometry


# --- Writing the views -------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnView:
    """What one kind of reader sees of a dataset's columns: the words search matches
    (each visible column's name, title and description) and the formats they can use."""

    words: tuple[str, ...]
    formats: tuple[str, ...]


def public_view(kind: str, schema: Mapping[str, Any] | None, classes: Any) -> ColumnView:
    """What every reader of a dataset of tables sees: its public columns."""
    names = _names(schema)
    return _view(kind, schema, public_columns(names, classes), ())


def write_views(
    connection: Connection, row: Any, schema: Mapping[str, Any] | None, document: Document
) -> None:
    """Store the views of dataset ``row`` (a ``datasets`` row) beyond the public one, each
    with ``document`` (the public document) holding its own column words instead."""
    delete_views(connection, row.id)
    if row.kind != "table":
        return  # streams have no column classes: every reader sees the same names
    names = _names(schema)
    views: list[tuple[int | None, ColumnView]] = []
    if set(public_columns(names, row.column_classes)) != set(names):
        views.append((None, _view(row.kind, schema, names, ())))
    for granted, columns, pseudonymised in _column_grants(connection, row.id):
        named = set(columns)
        visible = [name for name in names if name in named]
        views.append((granted, _view(row.kind, schema, visible, pseudonymised)))
    for grant_id, view in views:
        created = connection.execute(
            insert(search_views).values(
                dataset_id=row.id,
                organisation_id=row.organisation_id,
                grant_id=grant_id,
                formats=_stored_formats(view.formats),
            )
        )
        view_id = inserted_id(created)
        words = replace(document, columns=" ".join(view.words))
        write_document(connection, view_id, words, VIEW_TEXT)


def delete_views(connection: Connection, dataset_id: int) -> None:
    """Forget the views of dataset ``dataset_id`` and their documents."""
    owned = search_views.c.dataset_id == dataset_id
    for view_id in connection.execute(select(search_views.c.id).where(owned)).scalars().all():
        delete_document(connection, view_id, VIEW_TEXT)
    connection.execute(delete(search_views).where(owned))


def column_words(fields: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each column's name, title and description."""
    words = [
        str(field.get(key) or "") for field in fields for key in ("name", "title", "description")
    ]
    return [word for word in words if word]


def _view(
    kind: str,
    schema: Mapping[str, Any] | None,
    visible: Collection[str],
    pseudonymised: Collection[str],
) -> ColumnView:
    seen = _seen_schema(schema, set(visible), set(pseudonymised))
    labels = tuple(data_format.label for data_format in dataset_formats(kind, seen))
    return ColumnView(words=tuple(column_words((seen or {}).get("fields") or [])), formats=labels)


def _seen_schema(
    schema: Mapping[str, Any] | None, visible: set[str], pseudonymised: set[str]
) -> dict[str, Any] | None:
    """``schema`` as a reader of the ``visible`` columns gets it: the point only when both
    its coordinates are visible in the clear (as :func:`cityshare.bounds.view.visible_schema`)."""
    if schema is None:
        return None
    fields = [
        {**field, "type": _PSEUDONYM_TYPE} if str(field.get("name")) in pseudonymised else field
        for field in schema.get("fields") or []
        if str(field.get("name")) in visible
    ]
    seen = {**schema, "fields": fields}
    plain = visible - pseudonymised
    point = seen.get(POINT_PROPERTY)
    if point and not (isinstance(point, dict) and set(map(str, point.values())) <= plain):
        del seen[POINT_PROPERTY]
    return seen


def _names(schema: Mapping[str, Any] | None) -> list[str]:
    return [str(field.get("name")) for field in (schema or {}).get("fields") or []]


def _column_grants(
    connection: Connection, dataset_id: int
) -> list[tuple[int, list[str], list[str]]]:
    """``(id, columns, pseudonymised)`` of the dataset's live grants that name columns."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = connection.execute(
        select(grants.c.id, grants.c.columns, grants.c.pseudonymised).where(
            grants.c.dataset_id == dataset_id,
            grants.c.revoked_at.is_(None),
            grants.c.expires_at > now,
        )
    )
    return [
        (grant_id, [str(name) for name in columns], [str(name) for name in pseudonymised or []])
        for grant_id, columns, pseudonymised in rows
        if columns is not None
    ]


def _stored_formats(labels: Iterable[str]) -> str:
    """Format labels as stored: space-delimited on both sides, so ``LIKE '% JSON %'``
    finds JSON and not GeoJSON."""
    return f" {' '.join(labels)} "


# --- Reading as one reader ---------------------------------------------------------------


@dataclass(frozen=True)
class ReaderViews:
    """The views that apply to one reader. ``applies`` selects their ``search_views`` rows
    (None: no view applies); ``unviewed`` are datasets the reader reads under a grant
    that names columns but has no view (never matched by words: fail closed)."""

    applies: ColumnElement[bool] | None = None
    unviewed: tuple[int, ...] = ()

    @property
    def any(self) -> bool:
        """Whether any view (or an unviewed grant) changes this reader's search."""
        return self.applies is not None or bool(self.unviewed)


PUBLIC_ONLY = ReaderViews()


def reader_views(connection: Connection, actor: Actor) -> ReaderViews:
    """The views that apply to ``actor``: the owners' views of the datasets it reads
    whole, and the views of the grants it reads under (as ``sharing.view.read_view``)."""
    if actor.is_anonymous:
        return PUBLIC_ONLY
    each = search_views.c
    if actor.is_site_admin:
        return _if_any(connection, each.grant_id.is_(None), ())
    organisations = sorted(actor.roles)
    column_grants = {
        grant.id: grant.dataset_id
        for grant in (actor.grant_for(dataset_id) for dataset_id in actor.granted_dataset_ids)
        if grant is not None and grant.columns is not None
    }
    if not organisations and not column_grants:
        return PUBLIC_ONLY
    owned = each.organisation_id.in_(organisations) if organisations else false()
    condition = or_(
        and_(each.grant_id.is_(None), owned),
        and_(each.grant_id.in_(sorted(column_grants)), ~owned) if column_grants else false(),
    )
    unviewed: tuple[int, ...] = ()
    if column_grants:
        viewed = connection.execute(
            select(each.grant_id).where(each.grant_id.in_(sorted(column_grants)))
        ).scalars()
        unviewed = tuple(sorted(set(column_grants.values()) - {column_grants[g] for g in viewed}))
    return _if_any(connection, condition, unviewed)


def _if_any(
    connection: Connection, condition: ColumnElement[bool], unviewed: tuple[int, ...]
) -> ReaderViews:
    found = connection.execute(select(search_views.c.id).where(condition).limit(1)).first()
    return ReaderViews(applies=condition if found else None, unviewed=unviewed)


def text_matches(dialect: str, words: list[str], views: ReaderViews) -> Select[Any]:
    """``(id, rank)`` of the datasets whose text, as the reader sees it, has ``words``."""
    public = matches(dialect, words)
    if not views.any:
        return public
    public_id = public.selected_columns.id
    if views.unviewed:
        public = public.where(public_id.not_in(views.unviewed))
    if views.applies is None:
        return public
    each = search_views.c
    public = public.where(public_id.not_in(select(each.dataset_id).where(views.applies)))
    in_text = matches(dialect, words, VIEW_TEXT)
    in_views = in_text.where(
        in_text.selected_columns.id.in_(select(each.id).where(views.applies))
    ).subquery()
    viewed = select(each.dataset_id.label("id"), in_views.c.rank).join_from(
        in_views, search_views, each.id == in_views.c.id
    )
    both = union_all(public, viewed).subquery()
    return select(both.c.id, both.c.rank)


def _applies(views: ReaderViews) -> ColumnElement[bool]:
    return false() if views.applies is None else views.applies


def viewed_ids(views: ReaderViews) -> Select[Any]:
    """The datasets whose view (not the public one) this reader sees."""
    return select(search_views.c.dataset_id).where(_applies(views))


def format_condition(label: str, views: ReaderViews) -> ColumnElement[bool]:
    """Datasets the reader can read in the format ``label``."""
    each = dataset_facets.c
    public = datasets.c.id.in_(
        select(each.dataset_id).where(each.facet == "format", each.value == label)
    )
    if views.applies is None:
        return public
    offered = search_views.c.formats.contains(f" {label} ", autoescape=True)
    in_views = select(search_views.c.dataset_id).where(views.applies, offered)
    return or_(and_(public, datasets.c.id.not_in(viewed_ids(views))), datasets.c.id.in_(in_views))


def view_formats(
    connection: Connection, views: ReaderViews, dataset_ids: Select[Any] | list[int]
) -> dict[int, list[str]]:
    """The formats, as this reader sees them, of those of ``dataset_ids`` it sees a view of."""
    if views.applies is None:
        return {}
    rows = connection.execute(
        select(search_views.c.dataset_id, search_views.c.formats).where(
            views.applies, search_views.c.dataset_id.in_(dataset_ids)
        )
    )
    return {dataset_id: formats.split() for dataset_id, formats in rows}


def count_formats_as_seen(
    connection: Connection, views: ReaderViews, matched_ids: Select[Any], counts: Counter[str]
) -> None:
    """Correct the format facet's ``counts`` of ``matched_ids`` (made from the public
    formats) for the datasets this reader sees a view of."""
    seen = view_formats(connection, views, matched_ids)
    if not seen:
        return
    each = dataset_facets.c
    in_views = select(search_views.c.dataset_id).where(
        _applies(views), search_views.c.dataset_id.in_(matched_ids)
    )
    public = connection.execute(
        select(each.value).where(each.facet == "format", each.dataset_id.in_(in_views))
    ).scalars()
    counts.subtract(public)
    counts.update(label for labels in seen.values() for label in labels)


__all__ = [
    "PUBLIC_ONLY",
    "ColumnView",
    "ReaderViews",
    "column_words",
    "count_formats_as_seen",
    "delete_views",
    "format_condition",
    "public_view",
    "reader_views",
    "text_matches",
    "view_formats",
    "viewed_ids",
    "write_views",
]
