"""The action registry and the actor: declared consistently, read the way the policy reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityshare.access import ACTIONS, ANONYMOUS, Actor, Role, Scope, device_actor
from cityshare.access.actions import Rule
from cityshare.access.actor import ALL_SCOPES, expand_scopes
from cityshare.access.grants import PERMISSIONS, GrantTerms

RESOURCE_KINDS = {"site", "organisation", "user", "dataset", "stream"}


def test_every_action_names_a_known_resource_and_a_role_only_with_the_role_rule() -> None:
    for name, action in ACTIONS.items():
        assert action.resource in RESOURCE_KINDS, name
        assert (action.role is not None) == (action.rule is Rule.ROLE), name
        assert action.grant_permission in (None, *PERMISSIONS), name
        if action.grant_permission is not None:
            assert action.resource == "dataset", name


def test_changes_need_more_than_the_read_scope() -> None:
    """A read-only token changes nothing: every action that creates, changes or deletes
    needs ``write`` or ``admin``."""
    changing = ("create", "update", "upload", "delete", "manage", "visibility", "reset", "ingest")
    for name, action in ACTIONS.items():
        if any(word in name for word in changing):
            assert action.scope is not Scope.READ, name


def test_site_admin_only_actions_apply_to_the_site() -> None:
    for name, action in ACTIONS.items():
        if action.rule is Rule.SITE_ADMIN:
            assert action.resource == "site", name


def test_roles_are_ordered() -> None:
    assert [role.rank for role in (Role.MEMBER, Role.EDITOR, Role.ADMIN)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("given", "expanded"),
    [
        ({Scope.READ}, {Scope.READ}),
        ({Scope.WRITE}, {Scope.READ, Scope.WRITE}),
        ({Scope.ADMIN}, set(Scope)),
        (set(), set()),
    ],
)
def test_admin_implies_write_implies_read(given: set[Scope], expanded: set[Scope]) -> None:
    assert expand_scopes(frozenset(given)) == expanded


def test_the_anonymous_actor_and_a_device() -> None:
    assert ANONYMOUS.is_anonymous and ANONYMOUS.scopes == {Scope.READ}
    assert ANONYMOUS.role_in(1) is None and ANONYMOUS.grant_for(1) is None
    device = device_actor(7)
    assert device.device_id == 7 and device.is_anonymous and device.scopes == {Scope.WRITE}
    assert not device.has_scope(Scope.READ)


def test_an_actor_knows_its_roles_and_live_grants() -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    live = GrantTerms(
        id=1, dataset_id=3, permissions=frozenset({"read"}), expires_at=now + timedelta(hours=1)
    )
    ended = GrantTerms(id=2, dataset_id=4, permissions=frozenset({"read"}), expires_at=now)
    actor = Actor(
        user_id=5, username="u", scopes=ALL_SCOPES, roles={2: Role.EDITOR}, grants=(live, ended)
    )
    assert actor.role_in(2) is Role.EDITOR and actor.role_in(3) is None
    assert actor.granted_dataset_ids == {3}
    assert actor.grant_for(3) == live
    assert actor.grant_for(3, "write") is None and actor.grant_for(4) is None
