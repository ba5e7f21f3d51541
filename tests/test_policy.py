"""The access policy, tested directly: default deny, visibility, roles and scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from cityshare.access import (
    ACTIONS,
    ANONYMOUS,
    Actor,
    DatasetResource,
    OrganisationResource,
    SiteResource,
    allowed,
    ensure_allowed,
    visible_datasets,
)
from cityshare.access.actions import Role, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.errors import Forbidden, NotFound, Unauthorized
from cityshare.storage.schema import datasets

OWNER_ORG = 1


def member(role: Role, scopes: frozenset[Scope] = ALL_SCOPES, org: int = OWNER_ORG) -> Actor:
    return Actor(user_id=10, username="u", scopes=scopes, roles={org: role})


def dataset(visibility: str) -> DatasetResource:
    return DatasetResource(id=5, organisation_id=OWNER_ORG, visibility=visibility)


def test_unknown_action_is_denied_even_for_site_admins() -> None:
    admin = Actor(user_id=1, username="root", is_site_admin=True, scopes=ALL_SCOPES)
    assert not allowed(admin, "dataset.obliterate", dataset("open"))


def test_action_on_wrong_resource_kind_is_denied() -> None:
    assert not allowed(member(Role.ADMIN), "dataset.delete", OrganisationResource(OWNER_ORG))


@pytest.mark.parametrize("visibility", ["open", "shared", "private"])
def test_anonymous_sees_only_open(visibility: str) -> None:
    assert allowed(ANONYMOUS, "dataset.view", dataset(visibility)) == (visibility == "open")
    assert allowed(ANONYMOUS, "dataset.read", dataset(visibility)) == (visibility == "open")


def test_private_is_not_found_not_forbidden() -> None:
    outsider = member(Role.ADMIN, org=2)
    with pytest.raises(NotFound):
        ensure_allowed(outsider, "dataset.read", dataset("private"))
    with pytest.raises(NotFound):
        ensure_allowed(outsider, "dataset.delete", dataset("private"))


def test_shared_metadata_visible_but_data_forbidden_to_outsiders() -> None:
    outsider = member(Role.ADMIN, org=2)
    ensure_allowed(outsider, "dataset.view", dataset("shared"))
    with pytest.raises(Forbidden):
        ensure_allowed(outsider, "dataset.read", dataset("shared"))


@pytest.mark.parametrize(
    ("role", "action", "expected"),
    [
        (Role.MEMBER, "dataset.read", True),
        (Role.MEMBER, "dataset.upload", False),
        (Role.EDITOR, "dataset.upload", True),
        (Role.EDITOR, "dataset.update", True),
        (Role.EDITOR, "dataset.visibility", False),
        (Role.EDITOR, "dataset.delete", False),
        (Role.ADMIN, "dataset.visibility", True),
        (Role.ADMIN, "dataset.delete", True),
    ],
)
def test_roles(role: Role, action: str, expected: bool) -> None:
    assert allowed(member(role), action, dataset("private")) is expected


def test_read_scoped_token_cannot_write_whatever_the_role() -> None:
    reader = member(Role.ADMIN, scopes=frozenset({Scope.READ}))
    assert allowed(reader, "dataset.read", dataset("private"))
    for action in ("dataset.upload", "dataset.update", "dataset.delete", "dataset.visibility"):
        with pytest.raises(Forbidden, match="scope"):
            ensure_allowed(reader, action, dataset("private"))


def test_anonymous_write_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        ensure_allowed(ANONYMOUS, "dataset.update", dataset("open"))


def test_site_admin_needs_scope_too() -> None:
    admin = Actor(user_id=1, username="root", is_site_admin=True, scopes=frozenset({Scope.READ}))
    assert allowed(admin, "dataset.read", dataset("private"))
    assert not allowed(admin, "organisation.create", SiteResource())


def test_every_action_is_declared_with_a_description() -> None:
    assert all(action.description for action in ACTIONS.values())
    assert all(name == action.name for name, action in ACTIONS.items())


def _compiled(actor: Actor) -> str:
    query = select(datasets.c.id).where(visible_datasets(actor, datasets))
    return str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_visible_datasets_sql_matches_the_rule() -> None:
    assert "visibility = 'open'" in _compiled(ANONYMOUS)
    assert "'shared'" in _compiled(member(Role.MEMBER)) and "organisation_id IN (1)" in _compiled(
        member(Role.MEMBER)
    )
    signed_in_nowhere = Actor(user_id=3, username="x", scopes=ALL_SCOPES)
    assert "'private'" not in _compiled(signed_in_nowhere)
