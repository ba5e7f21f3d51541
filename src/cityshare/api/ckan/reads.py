"""CKAN's reading actions on the site, packages, resources, organisations and tags.

Every list is made of what the actor may see (the catalogue's services filter with the
access policy). As in CKAN, ``package_list`` and ``package_search`` leave private
datasets out unless ``include_private`` is true (and then only those the actor sees);
counts of an organisation's datasets, ``organization_show`` and ``tag_list`` cover
every dataset the actor sees.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cityshare import __version__
from cityshare.access import SiteResource, ensure_allowed
from cityshare.accounts.organisations import get_organisation, list_organisations
from cityshare.api.ckan.params import CkanCall
from cityshare.catalogue.models import ListedDataset
from cityshare.catalogue.search import MAX_LIMIT, MAX_OFFSET, SearchQuery, search_datasets
from cityshare.http.ckan_envelope import invalid
from cityshare.interop import ckan_mapping as mapping

MAX_LIST = 1_000_000
PUBLIC = ("open", "shared")  # what CKAN calls public: every visibility but private


def status_show(call: CkanCall) -> dict[str, Any]:
    """The site and the CKAN API level it answers."""
    ensure_allowed(call.actor, "site.view", SiteResource())
    return {
        "site_title": "cityshare",
        "site_description": "Publish, find and share city data.",
        "site_url": call.base_url.rstrip("/"),
        "ckan_version": mapping.CKAN_VERSION,
        "cityshare_version": __version__,
        "error_emails_to": None,
        "locale_default": "en",
        "extensions": ["datastore"],
    }


def site_read(call: CkanCall) -> bool:
    """Whether the site may be read (by anyone)."""
    ensure_allowed(call.actor, "site.view", SiteResource())
    return True


def _listed(call: CkanCall, organisation: str | None = None) -> list[ListedDataset]:
    """The datasets of the call's lists: without private ones unless include_private."""
    visibilities = () if call.flag("include_private") else PUBLIC
    return mapping.all_visible_datasets(call.site, call.actor, organisation, visibilities)


def _window(call: CkanCall, items: list[Any], default: int | None = None) -> list[Any]:
    limit = call.integer("limit", default if default is not None else MAX_LIST, 0, MAX_LIST)
    offset = call.integer("offset", 0, 0, MAX_LIST)
    return items[offset : offset + limit]


def package_list(call: CkanCall) -> list[str]:
    """The names of the datasets the actor may see, by name (limit, offset)."""
    return _window(call, [dataset.name for dataset in _listed(call)])


def package_show(call: CkanCall) -> dict[str, Any]:
    """One package with its resources."""
    name = call.required("id", "name_or_id", "name")
    return mapping.show_package(call.site, call.actor, name, call.base_url)


def current_package_list_with_resources(call: CkanCall) -> list[dict[str, Any]]:
    """Packages with resources, most recently modified first (limit, offset, page)."""
    limit = call.integer("limit", 100, 1, MAX_LIMIT)
    page = call.integer("page", 0, 0, MAX_OFFSET)
    offset = (page - 1) * limit if page else call.integer("offset", 0, 0, MAX_OFFSET)
    if offset > MAX_OFFSET:
        raise invalid("page", f"Pages go up to offset {MAX_OFFSET}.")
    visibilities = () if call.flag("include_private") else PUBLIC
    query = SearchQuery(sort="-modified", offset=offset, limit=limit, visibilities=visibilities)
    found = search_datasets(call.site, call.actor, query)
    return mapping.packages_of(call.site, call.actor, found.datasets, call.base_url)


def organization_list(call: CkanCall) -> list[Any]:
    """Organisations by name; with ``all_fields``, as objects with their dataset counts."""
    organisations = list_organisations(call.site, call.actor)
    wanted = call.strings("organizations", split=True)
    if wanted is not None:
        organisations = [org for org in organisations if org.name in set(wanted)]
    field, descending = _org_sort(call)
    all_fields = call.flag("all_fields")
    counts = _dataset_counts(call) if all_fields or field == "package_count" else Counter()
    if field == "package_count":
        organisations.sort(key=lambda org: (counts[org.name], org.name), reverse=descending)
    else:
        organisations.sort(key=lambda org: str(getattr(org, field)), reverse=descending)
    shown = _window(call, organisations)
    if not all_fields:
        return [org.name for org in shown]
    with_counts = call.flag("include_dataset_count", True)
    return [
        mapping.organization_dict(org, counts[org.name] if with_counts else None) for org in shown
    ]


def _org_sort(call: CkanCall) -> tuple[str, bool]:
    """The field and direction of organization_list's ``sort`` ("name asc" by default)."""
    field, _space, direction = (call.text("sort") or "name asc").strip().lower().partition(" ")
    if field not in ("name", "title", "package_count") or direction not in ("", "asc", "desc"):
        raise invalid("sort", "Use name, title or package_count, then asc or desc.")
    return field, direction == "desc"


def _dataset_counts(call: CkanCall) -> Counter[str]:
    """How many datasets of each organisation the actor sees."""
    found = mapping.all_visible_datasets(call.site, call.actor)
    return Counter(dataset.organisation for dataset in found)


def organization_show(call: CkanCall) -> dict[str, Any]:
    """One organisation, its count of datasets the actor sees, and (include_datasets)
    those datasets as packages."""
    name = call.required("id", "name")
    organisation = get_organisation(call.site, call.actor, name)
    datasets = mapping.all_visible_datasets(call.site, call.actor, name)
    shown = mapping.organization_dict(organisation, len(datasets))
    shown["packages"] = (
        mapping.packages_of(call.site, call.actor, datasets[:MAX_LIMIT], call.base_url)
        if call.flag("include_datasets")
        else []
    )
    shown["users"] = []
    shown["extras"] = []
    return shown


def group_list(call: CkanCall) -> list[Any]:
    """cityshare has no groups: always empty."""
    ensure_allowed(call.actor, "site.view", SiteResource())
    return []


def tag_list(call: CkanCall) -> list[Any]:
    """The tags of the datasets the actor sees (``query``: containing this text)."""
    if call.text("vocabulary_id"):
        ensure_allowed(call.actor, "site.view", SiteResource())
        return []  # no vocabularies here: free tags only
    found = mapping.all_visible_datasets(call.site, call.actor)
    tags = sorted({tag for dataset in found for tag in dataset.tags})
    query = (call.text("query") or call.text("q") or "").lower()
    if query:
        tags = [tag for tag in tags if query in tag.lower()]
    if call.flag("all_fields"):
        return [
            {"id": tag, "name": tag, "display_name": tag, "vocabulary_id": None} for tag in tags
        ]
    return tags


def resource_show(call: CkanCall) -> dict[str, Any]:
    """One resource, by id (``{dataset}.{format}``)."""
    identifier = call.required("id")
    return mapping.show_resource(call.site, call.actor, identifier, call.base_url)
