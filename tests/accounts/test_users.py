"""User accounts: create, list, view, and password sign-in, called as services."""

from __future__ import annotations

import pytest

from cityshare.access import ANONYMOUS, Actor
from cityshare.access.actions import Role
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.passwords import verify_password
from cityshare.accounts import organisations, second_factor, users
from cityshare.accounts.second_factor import WRONG_CREDENTIALS
from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from tests.accounts.people import (
    CITY,
    PASSWORD,
    READ_ONLY,
    People,
    account_state,
    give_password,
    last_audit_seq,
    user_row,
)
from tests.world import audit_entries

SECRET_FIELDS = {"password_hash", "totp_secret", "totp_enabled_at", "totp_last_step"}
SHOWN_FIELDS = {
    "id",
    "username",
    "email",
    "display_name",
    "is_site_admin",
    "created_at",
    "second_factor",
}


def refused_actor(people: People, kind: str) -> Actor:
    """An actor who is not a site administrator with the admin scope."""
    if kind == "anonymous":
        return ANONYMOUS
    if kind == "org-admin":
        return people.actor("city-admin")
    return people.token_actor("admin", READ_ONLY)  # the site admin, read-only token


REFUSALS = [("anonymous", Unauthorized), ("org-admin", Forbidden), ("readonly", Forbidden)]


# --- create_user --------------------------------------------------------------------------


def test_create_user_returns_the_account_and_keeps_only_a_hash(people: People) -> None:
    before = last_audit_seq(people.site)
    created = users.create_user(
        people.site,
        people.admin,
        username="tom.nowak",
        password="twelve chars",
        email="tom@example.org",
        display_name="Tom Nowak",
    )
    assert set(created.model_dump()) == SHOWN_FIELDS
    assert created.username == "tom.nowak"
    assert created.email == "tom@example.org"
    assert created.display_name == "Tom Nowak"
    assert created.is_site_admin is False and created.second_factor is False
    row = user_row(people.site, "tom.nowak")
    assert row.id == created.id
    assert row.password_hash.startswith("$argon2id$") and "twelve" not in row.password_hash
    assert verify_password(row.password_hash, "twelve chars")
    [entry] = audit_entries(people.site, before)
    assert (entry["action"], entry["resource"]) == ("user.create", {"user": "tom.nowak"})
    assert entry["actor"]["username"] == "admin"


def test_create_user_without_a_password_stores_none(people: People) -> None:
    created = users.create_user(people.site, people.admin, username="robot", is_site_admin=True)
    assert created.is_site_admin is True
    row = user_row(people.site, "robot")
    assert row.password_hash is None and row.is_site_admin


@pytest.mark.parametrize(("kind", "error"), REFUSALS)
def test_only_site_admins_with_the_admin_scope_create_users(
    people: People, kind: str, error: type[Exception]
) -> None:
    actor = refused_actor(people, kind)
    before = account_state(people.site)
    with pytest.raises(error):
        users.create_user(people.site, actor, username="sneaky", is_site_admin=True)
    assert account_state(people.site) == before


BAD_USERNAMES = [
    "",
    "Tom",  # upper case
    "-tom",
    "tom-",
    "tom nowak",
    "tom/nowak",
    "tom\n",
    "t" * 65,
    "tōm",
    "аdmin",  # Cyrillic а: looks like the existing "admin"
    "１２３",  # full-width digits
]


def test_bad_usernames_are_refused(people: People) -> None:
    before = account_state(people.site)
    for username in BAD_USERNAMES:
        with pytest.raises(BadRequest) as refused:
            users.create_user(people.site, people.admin, username=username)
        assert refused.value.extra == {"parameter": "username"}, username
    assert account_state(people.site) == before


def test_the_longest_username_is_accepted(people: People) -> None:
    name = "a" + "b" * 62 + "c"
    assert users.create_user(people.site, people.admin, username=name).username == name


