"""The one access decision point. Default deny; no bypass.

Services call :func:`ensure_allowed` before touching anything; lists filter
with :func:`visible_datasets`, the same rule expressed in SQL. Example::

    ensure_allowed(actor, "dataset.read", DatasetResource(id=3, organisation_id=1,
                                                          visibility="open"))

A resource the actor may not even see raises :class:`NotFound` (private things are
invisible, not merely forbidden); a visible one the actor may not act on raises
:class:`Unauthorized` for anonymous visitors and :class:`Forbidden` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, not_, or_, true

from cityshare.access import wording
from cityshare.access.actions import ACTIONS, Action, Role, Rule, Scope
from cityshare.access.actor import Actor
from cityshare.access.grants import reads_pseudonyms
from cityshare.errors import Forbidden, NotFound, Unauthorized

VISIBILITIES = ("open", "shared", "private")


@dataclass(frozen=True)
class SiteResource:
    """The site as a whole."""


@dataclass(frozen=True)
class OrganisationResource:
    """An organisation, by id (its name, when given, is what refusals call it)."""

    id: int
    name: str | None = None


@dataclass(frozen=True)
class UserResource:
    """A user account, by id."""

    id: int


@dataclass(frozen=True)
class DatasetResource:
    """A dataset: who owns it and who may see it (the owner's name, when given, is what
    refusals call it)."""

    id: int
    organisation_id: int
    visibility: str
    organisation_name: str | None = None


@dataclass(frozen=True)
class StreamResource:
    """A datastream, as far as writing readings into it goes: the device that feeds it."""

    id: int
    device_id: int


Resource = SiteResource | OrganisationResource | UserResource | DatasetResource | StreamResource


class Decision(Enum):
    """The outcome of a check."""

    ALLOW = "allow"
    DENY = "deny"
    HIDDEN = "hidden"


def decide(actor: Actor, action_name: str, resource: Resource) -> Decision:
    """Decide whether ``actor`` may perform ``action_name`` on ``resource``."""
    action = ACTIONS.get(action_name)
    if action is None or not _resource_matches(action, resource):
        return Decision.DENY
    if isinstance(resource, DatasetResource) and not can_see_dataset(actor, resource):
        return Decision.HIDDEN
    if not actor.has_scope(action.scope):
        return Decision.DENY
    # Readings are the device's own word: not even a site administrator writes them.
    admin_may = actor.is_site_admin and action.rule is not Rule.OWN_DEVICE
    if admin_may or _rule_allows(actor, action, resource) or _granted(actor, action, resource):
        return Decision.ALLOW
    return Decision.DENY


def allowed(actor: Actor, action_name: str, resource: Resource) -> bool:
    """True when ``actor`` may perform ``action_name`` on ``resource``."""
    return decide(actor, action_name, resource) is Decision.ALLOW


def ensure_allowed(
    actor: Actor, action_name: str, resource: Resource, *, missing: str | None = None
) -> None:
    """Raise unless ``actor`` may perform ``action_name`` on ``resource``. ``missing`` is
    the detail the caller gives when the thing does not exist: a hidden one gets the very
    same, so the answer tells nobody that it exists."""
    decision = decide(actor, action_name, resource)
    if decision is Decision.ALLOW:
        return
    if decision is Decision.HIDDEN:
        raise NotFound(missing or "No such dataset, or you may not see it.")
    action = ACTIONS.get(action_name)
    if actor.is_anonymous:
        raise Unauthorized(wording.sign_in_needed(action))
    if action is not None and not actor.has_scope(action.scope):
        raise Forbidden(wording.scope_missing(actor, action))
    if action is not None and _writes_what_it_reads_as_pseudonyms(actor, action, resource):
        raise Forbidden(wording.writes_pseudonyms(action))
    organisation_id, organisation = _owner_of(resource)
    raise Forbidden(wording.not_allowed(actor, action, organisation_id, organisation))


def ensure_may_delegate(actor: Actor, scopes: frozenset[Scope]) -> None:
    """Refuse a new token whose scopes go beyond the credentials that create it."""
    if not scopes <= actor.scopes:
        raise Forbidden("A token cannot have scopes its creator's credentials lack.")


def can_see_dataset(actor: Actor, dataset: DatasetResource) -> bool:
    """Whether a dataset's metadata exists for ``actor`` (the rule behind 404s)."""
    if dataset.visibility == "open" or actor.is_site_admin:
        return True
    if dataset.visibility == "shared" and not actor.is_anonymous:
        return True
    if actor.role_in(dataset.organisation_id) is not None:
        return True
    # A grant makes the dataset it names exist for its grantee, private ones included.
    return dataset.id in actor.granted_dataset_ids


