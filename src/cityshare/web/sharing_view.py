"""What the sharing parts of the pages show: a reader's own requests for a dataset, and
for the owner's admins its pending requests, grants and access log. All through the
sharing services, which decide who may see what."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cityshare.access import Actor, allowed
from cityshare.accounts import users
from cityshare.catalogue.access_log import access_log
from cityshare.catalogue.datasets import dataset_resource, dataset_row, get_dataset
from cityshare.catalogue.versions import get_version
from cityshare.errors import BadRequest
from cityshare.sharing import grants, requests
from cityshare.sharing.models import AccessRequest
from cityshare.site import Site

LOG_ENTRIES = 100
DEFAULT_GRANT_DAYS = 365


def my_requests_for(site: Site, actor: Actor, name: str) -> list[AccessRequest]:
    """The signed-in actor's own requests for dataset ``name`` (none for anonymous)."""
    if actor.user_id is None:
        return []
    asked = requests.list_requests(site, actor, name)
    return [item for item in asked if item.requester == actor.username]


def manages_sharing(site: Site, actor: Actor, name: str) -> bool:
    """Whether ``actor`` may decide the dataset's requests and grants (asked of the
    access policy, as the sharing services ask it)."""
    if actor.user_id is None:
        return False
    with site.engine.connect() as connection:
        row = dataset_row(connection, actor, name, "dataset.view")
    return allowed(actor, "grant.manage", dataset_resource(row))


def access_part(site: Site, actor: Actor, name: str, readable: bool) -> dict[str, Any]:
    """The dataset page's part on access: the actor's own requests, whether they may ask
    (signed in, not reading the data yet, nothing pending), on whose behalf, and whether
    they manage the dataset's sharing."""
    if actor.username is None:
        return {"my_requests": [], "may_request": False, "on_behalf": [], "manages": False}
    mine = my_requests_for(site, actor, name)
    pending = any(item.status == "pending" for item in mine)
    member_of = users.get_user(site, actor, actor.username).memberships
    return {
        "my_requests": mine,
        "may_request": not readable and not pending,
        "on_behalf": [m.organisation for m in member_of],
        "manages": manages_sharing(site, actor, name),
    }


def sharing_page(site: Site, actor: Actor, name: str) -> dict[str, Any]:
    """Pending requests, grants and the access log of dataset ``name`` (its admins)."""
    found = grants.list_grants(site, actor, name)  # Forbidden for anyone else
    all_requests = requests.list_requests(site, actor, name)
    log = access_log(site, actor, name, after=0, limit=LOG_ENTRIES)
    dataset = get_dataset(site, actor, name)
    has_table = dataset.kind == "table" and dataset.current_version is not None
    fields = get_version(site, actor, name, None).schema_.fields if has_table else []
    return {
        "columns": [field.name for field in fields],
        "pending": [r for r in all_requests if r.status == "pending"],
        "decided": [r for r in all_requests if r.status != "pending"],
        "grants": found,
        "log": log.entries,
        "more_log": log.next_after is not None,
        "default_expiry": (date.today() + timedelta(days=DEFAULT_GRANT_DAYS)).isoformat(),
    }


def end_of_day(raw: str) -> datetime:
    """A form's ``YYYY-MM-DD`` expiry as the end of that day, UTC."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequest(
            f"The expiry {raw[:20]!r} is not a date: use YYYY-MM-DD.", parameter="expires_on"
        ) from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