def test_a_taken_username_is_a_conflict_and_keeps_the_account(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(Conflict, match="city-member"):
        users.create_user(people.site, people.admin, username="city-member", password="x" * 12)
    assert account_state(people.site) == before


def test_short_passwords_are_refused(people: People) -> None:
    before = account_state(people.site)
    for password in ("", "x" * 11, "短い"):
        with pytest.raises(BadRequest) as refused:
            users.create_user(people.site, people.admin, username="tom", password=password)
        assert refused.value.extra == {"parameter": "password"}
    assert account_state(people.site) == before


def test_an_overlong_display_name_is_a_bad_request(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(BadRequest):
        users.create_user(people.site, people.admin, username="tom", display_name="x" * 201)
    assert account_state(people.site) == before


# --- list_users and get_user ---------------------------------------------------------------


def test_site_admins_list_every_user_without_secrets(people: People) -> None:
    listed = users.list_users(people.site, people.token_actor("admin", READ_ONLY))
    assert [user.username for user in listed] == [
        "admin",
        "city-admin",
        "city-editor",
        "city-member",
        "loner",
        "partner-admin",
    ]
    assert all(set(user.model_dump()) == SHOWN_FIELDS for user in listed)


@pytest.mark.parametrize(("kind", "error"), [("anonymous", Unauthorized), ("org-admin", Forbidden)])
def test_others_may_not_list_users(people: People, kind: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        users.list_users(people.site, refused_actor(people, kind))


def test_a_user_sees_their_own_account_and_memberships(people: People) -> None:
    users.create_user(people.site, people.admin, username="busy")
    organisations.set_member(people.site, people.admin, "partner", "busy", "editor")
    organisations.set_member(people.site, people.admin, CITY, "busy", "member")
    seen = users.get_user(people.site, people.actor("busy", READ_ONLY), "busy")
    assert set(seen.model_dump()) == SHOWN_FIELDS | {"memberships"}
    assert seen.model_dump()["memberships"] == [
        {"organisation": "city", "role": "member"},
        {"organisation": "partner", "role": "editor"},
    ]


def test_site_admins_see_any_account(people: People) -> None:
    seen = users.get_user(people.site, people.admin, "city-admin")
    assert seen.model_dump()["memberships"] == [{"organisation": "city", "role": "admin"}]
    assert not SECRET_FIELDS & set(seen.model_dump())


def test_another_users_account_is_invisible(people: People) -> None:
    for actor in (ANONYMOUS, people.actor("city-admin"), people.actor("loner")):
        with pytest.raises(NotFound) as hidden:
            users.get_user(people.site, actor, "city-member")
        with pytest.raises(NotFound) as absent:
            users.get_user(people.site, actor, "city-nobody")
        # The same answer as for nobody at all, but for the name asked.
        assert hidden.value.detail.replace("city-member", "X") == absent.value.detail.replace(
            "city-nobody", "X"
        )


def test_an_unknown_long_name_is_cut_in_the_answer(people: People) -> None:
    with pytest.raises(NotFound) as absent:
        users.get_user(people.site, people.admin, "x" * 5000)
    assert len(absent.value.detail) < 120


def test_load_actor_reads_the_roles_the_admin_flag_and_the_credentials(people: People) -> None:
    organisations.set_member(people.site, people.admin, "partner", "city-editor", "member")
    with people.site.engine.connect() as connection:
        editor_id = users.user_id_for(connection, "city-editor")
        assert editor_id is not None
        assert users.user_id_for(connection, "city-Editor") is None
        actor = users.load_actor(connection, editor_id, scopes=READ_ONLY, token_id=42)
        root = users.load_actor(connection, users.user_id_for(connection, "admin") or 0)
    city = organisations.get_organisation(people.site, ANONYMOUS, CITY).id
    partner = organisations.get_organisation(people.site, ANONYMOUS, "partner").id
    assert actor.roles == {city: Role.EDITOR, partner: Role.MEMBER}
    assert (actor.user_id, actor.username, actor.scopes, actor.token_id) == (
        editor_id,
        "city-editor",
        READ_ONLY,
        42,
    )
    assert not actor.is_site_admin and actor.grants == ()
    assert root.is_site_admin and root.scopes == ALL_SCOPES and root.roles == {}


# --- sign_in ---------------------------------------------------------------------------------


def test_sign_in_gives_the_users_actor_and_is_audited(people: People) -> None:
    before = last_audit_seq(people.site)
    actor = users.sign_in(people.site, "city-editor", PASSWORD)
    assert actor.username == "city-editor" and actor.user_id is not None
    assert actor.scopes == ALL_SCOPES and actor.token_id is None
    assert list(actor.roles.values()) == [Role.EDITOR]
    [entry] = audit_entries(people.site, before)
    assert (entry["action"], entry["outcome"]) == ("auth.sign-in", "allow")


WRONG_CREDENTIALS_TRIED = [
    ("city-member", "wrong password!"),
    ("x" * 5000, PASSWORD),
    ("city-member", ""),
    ("nobody-at-all", PASSWORD),
    ("City-Member", PASSWORD),  # usernames are exact
    ("сity-member", PASSWORD),  # Cyrillic с
    ("city-member", PASSWORD.upper()),
    ("city-member", PASSWORD + " "),
]


def test_wrong_credentials_are_one_audited_answer(people: People) -> None:
    for username, password in WRONG_CREDENTIALS_TRIED:
        before = last_audit_seq(people.site)
        with pytest.raises(Unauthorized) as refused:
            users.sign_in(people.site, username, password)
        assert refused.value.detail == WRONG_CREDENTIALS and refused.value.audited
        [entry] = audit_entries(people.site, before)
        assert (entry["action"], entry["outcome"]) == ("auth.sign-in", "deny")
        assert entry["detail"] == {"reason": "wrong-credentials"}
        assert entry["resource"] == {"username": username[:100]}


def test_a_nul_in_a_username_is_a_bad_request(
    people: People,
) -> None:
    with pytest.raises(BadRequest, match="NUL"):
        users.sign_in(people.site, "city-member\x00", PASSWORD)
    with pytest.raises(BadRequest, match="NUL"):
        second_factor.begin_setup(people.site, "city-member\x00", PASSWORD)
    with pytest.raises(BadRequest, match="NUL"):
        users.get_user(people.site, people.admin, "city-member\x00")


def test_a_user_without_a_password_cannot_sign_in_with_one(people: People) -> None:
    users.create_user(people.site, people.admin, username="robot")
    for password in ("", PASSWORD, "x" * 12):
        with pytest.raises(Unauthorized, match="Wrong username or password"):
            users.sign_in(people.site, "robot", password)


@pytest.mark.parametrize("username", ["city-admin", "partner-admin"])
def test_organisation_admins_need_a_second_factor(people: People, username: str) -> None:
    before = last_audit_seq(people.site)
    with pytest.raises(Forbidden) as refused:
        users.sign_in(people.site, username, PASSWORD)
    assert refused.value.extra["second_factor"] == "setup-required"
    assert refused.value.extra["setup"] == "/api/v1/auth/second-factor/setup"
    [entry] = audit_entries(people.site, before)
    assert entry["detail"] == {"reason": "second-factor-required"}


def test_site_admins_need_a_second_factor(people: People) -> None:
    users.create_user(people.site, people.admin, username="root", is_site_admin=True)
    give_password(people.site, "root")
    with pytest.raises(Forbidden, match="second factor"):
        users.sign_in(people.site, "root", PASSWORD)
