"""The home page: search the catalogue with facets, as ``GET /api/v1/datasets`` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cityshare.access import Actor
from cityshare.accounts.organisations import get_organisations
from cityshare.catalogue.models import FacetValue
from cityshare.catalogue.search import FACETS, SearchQuery, search_datasets
from cityshare.errors import BadRequest
from cityshare.site import Site

PAGE_SIZE = 20
FACET_ITEMS = 10
MAX_PAGE = 1000
# A page's filter parameter and the SearchQuery field it fills.
FILTERS = {
    "organisation": "organisations",
    "tag": "tags",
    "licence": "licences",
    "format": "formats",
    "kind": "kinds",
    "visibility": "visibilities",
}
SORT_CHOICES = (
    ("relevance", "Best match"),
    ("-modified", "Newest change"),
    ("name", "Name A–Z"),
    ("-name", "Name Z–A"),
)


@dataclass(frozen=True)
class FacetLink:
    """One value of a facet: its count and the link that adds or removes it."""

    name: str
    label: str
    count: int
    selected: bool
    href: str


def search_page(site: Site, actor: Actor, params: list[tuple[str, str]]) -> dict[str, Any]:
    """What the home page shows for ``params`` (q, the filters, sort, page)."""
    kept = [(key, value) for key, value in params if key in {"q", "sort", *FILTERS} and value]
    text = _first(kept, "q")
    sort = _first(kept, "sort") or "relevance"
    number = _page_number(_first(params, "page"))
    chosen = {facet: tuple(value for key, value in kept if key == facet) for facet in FILTERS}
    query = SearchQuery(
        text=text,
        sort=sort,
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        facets=FACETS,
        **{FILTERS[facet]: values for facet, values in chosen.items()},
    )
    result = search_datasets(site, actor, query).page(None)
    pages = max(1, -(-result.count // PAGE_SIZE))
    owners = {dataset.organisation for dataset in result.datasets} | {
        item.name for item in result.facets.get("organisation", [])
    }
    found_owners = get_organisations(site, actor, owners)
    titles = {name: owner.title for name, owner in found_owners.items()}
    return {
        "text": text,
        "sort": sort,
        "sort_choices": SORT_CHOICES,
        "chosen": [(facet, value) for facet, values in chosen.items() for value in values],
        "count": result.count,
        "datasets": result.datasets,
        "titles": titles,
        "facets": {
            facet: _facet_links(
                kept,
                facet,
                result.facets.get(facet, []),
                chosen[facet],
                titles if facet == "organisation" else {},
            )
            for facet in FACETS
        },
        "page": number,
        "pages": pages,
        "previous": _href(kept, page=number - 1) if number > 1 else None,
        "next": _href(kept, page=number + 1) if number < pages else None,
        "remove": {(facet, value): _href(_without(kept, facet, value)) for facet, value in kept},
    }


def _facet_links(
    kept: list[tuple[str, str]],
    facet: str,
    items: list[FacetValue],
    chosen: tuple[str, ...],
    labels: dict[str, str],
) -> list[FacetLink]:
    counted = {item.name: item.count for item in items}
    names = [*chosen, *(name for name in counted if name not in chosen)][:FACET_ITEMS]
    if len(names) < len(chosen):
        names = list(chosen)
    links = []
    for name in names:
        selected = name in chosen
        changed = _without(kept, facet, name) if selected else [*kept, (facet, name)]
        label = labels.get(name, name)
        links.append(FacetLink(name, label, counted.get(name, 0), selected, _href(changed)))
    return links


def _without(kept: list[tuple[str, str]], facet: str, value: str) -> list[tuple[str, str]]:
    return [(key, item) for key, item in kept if (key, item) != (facet, value)]


def _href(kept: list[tuple[str, str]], page: int = 1) -> str:
    items = [*kept, *([("page", str(page))] if page > 1 else [])]
    return "/?" + urlencode(items) if items else "/"


def _first(params: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in params if key == name), "")


def _page_number(raw: str) -> int:
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"page must be a whole number from 1 to {MAX_PAGE}.", parameter="page")
    return int(raw)
