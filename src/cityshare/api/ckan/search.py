"""``package_search``: CKAN's Solr-style parameters as a catalogue search.

CKAN passes ``q`` and ``fq`` to Solr; cityshare reads the part of that language CKAN
clients use to find datasets::

    q=*:*                          everything (so does an empty q)
    q=traffic counts               full text over the datasets' metadata
    q=organization:city traffic    field terms in q filter too (frictionless sends these)
    fq=organization:city           the organisation (several: any of them)
    fq=tags:roads tags:"air quality"    tags (several: all of them)
    fq=res_format:CSV              a format the data can be read in (several: all)
    fq=license_id:CC-BY-4.0        the licence (several: any)
    fq=+capacity:public            public (open or shared) or private datasets
    sort=score desc, metadata_modified desc | metadata_modified desc | name asc | …
    facet.field=["organization","tags","res_format","license_id"]

Terms may be joined by spaces or ``AND``; negated terms (``-tags:x``), ``OR``,
parentheses, ranges and other fields are refused with a ``Search Query Error`` rather
than silently ignored. Only datasets the actor may see are ever matched or counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cityshare.api.ckan.params import CkanCall
from cityshare.catalogue.search import (
    MAX_LIMIT,
    MAX_OFFSET,
    SearchQuery,
    SearchResult,
    search_datasets,
)
from cityshare.http.ckan_envelope import SearchQueryInvalid, invalid
from cityshare.interop import ckan_mapping as mapping

MATCH_ALL = "*:*"
FACET_LIMIT = 50  # CKAN's default facet.limit
PUBLIC = ("open", "shared")
# CKAN field -> the SearchQuery filter it sets.
FILTERS = {
    "organization": "organisations",
    "owner_org": "organisations",
    "tags": "tags",
    "res_format": "formats",
    "license_id": "licences",
    "capacity": "visibilities",
}
IGNORED_TERMS = {("type", "dataset"), ("dataset_type", "dataset"), ("state", "active")}
CAPACITIES = {"public": PUBLIC, "private": ("private",)}
# CKAN facet field -> cityshare facet.
FACETS = {
    "organization": "organisation",
    "tags": "tag",
    "res_format": "format",
    "license_id": "licence",
}
# CKAN sort keys -> the closest cityshare sort.
SORTS = {
    ("score", "desc"): "relevance",
    ("metadata_modified", "desc"): "-modified",
    ("metadata_modified", "asc"): "modified",
    ("metadata_created", "desc"): "-modified",
    ("metadata_created", "asc"): "modified",
    ("name", "asc"): "name",
    ("name", "desc"): "-name",
    ("title_string", "asc"): "name",
    ("title_string", "desc"): "-name",
}
DEFAULT_SORT = "score desc, metadata_modified desc"
_TERM = re.compile(r'(?P<sign>[+-]?)(?P<field>[A-Za-z_][A-Za-z0-9_.]*):(?P<value>"[^"]*"|[^\s"]+)')
_SPACE_OR_AND = re.compile(r"\s+(?:AND\s+)*")


@dataclass
class Terms:
    """What a q or fq string asks for."""

    text: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)


def parse_terms(raw: str, parameter: str, *, free_text: bool) -> Terms:
    """Field terms of ``raw`` as filters; the rest as text (``free_text``) or refused."""
    terms = Terms()
    position = 0
    for match in _TERM.finditer(raw):
        _free(raw[position : match.start()], parameter, terms, free_text)
        position = match.end()
        name, value = match["field"], match["value"].strip('"')
        if (name, value) in IGNORED_TERMS:
            continue
        if name not in FILTERS:
            if free_text:
                terms.text.append(match.group(0))
                continue
            raise SearchQueryInvalid(
                f"{parameter}: cannot filter on {name!r}; use {', '.join(sorted(FILTERS))}."
            )
        if match["sign"] == "-" or not value or "(" in value or "*" in value:
            raise SearchQueryInvalid(
                f"{parameter}: {match.group(0)!r} is not supported: give plain field:value terms."
            )
        terms.filters.setdefault(FILTERS[name], []).append(value)
    _free(raw[position:], parameter, terms, free_text)
    return terms


def _free(text: str, parameter: str, terms: Terms, free_text: bool) -> None:
    words = [word for word in _SPACE_OR_AND.split(f" {text} ") if word]
    if not words:
        return
    if not free_text or any(word in ("OR", "NOT", "||", "&&") for word in words):
        raise SearchQueryInvalid(
            f"{parameter}: {' '.join(words)[:80]!r} is not supported: give field:value "
            "terms joined by spaces or AND."
        )
    terms.text.extend(words)


def parse_sort(raw: str) -> str:
    """The cityshare sort closest to CKAN's ``sort`` (its first key decides)."""
    first = raw.split(",")[0].strip().lower()
    name, _space, direction = first.partition(" ")
    chosen = SORTS.get((name, direction.strip() or "asc"))
    if chosen is None:
        shown = ", ".join(f"{key} {way}" for key, way in SORTS)
        raise SearchQueryInvalid(f"sort: {raw[:80]!r} is not supported; use one of {shown}.")
    return chosen


