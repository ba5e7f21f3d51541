"""The organisation page: its datasets for everyone; its members and devices for those
the policy lets see them (members see them; admins also change the membership)."""

from __future__ import annotations

from typing import Any

from cityshare.access import Actor, OrganisationResource, allowed
from cityshare.accounts.organisations import get_organisation, list_members
from cityshare.catalogue.search import SearchQuery, search_datasets
from cityshare.errors import Forbidden, NotFound, Unauthorized
from cityshare.site import Site
from cityshare.streams.devices import list_devices

DATASETS_SHOWN = 100
ROLES = ("member", "editor", "admin")


def organisation_page(site: Site, actor: Actor, name: str) -> dict[str, Any]:
    """What the page of organisation ``name`` shows ``actor``."""
    organisation = get_organisation(site, actor, name)
    query = SearchQuery(organisations=(name,), sort="name", limit=DATASETS_SHOWN)
    found = search_datasets(site, actor, query).page(None)
    resource = OrganisationResource(organisation.id, organisation.name)
    return {
        "organisation": organisation,
        "count": found.count,
        "datasets": found.datasets,
        "members": _or_none(lambda: list_members(site, actor, name)),
        "devices": _or_none(lambda: list_devices(site, actor, name)),
        "manages_members": allowed(actor, "organisation.members.manage", resource),
        "roles": ROLES,
    }


def _or_none(read: Any) -> Any:
    """What ``read`` returns, or None when the policy refuses it to this actor (or hides
    it: devices do not exist for outsiders)."""
    try:
        return read()
    except (Forbidden, NotFound, Unauthorized):
        return None
