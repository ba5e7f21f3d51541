"""Facet counts for catalogue search.

Browsing the catalogue (no words, no filter but organisation and visibility) reads the
kept counts in ``facet_counts``, by who may see them, so the facets of 100 000 datasets
cost as much as those of ten; the datasets an actor sees only through a grant are
counted one by one on top. A search with words or other filters counts the facet values
of exactly the datasets it matched.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select

from cityshare.access import Actor, seen_only_by_grant, visible_rows
from cityshare.storage.schema import dataset_facets, facet_counts, organisations

FACET_LIMIT = 50


def kept_counts(
    connection: Connection,
    actor: Actor,
    facets: tuple[str, ...],
    organisations_named: tuple[str, ...],
    visibilities: tuple[str, ...],
) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """The number of datasets ``actor`` may see (of these organisations and visibilities,
    if given) and the top values of each facet among them, from the kept counts."""
    found: dict[str, list[dict[str, Any]]] = {}
    for facet in (*facets, "visibility"):
        counts = _kept(connection, actor, facet, organisations_named, visibilities)
        if facet in facets:
            found[facet] = top(counts)
        if facet == "visibility":
            total = sum(counts.values())
    return total, found


def matched_counts(
    connection: Connection, facets: tuple[str, ...], matched_ids: Select[Any]
) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """How many datasets ``matched_ids`` selects, and the top values of each facet among
    them, in one pass over the matches (every dataset has exactly one visibility, so its
    visibility values add up to the count)."""
    each = dataset_facets.c
    wanted = sorted({*facets, "visibility"})
    rows = connection.execute(
        select(each.facet, each.value, func.count().label("count"))
        .where(each.dataset_id.in_(matched_ids), each.facet.in_(wanted))
        .group_by(each.facet, each.value)
    )
    counts: dict[str, Counter[str]] = {facet: Counter() for facet in wanted}
    for facet, value, count in rows:
        counts[facet][value] += int(count)
    total = sum(counts["visibility"].values())
    return total, {facet: top(counts[facet]) for facet in facets}


def top(counts: Counter[str]) -> list[dict[str, Any]]:
    """The FACET_LIMIT largest counts, ties by value."""
    ranked = sorted(((-count, value) for value, count in counts.items() if count > 0))
    return [{"name": value, "count": -count} for count, value in ranked[:FACET_LIMIT]]


def _kept(
    connection: Connection,
    actor: Actor,
    facet: str,
    organisations_named: tuple[str, ...],
    visibilities: tuple[str, ...],
) -> Counter[str]:
    counts: Counter[str] = Counter()
    kept = facet_counts.c
    summed = select(kept.value, func.sum(kept.count).label("count")).where(
        kept.facet == facet,
        visible_rows(
            actor, visibility=kept.visibility, organisation_id=kept.organisation_id, dataset_id=None
        ),
        *_narrowing(kept.visibility, kept.organisation_id, organisations_named, visibilities),
    )
    for value, count in connection.execute(summed.group_by(kept.value)):
        counts[value] += int(count)
    each = dataset_facets.c
    granted = select(each.value, func.count().label("count")).where(
        each.facet == facet,
        seen_only_by_grant(
            actor,
            visibility=each.visibility,
            organisation_id=each.organisation_id,
            dataset_id=each.dataset_id,
        ),
        *_narrowing(each.visibility, each.organisation_id, organisations_named, visibilities),
    )
    for value, count in connection.execute(granted.group_by(each.value)):
        counts[value] += int(count)
    return counts


def _narrowing(
    visibility: ColumnElement[Any],
    organisation_id: ColumnElement[Any],
    organisations_named: tuple[str, ...],
    visibilities: tuple[str, ...],
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if organisations_named:
        owners = select(organisations.c.id).where(organisations.c.name.in_(organisations_named))
        found.append(organisation_id.in_(owners))
    if visibilities:
        found.append(visibility.in_(visibilities))
    return found