def _facet_fields(call: CkanCall) -> list[str]:
    if not call.flag("facet", True):
        return []
    names = call.strings("facet.field") or []
    unknown = [name for name in names if name not in FACETS]
    if unknown:
        raise invalid("facet.field", f"Cannot count {unknown[0]!r}; use {', '.join(FACETS)}.")
    return names


def _query(call: CkanCall, facets: list[str]) -> SearchQuery:
    q = (call.text("q") or "").strip()
    asked = parse_terms("" if q == MATCH_ALL else q, "q", free_text=True)
    for raw in call.strings("fq_list") or []:
        _merge(asked, parse_terms(raw, "fq", free_text=False))
    _merge(asked, parse_terms(call.text("fq") or "", "fq", free_text=False))
    capacities = asked.filters.pop("visibilities", [])
    visibilities = _visibilities(capacities, call.flag("include_private"))
    return SearchQuery(
        text=" ".join(asked.text),
        organisations=tuple(asked.filters.get("organisations", ())),
        tags=tuple(asked.filters.get("tags", ())),
        licences=tuple(asked.filters.get("licences", ())),
        formats=tuple(asked.filters.get("formats", ())),
        visibilities=visibilities,
        sort=parse_sort(call.text("sort") or DEFAULT_SORT),
        offset=call.integer("start", 0, 0, MAX_OFFSET),
        limit=call.integer("rows", 10, 0, MAX_LIMIT),
        facets=tuple(FACETS[name] for name in facets),
    )


def _merge(into: Terms, more: Terms) -> None:
    into.text.extend(more.text)
    for name, values in more.filters.items():
        into.filters.setdefault(name, []).extend(values)


def _visibilities(capacities: list[str], include_private: bool) -> tuple[str, ...]:
    allowed = set(PUBLIC) | ({"private"} if include_private else set())
    for capacity in capacities:
        if capacity not in CAPACITIES:
            raise SearchQueryInvalid("fq: capacity is public or private.")
        allowed &= set(CAPACITIES[capacity])
    return tuple(sorted(allowed)) or ("none",)


def package_search(call: CkanCall) -> dict[str, Any]:
    """Datasets the actor may see that match, with counts and facets."""
    facets = _facet_fields(call)
    query = _query(call, facets)
    if query.visibilities == ("none",):
        return _answer(call, SearchResult(count=0, datasets=[]), facets)
    return _answer(call, search_datasets(call.site, call.actor, query), facets)


def _answer(call: CkanCall, found: SearchResult, facets: list[str]) -> dict[str, Any]:
    limit = call.integer("facet.limit", FACET_LIMIT, -1, 10_000)
    organisations = mapping.OrganisationCache(call.site, call.actor)
    organisations.load(
        [str(item["name"]) for item in found.facets.get("organisation", [])]
        + [dataset.organisation for dataset in found.datasets]
    )
    counted: dict[str, dict[str, int]] = {}
    described: dict[str, Any] = {}
    for name in facets:
        items = found.facets.get(FACETS[name], [])
        items = items if limit < 0 else items[:limit]
        counted[name] = {str(item["name"]): int(item["count"]) for item in items}
        described[name] = {
            "title": name,
            "items": [
                {
                    "name": item["name"],
                    "display_name": _display(organisations, name, str(item["name"])),
                    "count": item["count"],
                }
                for item in items
            ],
        }
    return {
        "count": found.count,
        "results": mapping.packages_of(
            call.site, call.actor, found.datasets, call.base_url, organisations
        ),
        "facets": counted,
        "search_facets": described,
        "sort": call.text("sort") or DEFAULT_SORT,
    }


def _display(organisations: mapping.OrganisationCache, facet: str, value: str) -> str:
    if facet == "organization":
        return organisations.get(value).title
    return value
