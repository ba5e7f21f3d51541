"""Facet counts for catalogue search.

Browsing the catalogue (no words, no filter but organisation and visibility) reads the
kept counts in ``facet_counts``, by who may see them, so the facets of 100 000 datasets
cost as much as those of ten; the datasets an actor sees only through a grant are
counted one by one on top. A search with words or other filters counts the facet values
of exactly the datasets it matched, from each one's list of facet value numbers
(``dataset_facet_lists``, ``facet_values``). Both count what every reader may see; the
caller corrects the counts for the views its reader has (see ``search_views``) and
keeps the :func:`top` values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Select, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from cityshare.access import Actor, seen_only_by_grant, visible_rows
from cityshare.storage.schema import (
    dataset_facet_lists,
    dataset_facets,
    facet_counts,
    facet_values,
    organisations,
)

FACET_LIMIT = 50
_CHUNK = 1000  # numbers looked up per statement, well under any bind limit


def kept_counts(
    connection: Connection,
    actor: Actor,
    facets: tuple[str, ...],
    organisations_named: tuple[str, ...],
    visibilities: tuple[str, ...],
) -> tuple[int, dict[str, Counter[str]]]:
    """The number of datasets ``actor`` may see (of these organisations and visibilities,
    if given) and the counts of each facet's values among them, from the kept counts."""
    found: dict[str, Counter[str]] = {}
    for facet in (*facets, "visibility"):
        counts = _kept(connection, actor, facet, organisations_named, visibilities)
        if facet in facets:
            found[facet] = counts
        if facet == "visibility":
            total = sum(counts.values())
    return total, found


def matched_counts(
    connection: Connection, facets: tuple[str, ...], matched_ids: Select[Any]
) -> tuple[int, dict[str, Counter[str]]]:
    """How many datasets ``matched_ids`` selects, and the counts of each facet's values
    among them, from one facet list per match (every dataset has exactly one visibility, so its
    visibility values add up to the count)."""
    lists = connection.execute(
        select(dataset_facet_lists.c.facets).where(
            dataset_facet_lists.c.dataset_id.in_(matched_ids)
        )
    ).scalars()
    numbers = Counter(chain.from_iterable(map(orjson.loads, lists.all())))
    counts: dict[str, Counter[str]] = {facet: Counter() for facet in (*facets, "visibility")}
    for number, facet, value in _values_numbered(connection, list(numbers), list(counts)):
        counts[facet][value] += numbers[number]
    total = sum(counts["visibility"].values())
    return total, {facet: counts[facet] for facet in facets}


def write_facet_list(
    connection: Connection, dataset_id: int, values: Iterable[tuple[str, str]]
) -> None:
    """Store the numbers of a dataset's ``(facet, value)`` pairs as its facet list,
    numbering values not seen before."""
    pairs = sorted(set(values))
    numbered = _numbers(connection, pairs)
    missing = [{"facet": f, "value": v} for f, v in pairs if (f, v) not in numbered]
    if missing:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        connection.execute(dialect.insert(facet_values).on_conflict_do_nothing(), missing)
        numbered = _numbers(connection, pairs)
    listed = orjson.dumps(sorted(numbered.values())).decode()
    connection.execute(insert(dataset_facet_lists).values(dataset_id=dataset_id, facets=listed))


def _numbers(connection: Connection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    each = facet_values.c
    rows = connection.execute(
        select(each.id, each.facet, each.value).where(tuple_(each.facet, each.value).in_(pairs))
    )
    return {(facet, value): number for number, facet, value in rows}


def _values_numbered(
    connection: Connection, numbers: list[int], facets: list[str]
) -> list[tuple[int, str, str]]:
    """``(id, facet, value)`` of those of ``numbers`` that are values of ``facets``."""
    each = facet_values.c
    found: list[tuple[int, str, str]] = []
    for start in range(0, len(numbers), _CHUNK):
        chunk = numbers[start : start + _CHUNK]
        rows = connection.execute(
            select(each.id, each.facet, each.value).where(
                each.id.in_(chunk), each.facet.in_(facets)
            )
        )
        found.extend((number, facet, value) for number, facet, value in rows)
    return found


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