def reads_whole_dataset(actor: Actor, dataset: DatasetResource) -> bool:
    """Whether ``actor`` reads every column and row of ``dataset`` (members of the owner
    organisation and site administrators); anyone else reads within bounds (a grant's, or
    the public columns of open data; see cityshare.bounds.view)."""
    return actor.is_site_admin or actor.role_in(dataset.organisation_id) is not None


def visible_datasets(actor: Actor, datasets: Table) -> ColumnElement[bool]:
    """The SQL condition selecting exactly the datasets ``actor`` may see."""
    return visible_rows(
        actor,
        visibility=datasets.c.visibility,
        organisation_id=datasets.c.organisation_id,
        dataset_id=datasets.c.id,
    )


def visible_rows(
    actor: Actor,
    *,
    visibility: ColumnElement[Any],
    organisation_id: ColumnElement[Any],
    dataset_id: ColumnElement[Any] | None,
) -> ColumnElement[bool]:
    """The SQL condition selecting the rows about datasets ``actor`` may see, given the
    columns holding each dataset's visibility, owner and id. Without ``dataset_id``
    (rows that aggregate many datasets) grants are left out: the caller adds the datasets
    ``actor`` sees only through a grant, which :func:`seen_only_by_grant` selects."""
    if actor.is_site_admin:
        return true()
    if actor.is_anonymous:
        return visibility == "open"
    member_of = list(actor.roles)
    own = organisation_id.in_(member_of) if member_of else false()
    granted = sorted(actor.granted_dataset_ids)
    by_grant = dataset_id.in_(granted) if granted and dataset_id is not None else false()
    return or_(visibility.in_(("open", "shared")), own, by_grant)


def seen_only_by_grant(
    actor: Actor,
    *,
    visibility: ColumnElement[Any],
    organisation_id: ColumnElement[Any],
    dataset_id: ColumnElement[Any],
) -> ColumnElement[bool]:
    """The rows about datasets ``actor`` sees only because a grant names them."""
    granted = sorted(actor.granted_dataset_ids)
    if not granted or actor.is_site_admin or actor.is_anonymous:
        return false()
    without_grants = visible_rows(
        actor, visibility=visibility, organisation_id=organisation_id, dataset_id=None
    )
    return and_(dataset_id.in_(granted), not_(without_grants))


def _resource_matches(action: Action, resource: Resource) -> bool:
    kinds = {
        "site": SiteResource,
        "organisation": OrganisationResource,
        "user": UserResource,
        "dataset": DatasetResource,
        "stream": StreamResource,
    }
    return isinstance(resource, kinds[action.resource])


def _rule_allows(actor: Actor, action: Action, resource: Resource) -> bool:
    rule = action.rule
    if rule in (Rule.ANYONE, Rule.VISIBILITY_METADATA):
        return True  # dataset visibility was already checked by can_see_dataset
    if rule is Rule.VISIBILITY_DATA:
        return _may_read_data(actor, resource)
    if rule is Rule.OWN_DEVICE:
        return isinstance(resource, StreamResource) and resource.device_id == actor.device_id
    if rule is Rule.SITE_ADMIN or actor.is_anonymous:
        return False
    if rule is Rule.SIGNED_IN:
        return True
    if rule is Rule.SELF:
        return isinstance(resource, UserResource) and resource.id == actor.user_id
    if rule is Rule.ROLE:
        return _has_role(actor, resource, action.role)
    return False


def _granted(actor: Actor, action: Action, resource: Resource) -> bool:
    if action.grant_permission is None or not isinstance(resource, DatasetResource):
        return False
    return actor.grant_for(resource.id, action.grant_permission) is not None


def _may_read_data(actor: Actor, resource: Resource) -> bool:
    if not isinstance(resource, DatasetResource):
        return False
    if resource.visibility == "open":
        return True
    return actor.role_in(resource.organisation_id) is not None


def _has_role(actor: Actor, resource: Resource, needed: Role | None) -> bool:
    if isinstance(resource, DatasetResource):
        organisation_id = resource.organisation_id
    elif isinstance(resource, OrganisationResource):
        organisation_id = resource.id
    else:
        return False
    role = actor.role_in(organisation_id)
    return role is not None and needed is not None and role.rank >= needed.rank


def _writes_what_it_reads_as_pseudonyms(actor: Actor, action: Action, resource: Resource) -> bool:
    return (
        action.grant_permission == "write"
        and isinstance(resource, DatasetResource)
        and reads_pseudonyms(actor.grants, resource.id)
    )


def _owner_of(resource: Resource) -> tuple[int | None, str | None]:
    """The organisation that owns ``resource`` (its id, and its name when known)."""
    if isinstance(resource, DatasetResource):
        return resource.organisation_id, resource.organisation_name
    if isinstance(resource, OrganisationResource):
        return resource.id, resource.name
    return None, None
