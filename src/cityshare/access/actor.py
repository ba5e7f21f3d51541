"""Who is asking. One middleware turns a request into an :class:`Actor`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cityshare.access.actions import Role, Scope
from cityshare.access.grants import GrantTerms, pick_grant

ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class Actor:
    """An anonymous visitor, or a user acting through a token or a password sign-in."""

    user_id: int | None = None
    username: str | None = None
    is_site_admin: bool = False
    scopes: frozenset[Scope] = frozenset({Scope.READ})
    roles: Mapping[int, Role] = field(default_factory=lambda: MappingProxyType({}))
    token_id: int | None = None
    device_id: int | None = None  # set only for a device proven by its signature
    grants: tuple[GrantTerms, ...] = ()  # live grants to the user or their organisations

    @property
    def is_anonymous(self) -> bool:
        """True for visitors who presented no credentials."""
        return self.user_id is None

    def role_in(self, organisation_id: int) -> Role | None:
        """This actor's role in an organisation, or None if not a member."""
        return self.roles.get(organisation_id)

    def grant_for(self, dataset_id: int, permission: str = "read") -> GrantTerms | None:
        """The live grant this actor reads (or writes) ``dataset_id`` under, if any."""
        if not self.grants:
            return None
        return pick_grant(self.grants, dataset_id, permission)

    @property
    def granted_dataset_ids(self) -> frozenset[int]:
        """Datasets some live grant gives this actor."""
        return frozenset(grant.dataset_id for grant in self.grants if grant.is_live())

    def has_scope(self, scope: Scope) -> bool:
        """True when the actor's credentials cover ``scope``."""
        return scope in self.scopes


ANONYMOUS = Actor()


def device_actor(device_id: int) -> Actor:
    """A device that proved who it is by signing its readings; it may only write readings."""
    return Actor(device_id=device_id, scopes=frozenset({Scope.WRITE}))


def expand_scopes(scopes: frozenset[Scope]) -> frozenset[Scope]:
    """``admin`` implies ``write`` implies ``read``."""
    expanded = set(scopes)
    if Scope.ADMIN in expanded:
        expanded.add(Scope.WRITE)
    if Scope.WRITE in expanded:
        expanded.add(Scope.READ)
    return frozenset(expanded)
