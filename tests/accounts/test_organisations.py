"""Organisations and their members, called as services."""

from __future__ import annotations

import pytest

from cityshare.access import ANONYMOUS, Actor
from cityshare.access.actions import Role
from cityshare.accounts import organisations, tokens
from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from tests.accounts.people import (
    CITY,
    PARTNER,
    READ_ONLY,
    READ_WRITE,
    People,
    account_state,
    last_audit_seq,
)
from tests.world import audit_entries

ORGANISATION_FIELDS = {"id", "name", "title", "description", "created_at"}


def actor_kind(people: People, kind: str) -> Actor:
    """Actors by kind: anonymous, a user by name, or ``name:read``/``name:write`` behind a
    token with those scopes."""
    if kind == "anonymous":
        return ANONYMOUS
    username, _, scopes = kind.partition(":")
    if scopes:
        return people.token_actor(username, READ_ONLY if scopes == "read" else READ_WRITE)
    return people.actor(username)


def members(people: People, name: str = CITY) -> dict[str, str]:
    listed = organisations.list_members(people.site, people.admin, name)
    return {member.username: member.role for member in listed}


# --- create, list and view -----------------------------------------------------------------


def test_create_organisation_returns_and_stores_it(people: People) -> None:
    before = last_audit_seq(people.site)
    created = organisations.create_organisation(
        people.site, people.admin, name="water", title=" Northbridge Water ", description="Pipes"
    )
    assert set(created.model_dump()) == ORGANISATION_FIELDS
    assert (created.name, created.title, created.description) == (
        "water",
        "Northbridge Water",
        "Pipes",
    )
    assert organisations.get_organisation(people.site, ANONYMOUS, "water") == created
    [entry] = audit_entries(people.site, before)
    assert entry["action"] == "organisation.create"
    assert entry["resource"] == {"organisation": "water"}


def test_a_blank_title_becomes_the_name(people: People) -> None:
    created = organisations.create_organisation(people.site, people.admin, name="x1", title="  ")
    assert created.title == "x1"


@pytest.mark.parametrize(
    ("kind", "error"),
    [("anonymous", Unauthorized), ("city-admin", Forbidden), ("admin:write", Forbidden)],
)
def test_only_site_admins_with_the_admin_scope_create_organisations(
    people: People, kind: str, error: type[Exception]
) -> None:
    actor = actor_kind(people, kind)
    before = account_state(people.site)
    with pytest.raises(error):
        organisations.create_organisation(people.site, actor, name="rogue", title="Rogue")
    assert account_state(people.site) == before


def test_bad_organisation_names_are_refused(people: People) -> None:
    before = account_state(people.site)
    for name in ("", "Water", "-water", "water-", "wa ter", "wa_ter", "w" * 101, "wäter", "сity"):
        with pytest.raises(BadRequest) as refused:
            organisations.create_organisation(people.site, people.admin, name=name, title="T")
        assert refused.value.extra == {"parameter": "organisation"}, name
    assert account_state(people.site) == before
    longest = "w" * 100
    assert organisations.create_organisation(people.site, people.admin, name=longest, title="T")


