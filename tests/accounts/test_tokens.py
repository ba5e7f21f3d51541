"""API tokens: scopes, create, list, revoke and authenticate, called as services."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from cityshare.access import ANONYMOUS, Scope
from cityshare.access.actions import Role
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts import tokens
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Forbidden, NotFound, Unauthorized
from cityshare.site import Site
from cityshare.storage.schema import tokens as tokens_table
from tests.accounts.people import (
    READ_ONLY,
    READ_WRITE,
    People,
    account_state,
    last_audit_seq,
)
from tests.world import audit_entries

LISTED_FIELDS = {
    "id",
    "name",
    "prefix",
    "scopes",
    "created_at",
    "expires_at",
    "revoked_at",
    "last_used_at",
}


def token_row(site: Site, token_id: int) -> tuple[object, ...]:
    with site.engine.connect() as connection:
        return tuple(
            connection.execute(select(tokens_table).where(tokens_table.c.id == token_id)).one()
        )


def set_token(site: Site, token_id: int, **values: datetime | None) -> None:
    """Change a stored token's times (what the clock would have done)."""
    with site.writer.begin() as connection:
        connection.execute(update(tokens_table).where(tokens_table.c.id == token_id).values(values))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z"))


# --- parse_scopes --------------------------------------------------------------------------


def test_scopes_are_read_from_lists_and_text_and_widened() -> None:
    assert tokens.parse_scopes(["read"]) == {Scope.READ}
    assert tokens.parse_scopes("write") == {Scope.READ, Scope.WRITE}
    assert tokens.parse_scopes(" admin , read ") == ALL_SCOPES
    assert tokens.parse_scopes(["write", "", "write"]) == READ_WRITE


def test_unknown_or_no_scopes_are_bad_requests() -> None:
    for raw in ("", " , ", [], ["READ"], "reаd", "read,superuser", ["admin", "root"]):
        with pytest.raises(BadRequest) as refused:
            tokens.parse_scopes(raw)
        assert refused.value.extra == {"parameter": "scopes"}, raw


# --- create_token --------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_stored_as_its_hash(people: People) -> None:
    before = last_audit_seq(people.site)
    actor = people.actor("city-editor")
    created = tokens.create_token(people.site, actor, name="laptop", scopes=READ_WRITE)
    secret = created.token
    assert set(created.model_dump()) == LISTED_FIELDS - {"revoked_at", "last_used_at"} | {"token"}
    assert created.name == "laptop" and created.scopes == ["read", "write"]
    assert created.prefix == secret[:11] and secret.startswith("cs_") and len(secret) == 46
    assert created.expires_at is None
    row = token_row(people.site, created.id)
    assert secret not in row
    assert hashlib.sha256(secret.encode()).hexdigest() in row
    [entry] = audit_entries(people.site, before)
    assert entry["action"] == "token.create"
    assert entry["resource"] == {"token_id": created.id, "user_id": actor.user_id}


def test_a_token_expires_after_the_days_asked(people: People) -> None:
    created = tokens.create_token(people.site, people.admin, expires_in_days=30)
    lifetime = parse_time(created.expires_at) - parse_time(created.created_at)
    assert lifetime == timedelta(days=30)
    for days in (1, 3650):
        assert tokens.create_token(people.site, people.admin, expires_in_days=days).expires_at


def test_lifetimes_out_of_range_are_refused(people: People) -> None:
    before = account_state(people.site)
    for days in (0, -1, 3651, 10**9):
        with pytest.raises(BadRequest) as refused:
            tokens.create_token(people.site, people.admin, expires_in_days=days)
        assert refused.value.extra == {"parameter": "expires"}
    assert account_state(people.site) == before


