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
    StreamResource,
    UserResource,
    allowed,
    device_actor,
    ensure_allowed,
    ensure_may_delegate,
    reads_whole_dataset,
    visible_datasets,
)
from cityshare.access.actions import Role, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.policy import Decision, decide
from cityshare.errors import Forbidden, NotFound, Unauthorized
from cityshare.storage.schema import datasets

OWNER_ORG = 1
ROOT = Actor(user_id=1, username="root", is_site_admin=True, scopes=ALL_SCOPES)


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


# --- the order of the decision ------------------------------------------------------------


def test_a_hidden_dataset_is_not_found_before_any_scope_or_rule() -> None:
    outsider = member(Role.MEMBER, scopes=frozenset({Scope.READ}), org=2)
    assert decide(outsider, "dataset.delete", dataset("private")) is Decision.HIDDEN
    assert decide(ANONYMOUS, "dataset.update", dataset("shared")) is Decision.HIDDEN
    with pytest.raises(NotFound) as hidden:
        ensure_allowed(outsider, "dataset.read", dataset("private"), missing="No dataset 'x'.")
    assert hidden.value.detail == "No dataset 'x'."


def test_an_unknown_action_is_denied_not_hidden_and_says_nothing_of_roles() -> None:
    with pytest.raises(Forbidden) as refused:
        ensure_allowed(member(Role.ADMIN), "dataset.obliterate", dataset("private"))
    assert "role" not in refused.value.detail
    with pytest.raises(Unauthorized):
        ensure_allowed(ANONYMOUS, "dataset.obliterate", dataset("open"))


def test_a_refusal_names_the_role_needed() -> None:
    with pytest.raises(Forbidden, match=r"^Only admins of .* can delete this dataset; you are an"):
        ensure_allowed(member(Role.EDITOR), "dataset.delete", dataset("private"))
    with pytest.raises(Forbidden, match=r"^Only editors and admins of .*; you are a member"):
        ensure_allowed(member(Role.MEMBER), "dataset.upload", dataset("open"))


# --- rules other than roles ---------------------------------------------------------------


def test_a_user_is_visible_to_themself_and_site_admins_only() -> None:
    me = Actor(user_id=7, username="me", scopes=frozenset({Scope.READ}))
    root = Actor(user_id=1, username="root", is_site_admin=True, scopes=frozenset({Scope.READ}))
    assert allowed(me, "user.view", UserResource(7))
    assert not allowed(me, "user.view", UserResource(8))
    assert allowed(root, "user.view", UserResource(8))
    assert not allowed(ANONYMOUS, "user.view", UserResource(7))
    assert not allowed(me, "token.manage", UserResource(7))  # needs the admin scope


def test_site_admin_actions_admit_no_organisation_admin() -> None:
    for action in ("user.list", "user.create", "organisation.create", "audit.export"):
        assert not allowed(member(Role.ADMIN), action, SiteResource()), action
        assert allowed(ROOT, action, SiteResource()), action


def test_anyone_lists_organisations_and_signed_in_users_ask_for_access() -> None:
    assert allowed(ANONYMOUS, "organisation.list", SiteResource())
    assert allowed(ANONYMOUS, "organisation.view", OrganisationResource(1))
    stranger = Actor(user_id=3, username="x", scopes=frozenset({Scope.READ, Scope.WRITE}))
    assert allowed(stranger, "access.request", dataset("shared"))
    with pytest.raises(Unauthorized):
        ensure_allowed(ANONYMOUS, "access.request", dataset("open"))
    read_only = Actor(user_id=3, username="x", scopes=frozenset({Scope.READ}))
    with pytest.raises(Forbidden, match="scope"):
        ensure_allowed(read_only, "access.request", dataset("open"))


def test_organisation_roles_apply_to_their_own_organisation_only() -> None:
    assert allowed(member(Role.ADMIN), "organisation.members.manage", OrganisationResource(1))
    assert not allowed(member(Role.ADMIN), "organisation.members.manage", OrganisationResource(2))
    assert allowed(member(Role.MEMBER), "organisation.members.view", OrganisationResource(1))
    assert not allowed(member(Role.MEMBER), "organisation.update", OrganisationResource(1))
    assert not allowed(member(Role.ADMIN), "device.view", OrganisationResource(2))


def test_only_the_feeding_device_writes_a_stream() -> None:
    stream = StreamResource(id=4, device_id=9)
    assert allowed(device_actor(9), "stream.ingest", stream)
    assert not allowed(device_actor(8), "stream.ingest", stream)
    write_root = Actor(user_id=1, username="root", is_site_admin=True, scopes=ALL_SCOPES)
    assert not allowed(write_root, "stream.ingest", stream)
    assert not allowed(member(Role.ADMIN), "stream.ingest", stream)
    # A device is nobody else: it reads nothing that is not open.
    assert not allowed(device_actor(9), "dataset.read", dataset("shared"))
    assert not allowed(device_actor(9), "dataset.view", dataset("open"))  # no read scope


def test_a_new_token_may_not_exceed_its_creators_scopes() -> None:
    writer = member(Role.ADMIN, scopes=frozenset({Scope.READ, Scope.WRITE}))
    ensure_may_delegate(writer, frozenset({Scope.WRITE}))
    ensure_may_delegate(writer, frozenset())
    with pytest.raises(Forbidden):
        ensure_may_delegate(writer, frozenset({Scope.ADMIN}))
    with pytest.raises(Forbidden):
        ensure_may_delegate(ANONYMOUS, frozenset({Scope.WRITE}))


def test_members_read_whole_datasets_and_others_within_bounds() -> None:
    assert reads_whole_dataset(member(Role.MEMBER), dataset("private"))
    assert reads_whole_dataset(ROOT, dataset("private"))
    assert not reads_whole_dataset(member(Role.ADMIN, org=2), dataset("open"))
    assert not reads_whole_dataset(ANONYMOUS, dataset("open"))