def test_a_taken_name_is_a_conflict_and_keeps_the_organisation(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(Conflict, match="partner"):
        organisations.create_organisation(people.site, people.admin, name=PARTNER, title="Other")
    assert account_state(people.site) == before


def test_an_overlong_title_is_a_bad_request(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(BadRequest):
        organisations.create_organisation(people.site, people.admin, name="long", title="t" * 201)
    with pytest.raises(BadRequest):
        organisations.update_organisation(
            people.site, people.actor("city-admin"), CITY, {"title": "t" * 201}
        )
    assert account_state(people.site) == before


def test_anyone_lists_and_views_organisations(people: People) -> None:
    listed = organisations.list_organisations(people.site, ANONYMOUS)
    assert [item.name for item in listed] == [CITY, PARTNER]
    assert organisations.get_organisation(people.site, ANONYMOUS, PARTNER) == listed[1]
    with pytest.raises(NotFound, match="nowhere"):
        organisations.get_organisation(people.site, ANONYMOUS, "nowhere")


def test_a_nul_in_a_looked_up_name_is_a_bad_request(
    people: People,
) -> None:
    admin = people.actor("city-admin")
    with pytest.raises(BadRequest, match="NUL"):
        organisations.get_organisation(people.site, ANONYMOUS, "city\x00")
    with pytest.raises(BadRequest, match="NUL"):
        organisations.set_member(people.site, admin, CITY, "loner\x00", "member")


def test_a_nul_in_a_title_is_a_bad_request(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(BadRequest):
        organisations.update_organisation(
            people.site, people.actor("city-admin"), CITY, {"title": "City\x00Hall"}
        )
    assert account_state(people.site) == before


def test_organisation_id_names_the_row_or_is_not_found(people: People) -> None:
    listed = {
        item.name: item.id for item in organisations.list_organisations(people.site, ANONYMOUS)
    }
    with people.site.engine.connect() as connection:
        assert organisations.organisation_id(connection, PARTNER) == listed[PARTNER]
        with pytest.raises(NotFound, match="Partner"):
            organisations.organisation_id(connection, "Partner")


def test_get_organisations_reads_the_named_ones_that_exist(people: People) -> None:
    found = organisations.get_organisations(
        people.site, ANONYMOUS, [PARTNER, "nowhere", PARTNER, "сity"]
    )
    assert list(found) == [PARTNER]
    assert found[PARTNER].title == "Partner"


# --- update --------------------------------------------------------------------------------


def test_an_organisation_admin_updates_title_and_description(people: People) -> None:
    before = last_audit_seq(people.site)
    changed = organisations.update_organisation(
        people.site, people.actor("city-admin"), CITY, {"title": "City Hall", "description": "Us"}
    )
    assert (changed.title, changed.description) == ("City Hall", "Us")
    assert organisations.get_organisation(people.site, ANONYMOUS, CITY) == changed
    [entry] = audit_entries(people.site, before)
    assert entry["action"] == "organisation.update"
    assert entry["detail"] == {"title": "City Hall", "description": "Us"}


def test_a_description_of_none_is_emptied(people: People) -> None:
    organisations.update_organisation(people.site, people.admin, CITY, {"description": "Old"})
    changed = organisations.update_organisation(
        people.site, people.admin, CITY, {"description": None}
    )
    assert changed.description == ""


def test_no_changes_change_nothing(people: People) -> None:
    before = last_audit_seq(people.site)
    same = organisations.update_organisation(people.site, people.admin, CITY, {})
    assert same == organisations.get_organisation(people.site, ANONYMOUS, CITY)
    assert audit_entries(people.site, before) == []


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("anonymous", Unauthorized),
        ("city-member", Forbidden),
        ("city-editor", Forbidden),
        ("partner-admin", Forbidden),
        ("city-admin:read", Forbidden),
    ],
)
def test_only_the_organisations_admins_update_it(
    people: People, kind: str, error: type[Exception]
) -> None:
    actor = actor_kind(people, kind)
    before = account_state(people.site)
    with pytest.raises(error):
        organisations.update_organisation(people.site, actor, CITY, {"title": "Hijacked"})
    assert account_state(people.site) == before


def test_a_refusal_names_the_organisation_and_the_callers_role(people: People) -> None:
    editor = people.actor("city-editor")
    with pytest.raises(Forbidden) as refused:
        organisations.set_member(people.site, editor, CITY, "city-member", "admin")
    assert refused.value.detail == (
        "Only admins of city can add, change or remove this organisation's members; "
        "you are an editor."
    )


def test_an_admin_with_a_write_token_updates(people: People) -> None:
    actor = actor_kind(people, "city-admin:write")
    assert organisations.update_organisation(people.site, actor, CITY, {"title": "C"}).title


def test_bad_updates_are_refused(people: People) -> None:
    actor = people.actor("city-admin")
    before = account_state(people.site)
    for changes in ({"name": "town"}, {"id": 9}, {"title": " \t"}, {"title": None}, {"title": ""}):
        with pytest.raises(BadRequest):
            organisations.update_organisation(people.site, actor, CITY, changes)
    with pytest.raises(NotFound):
        organisations.update_organisation(people.site, actor, "nowhere", {"title": "T"})
    assert account_state(people.site) == before


def test_changes_of_the_wrong_type_are_bad_requests(people: People) -> None:
    before = account_state(people.site)
    for changes in ({"title": 5}, {"description": ["x"]}):
        with pytest.raises(BadRequest):
            organisations.update_organisation(people.site, people.admin, CITY, changes)
    assert account_state(people.site) == before


# --- members -------------------------------------------------------------------------------


def test_members_see_the_members_with_their_roles(people: People) -> None:
    for viewer in ("city-member", "city-member:read"):
        listed = organisations.list_members(people.site, actor_kind(people, viewer), CITY)
        assert [member.model_dump() for member in listed] == [
            {"username": "city-admin", "display_name": "City-Admin", "role": "admin"},
            {"username": "city-editor", "display_name": "City-Editor", "role": "editor"},
            {"username": "city-member", "display_name": "City-Member", "role": "member"},
        ]


def test_outsiders_may_not_see_the_members(people: People) -> None:
    with pytest.raises(Unauthorized):
        organisations.list_members(people.site, ANONYMOUS, CITY)
    for outsider in ("partner-admin", "loner"):
        with pytest.raises(Forbidden):
            organisations.list_members(people.site, people.actor(outsider), CITY)
    with pytest.raises(NotFound):
        organisations.list_members(people.site, people.admin, "nowhere")


def test_an_admin_adds_a_member_and_changes_their_role(people: People) -> None:
    admin = people.actor("city-admin")
    before = last_audit_seq(people.site)
    added = organisations.set_member(people.site, admin, CITY, "loner", "member")
    assert added.model_dump() == {"username": "loner", "role": "member"}
    city_id = organisations.get_organisation(people.site, ANONYMOUS, CITY).id
    assert people.actor("loner").roles == {city_id: Role.MEMBER}
    organisations.set_member(people.site, admin, CITY, "loner", "editor")
    assert members(people)["loner"] == "editor"
    assert people.actor("loner").roles == {city_id: Role.EDITOR}
    entries = audit_entries(people.site, before)
    assert [entry["detail"] for entry in entries] == [{"role": "member"}, {"role": "editor"}]
    assert {entry["resource"]["user"] for entry in entries} == {"loner"}


def test_unknown_roles_users_and_organisations_are_refused(people: People) -> None:
    admin = people.actor("city-admin")
    before = account_state(people.site)
    for role in ("owner", "Admin", "", "аdmin", "admin "):
        with pytest.raises(BadRequest) as refused:
            organisations.set_member(people.site, admin, CITY, "loner", role)
        assert refused.value.extra == {"parameter": "role"}, role
    with pytest.raises(NotFound, match="nobody"):
        organisations.set_member(people.site, admin, CITY, "nobody", "member")
    with pytest.raises(NotFound, match="nowhere"):
        organisations.set_member(people.site, admin, "nowhere", "loner", "member")
    assert account_state(people.site) == before


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("anonymous", Unauthorized),
        ("city-editor", Forbidden),
        ("partner-admin", Forbidden),
        ("city-admin:read", Forbidden),
        ("city-admin:write", Forbidden),
    ],
)
def test_only_admins_with_the_admin_scope_manage_members(
    people: People, kind: str, error: type[Exception]
) -> None:
    actor = actor_kind(people, kind)
    before = account_state(people.site)
    with pytest.raises(error):
        organisations.set_member(people.site, actor, CITY, "loner", "admin")
    with pytest.raises(error):
        organisations.remove_member(people.site, actor, CITY, "city-member")
    assert account_state(people.site) == before