def test_a_token_without_scopes_is_refused(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(BadRequest):
        tokens.create_token(people.site, people.admin, scopes=frozenset())
    assert account_state(people.site) == before


def test_a_long_name_is_cut_to_200_characters(people: People) -> None:
    created = tokens.create_token(people.site, people.admin, name="ň" * 500)
    assert created.name == "ň" * 200
    listed = tokens.list_tokens(people.site, people.admin)
    assert listed[-1].name == "ň" * 200


def test_site_admins_create_tokens_for_others(people: People) -> None:
    created = tokens.create_token(
        people.site, people.admin, username="city-member", scopes=READ_ONLY
    )
    actor = tokens.authenticate_token(people.site, created.token)
    assert actor.username == "city-member" and actor.scopes == READ_ONLY


def test_another_users_tokens_are_out_of_sight(people: People) -> None:
    """For anyone but a site administrator another user does not exist here."""
    before = account_state(people.site)
    for username in ("city-member", "no-such-user"):
        with pytest.raises(NotFound, match=username):
            tokens.create_token(people.site, people.actor("city-admin"), username=username)
        with pytest.raises(NotFound, match=username):
            tokens.list_tokens(people.site, people.actor("city-admin"), username)
    assert account_state(people.site) == before


def test_a_nul_in_a_username_is_a_bad_request(
    people: People,
) -> None:
    before = account_state(people.site)
    with pytest.raises(BadRequest, match="NUL"):
        tokens.list_tokens(people.site, people.admin, "loner\x00")
    with pytest.raises(BadRequest, match="NUL"):
        tokens.create_token(people.site, people.admin, username="loner\x00")
    assert account_state(people.site) == before


def test_anonymous_visitors_have_no_tokens(people: People) -> None:
    before = account_state(people.site)
    with pytest.raises(Unauthorized):
        tokens.create_token(people.site, ANONYMOUS)
    with pytest.raises(Unauthorized):
        tokens.list_tokens(people.site, ANONYMOUS)
    assert account_state(people.site) == before


@pytest.mark.parametrize("scopes", [READ_ONLY, READ_WRITE])
def test_tokens_are_managed_with_the_admin_scope_only(
    people: People, scopes: frozenset[Scope]
) -> None:
    actor = people.token_actor("city-editor", scopes)
    before = account_state(people.site)
    with pytest.raises(Forbidden, match="scope"):
        tokens.create_token(people.site, actor, scopes=READ_ONLY)
    with pytest.raises(Forbidden, match="scope"):
        tokens.list_tokens(people.site, actor)
    assert account_state(people.site) == before


def test_a_token_cannot_be_wider_than_its_creators_credentials(people: People) -> None:
    actor = people.token_actor("city-editor", READ_WRITE)
    before = account_state(people.site)
    with pytest.raises(Forbidden, match="scopes its creator"):
        tokens.create_token(people.site, actor, scopes=ALL_SCOPES)
    assert account_state(people.site) == before


# --- list_tokens ---------------------------------------------------------------------------


def test_tokens_are_listed_oldest_first_without_secrets(people: People) -> None:
    actor = people.actor("loner")
    made = [
        tokens.create_token(people.site, actor, name=name, scopes=READ_ONLY)
        for name in ("one", "two")
    ]
    listed = tokens.list_tokens(people.site, actor)
    assert [item.id for item in listed] == [item.id for item in made]
    assert all(set(item.model_dump()) == LISTED_FIELDS for item in listed)
    assert [item.scopes for item in listed] == [["read"], ["read"]]
    assert tokens.list_tokens(people.site, people.admin, "loner") == listed
    assert tokens.list_tokens(people.site, people.actor("city-member")) == []


# --- revoke_token --------------------------------------------------------------------------


def test_a_revoked_token_is_refused_and_revoking_twice_changes_nothing(people: People) -> None:
    actor = people.actor("city-member")
    created = tokens.create_token(people.site, actor)
    before = last_audit_seq(people.site)
    tokens.revoke_token(people.site, actor, created.id)
    [listed] = tokens.list_tokens(people.site, actor)
    assert listed.revoked_at is not None
    with pytest.raises(Unauthorized, match="revoked"):
        tokens.authenticate_token(people.site, created.token)
    tokens.revoke_token(people.site, actor, created.id)
    assert tokens.list_tokens(people.site, actor) == [listed]
    actions = [entry["action"] for entry in audit_entries(people.site, before)]
    assert actions == ["token.revoke", "token.revoke"]


def test_site_admins_revoke_anyones_token(people: People) -> None:
    created = tokens.create_token(people.site, people.actor("loner"))
    tokens.revoke_token(people.site, people.admin, created.id)
    with pytest.raises(Unauthorized):
        tokens.authenticate_token(people.site, created.token)


def test_another_users_token_cannot_be_revoked_or_seen(people: People) -> None:
    created = tokens.create_token(people.site, people.actor("city-member"))
    before = account_state(people.site)
    for actor in (ANONYMOUS, people.actor("city-admin"), people.actor("loner")):
        with pytest.raises(NotFound) as hidden:
            tokens.revoke_token(people.site, actor, created.id)
        assert hidden.value.detail == f"No token with id {created.id}."
    with pytest.raises(NotFound):
        tokens.revoke_token(people.site, people.admin, 10**6)
    assert account_state(people.site) == before
    assert tokens.authenticate_token(people.site, created.token).username == "city-member"


def test_a_token_id_out_of_range_is_not_found(people: People) -> None:
    before = account_state(people.site)
    for token_id in (2**31, 2**63):
        with pytest.raises(NotFound):
            tokens.revoke_token(people.site, people.admin, token_id)
    assert account_state(people.site) == before


def test_a_read_only_token_cannot_revoke_its_owners_tokens(people: People) -> None:
    created = tokens.create_token(people.site, people.actor("city-member"))
    reader = people.token_actor("city-member", READ_ONLY)
    before = account_state(people.site)
    for token_id in (created.id, reader.token_id):
        assert token_id is not None
        with pytest.raises(Forbidden, match="scope"):
            tokens.revoke_token(people.site, reader, token_id)
    assert account_state(people.site) == before


# --- authenticate_token --------------------------------------------------------------------


def test_a_live_token_stands_for_its_user_with_its_scopes(people: People) -> None:
    created = tokens.create_token(
        people.site, people.admin, username="city-editor", scopes=frozenset({Scope.WRITE})
    )
    actor = tokens.authenticate_token(people.site, created.token)
    assert (actor.username, actor.token_id, actor.is_site_admin) == (
        "city-editor",
        created.id,
        False,
    )
    assert actor.scopes == READ_WRITE
    assert list(actor.roles.values()) == [Role.EDITOR]
    [listed] = tokens.list_tokens(people.site, people.admin, "city-editor")
    assert listed.last_used_at is not None


def test_malformed_tokens_are_refused_before_any_lookup(people: People) -> None:
    good = tokens.create_token(people.site, people.admin).token
    for secret in (
        "",
        "cs_",
        good[:-1],
        good + "A",
        "xx_" + good[3:],
        good[:-1] + "=",
        good[:-1] + "а",  # Cyrillic а
        good + "\n",
        " " + good[1:],
        good.upper().replace("CS_", "cs_", 1) + "\x00",
    ):
        with pytest.raises(Unauthorized, match="Malformed"):
            tokens.authenticate_token(people.site, secret)


def test_a_well_formed_unknown_token_is_refused(people: People) -> None:
    good = tokens.create_token(people.site, people.admin).token
    twin = good[:-1] + ("A" if good[-1] != "A" else "B")
    with pytest.raises(Unauthorized, match="Unknown"):
        tokens.authenticate_token(people.site, twin)


def test_an_expired_token_is_refused(people: People) -> None:
    created = tokens.create_token(people.site, people.actor("loner"), expires_in_days=1)
    set_token(people.site, created.id, expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(Unauthorized, match="expired"):
        tokens.authenticate_token(people.site, created.token)


def test_last_use_is_written_at_most_once_a_minute(people: People) -> None:
    created = tokens.create_token(people.site, people.actor("loner"))
    recent = utcnow() - timedelta(seconds=10)
    set_token(people.site, created.id, last_used_at=recent)
    tokens.authenticate_token(people.site, created.token)
    assert tokens.list_tokens(people.site, people.admin, "loner")[0].last_used_at == (
        recent.isoformat(timespec="seconds") + "Z"
    )
    stale = utcnow() - timedelta(minutes=2)
    set_token(people.site, created.id, last_used_at=stale)
    tokens.authenticate_token(people.site, created.token)
    used = tokens.list_tokens(people.site, people.admin, "loner")[0].last_used_at
    assert parse_time(used) > stale + timedelta(seconds=60)
