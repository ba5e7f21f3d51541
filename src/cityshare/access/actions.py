"""Every action cityshare knows, declared as data in one registry.

An action names the resource kind it applies to, the token scope it needs and
who may perform it. :mod:`cityshare.access.policy` reads this registry and
nothing else; an action missing here is denied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType


class Scope(StrEnum):
    """What an API token may be used for. ``admin`` implies ``write`` implies ``read``."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class Role(StrEnum):
    """A member's role in an organisation, from least to most powerful."""

    MEMBER = "member"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Orders roles: member < editor < admin."""
        return _ROLE_RANK[self]


_ROLE_RANK = {Role.MEMBER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Rule(StrEnum):
    """Who an action is for, besides site administrators (who may do everything)."""

    ANYONE = "anyone"  # anonymous included
    SIGNED_IN = "signed-in"
    SELF = "self"  # the user the resource is
    ROLE = "role"  # members of the owning organisation with at least ``role``
    VISIBILITY_METADATA = "visibility-metadata"  # by the dataset's visibility (metadata)
    VISIBILITY_DATA = "visibility-data"  # by the dataset's visibility (rows)
    SITE_ADMIN = "site-admin"
    OWN_DEVICE = "own-device"  # a device acting on its own streams (signed ingestion)


@dataclass(frozen=True)
class Action:
    """One thing an actor may try to do."""

    name: str
    resource: str
    scope: Scope
    rule: Rule
    role: Role | None = None
    description: str = ""
    # A live grant carrying this permission also allows the action (see access.grants).
    grant_permission: str | None = None
    # What the action does, in the words a refusal uses: "Only admins of x can <phrase>".
    phrase: str = ""


def _actions(*actions: Action) -> MappingProxyType[str, Action]:
    return MappingProxyType(
        {action.name: replace(action, phrase=PHRASES[action.name]) for action in actions}
    )


# Each action in people's words, for refusals: no message shows an action's name.
PHRASES = MappingProxyType(
    {
        "site.view": "see the site's description",
        "user.list": "list every user",
        "user.create": "create users",
        "user.second-factor.reset": "remove a user's second factor",
        "user.view": "see this account",
        "token.manage": "manage this account's API tokens",
        "organisation.create": "create organisations",
        "organisation.list": "list organisations",
        "organisation.view": "see this organisation",
        "organisation.update": "edit this organisation's title and description",
        "organisation.members.view": "list this organisation's members",
        "organisation.members.manage": "add, change or remove this organisation's members",
        "dataset.create": "publish datasets for this organisation",
        "dataset.list": "list datasets",
        "dataset.view": "see this dataset",
        "dataset.read": "read this dataset's rows",
        "dataset.update": "edit this dataset's metadata",
        "dataset.upload": "publish a new version of this dataset",
        "dataset.visibility": "change who can see this dataset (make it open, shared or private)",
        "dataset.delete": "delete this dataset",
        "device.view": "see this organisation's devices",
        "device.manage": "register devices or change their keys",
        "stream.manage": "add datastreams to this dataset",
        "grant.view": "see this dataset's grants and access requests",
        "grant.manage": "grant this dataset, change or revoke its grants, or answer requests",
        "access.request": "ask for access to this dataset",
        "access.request.on-behalf": "ask for access on this organisation's behalf",
        "dataset.access-log": "see who read this dataset",
        "audit.export": "export the audit log",
        "stream.ingest": "write readings into this datastream",
    }
)


ACTIONS = _actions(
    Action("site.view", "site", Scope.READ, Rule.ANYONE, None, "See the site's description."),
    Action("user.list", "site", Scope.READ, Rule.SITE_ADMIN, None, "List all users."),
    Action("user.create", "site", Scope.ADMIN, Rule.SITE_ADMIN, None, "Create a user."),
    Action(
        "user.second-factor.reset",
        "site",
        Scope.ADMIN,
        Rule.SITE_ADMIN,
        None,
        "Remove the second factor of a user who lost it.",
    ),
    Action("user.view", "user", Scope.READ, Rule.SELF, None, "See a user's account."),
    Action("token.manage", "user", Scope.ADMIN, Rule.SELF, None, "Create/list/revoke tokens."),
    Action("organisation.create", "site", Scope.ADMIN, Rule.SITE_ADMIN, None, "Create an org."),
    Action("organisation.list", "site", Scope.READ, Rule.ANYONE, None, "List organisations."),
    Action("organisation.view", "organisation", Scope.READ, Rule.ANYONE, None, "See an org."),
    Action(
        "organisation.update",
        "organisation",
        Scope.WRITE,
        Rule.ROLE,
        Role.ADMIN,
        "Edit an organisation's title and description.",
    ),
    Action(
        "organisation.members.view",
        "organisation",
        Scope.READ,
        Rule.ROLE,
        Role.MEMBER,
        "List an organisation's members.",
    ),
    Action(
        "organisation.members.manage",
        "organisation",
        Scope.ADMIN,
        Rule.ROLE,
        Role.ADMIN,
        "Add, change or remove members.",
    ),
    Action(
        "dataset.create",
        "organisation",
        Scope.WRITE,
        Rule.ROLE,
        Role.EDITOR,
        "Create a dataset owned by the organisation.",
    ),
    Action("dataset.list", "site", Scope.READ, Rule.ANYONE, None, "List the datasets one may see."),
    Action(
        "dataset.view",
        "dataset",
        Scope.READ,
        Rule.VISIBILITY_METADATA,
        None,
        "See a dataset's metadata and versions.",
    ),
    Action(
        "dataset.read",
        "dataset",
        Scope.READ,
        Rule.VISIBILITY_DATA,
        None,
        "Query rows (a grant with 'read' allows it, within its bounds).",
        grant_permission="read",
    ),
    Action(
        "dataset.update",
        "dataset",
        Scope.WRITE,
        Rule.ROLE,
        Role.EDITOR,
        "Edit a dataset's metadata.",
    ),
    Action(
        "dataset.upload",
        "dataset",
        Scope.WRITE,
        Rule.ROLE,
        Role.EDITOR,
        "Publish a new version of the data (a grant with 'write' allows it too).",
        grant_permission="write",
    ),
    Action(
        "dataset.visibility",
        "dataset",
        Scope.ADMIN,
        Rule.ROLE,
        Role.ADMIN,
        "Change who can see a dataset.",
    ),
    Action("dataset.delete", "dataset", Scope.ADMIN, Rule.ROLE, Role.ADMIN, "Delete a dataset."),
    Action(
        "device.view",
        "organisation",
        Scope.READ,
        Rule.ROLE,
        Role.MEMBER,
        "List an organisation's devices and see their keys, streams and refusals.",
    ),
    Action(
        "device.manage",
        "organisation",
        Scope.WRITE,
        Rule.ROLE,
        Role.EDITOR,
        "Register devices, rotate or revoke their keys, revoke devices.",
    ),
    Action(
        "stream.manage",
        "dataset",
        Scope.WRITE,
        Rule.ROLE,
        Role.EDITOR,
        "Add datastreams to a sensor dataset.",
    ),
    Action(
        "grant.view",
        "dataset",
        Scope.READ,
        Rule.ROLE,
        Role.ADMIN,
        "List every grant of a dataset and its access requests (grantees see their own).",
    ),
    Action(
        "grant.manage",
        "dataset",
        Scope.ADMIN,
        Rule.ROLE,
        Role.ADMIN,
        "Grant a dataset to another organisation or user, change or revoke a grant, and "
        "approve or decline access requests.",
    ),
    Action(
        "access.request",
        "dataset",
        Scope.WRITE,
        Rule.SIGNED_IN,
        None,
        "Ask the owner of a dataset one can see for access, stating a purpose, and "
        "withdraw one's own request while it is pending.",
    ),
    Action(
        "access.request.on-behalf",
        "organisation",
        Scope.WRITE,
        Rule.ROLE,
        Role.ADMIN,
        "Ask for access to a dataset on an organisation's behalf.",
    ),
    Action(
        "dataset.access-log",
        "dataset",
        Scope.READ,
        Rule.ROLE,
        Role.ADMIN,
        "See who read a dataset, when, and under which grant.",
    ),
    Action("audit.export", "site", Scope.ADMIN, Rule.SITE_ADMIN, None, "Export the audit log."),
    Action(
        "stream.ingest",
        "stream",
        Scope.WRITE,
        Rule.OWN_DEVICE,
        None,
        "Store signed readings in a device's own datastream.",
    ),
)