def test_the_last_admin_is_kept(people: People) -> None:
    admin = people.actor("city-admin")
    before = account_state(people.site)
    with pytest.raises(Conflict, match="last admin"):
        organisations.set_member(people.site, admin, CITY, "city-admin", "editor")
    with pytest.raises(Conflict, match="last admin"):
        organisations.remove_member(people.site, admin, CITY, "city-admin")
    assert account_state(people.site) == before
    organisations.set_member(people.site, admin, CITY, "city-editor", "admin")
    organisations.set_member(people.site, admin, CITY, "city-admin", "member")
    assert members(people)["city-admin"] == "member"


def test_a_removed_member_loses_the_role_but_keeps_account_and_tokens(people: People) -> None:
    token = tokens.create_token(people.site, people.actor("city-editor")).token
    before = last_audit_seq(people.site)
    organisations.remove_member(people.site, people.actor("city-admin"), CITY, "city-editor")
    assert "city-editor" not in members(people)
    actor = tokens.authenticate_token(people.site, token)
    assert actor.username == "city-editor" and actor.roles == {}
    [entry] = audit_entries(people.site, before)
    assert entry["detail"] == {"role": None}
    with pytest.raises(NotFound, match="not a member"):
        organisations.remove_member(people.site, people.admin, CITY, "city-editor")
