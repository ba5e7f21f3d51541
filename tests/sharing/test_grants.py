"""Grants (cityshare.sharing.grants), called as functions with an Actor: made, listed,
read, changed and revoked, every refusal leaving the store and the audit log as they were."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from cityshare.access import ANONYMOUS, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts.console import console_actor
from cityshare.audit.verify import verify_chain
from cityshare.bounds.live_grants import live_grants
from cityshare.catalogue import datasets
from cityshare.clock import naive_utc, utcnow
from cityshare.errors import BadRequest, CityshareError, Conflict, Forbidden, NotFound, Unauthorized
from cityshare.sharing.grants import (
    create_grant,
    get_grant,
    list_grants,
    revoke_grant,
    update_grant,
)
from cityshare.sharing.models import Grant, GranteeOrganisation, GranteeUser
from cityshare.site import Site
from cityshare.storage.schema import grants, organisations
from tests.sharing.helpers import (
    ADMIN,
    EDITOR,
    MEMBER,
    OTHER,
    OUTSIDER,
    OWNER,
    PURPOSE,
    READ_ONLY,
    SITE_ADMIN,
    Unchanging,
    actor,
    add_user,
    audit_seq,
    grant_row,
    later,
    snapshot,
    spec,
    user_id,
    who,
)
from tests.world import World, audit_entries

PRIVATE = "private-counts"
SHARED = "shared-counts"
OPEN = "open-counts"


def organisation_id(site: Site, name: str) -> int:
    with site.engine.connect() as connection:
        found = connection.execute(select(organisations.c.id).where(organisations.c.name == name))
        return int(found.scalar_one())


def grant(site: Site, name: str = PRIVATE, **changes: Any) -> Grant:
    """A grant made by the owner's admin: to the partner organisation unless ``changes``
    name a user."""
    values = spec(**changes)
    if "user" in changes:
        del values["organisation"]
    return create_grant(site, actor(site, ADMIN), name, values)


def expire(site: Site, grant_id: int) -> None:
    """Move a grant's expiry into the past, as time passing would."""
    with site.writer.begin() as connection:
        connection.execute(
            update(grants)
            .where(grants.c.id == grant_id)
            .values(expires_at=utcnow().replace(year=2000))
        )


# --- create_grant -----------------------------------------------------------------------


def test_a_grant_to_an_organisation_is_stored_described_and_audited(world: World) -> None:
    site = world.site
    before = audit_seq(site)
    expires = later(30)
    made = create_grant(
        site, actor(site, ADMIN), PRIVATE, spec(expires_at=expires, terms="  No resale.  ")
    )
    assert made.grantee == GranteeOrganisation(organisation=OTHER)
    assert (made.purpose, made.terms, made.permissions) == (
        PURPOSE,
        "No resale.",
        ["read"],
    )
    assert (made.status, made.created_by, made.revoked_at, made.request_id) == (
        "active",
        ADMIN,
        None,
        None,
    )
    assert made.columns is None and made.row_filter is None and made.pseudonymised is None
    assert made.expires_at == naive_utc(expires).isoformat(timespec="seconds") + "Z"
    row = grant_row(site, made.id)
    assert row.grantee_organisation_id == organisation_id(site, OTHER)
    assert row.grantee_user_id is None and row.created_by == user_id(site, ADMIN)
    assert row.expires_at == naive_utc(expires) and row.permissions == "read"
    [entry] = audit_entries(site, before)
    assert (entry["action"], entry["outcome"]) == ("grant.create", "allow")
    assert entry["resource"] == {"dataset": PRIVATE, "grant": made.id}
    assert entry["actor"]["username"] == ADMIN and entry["detail"]["purpose"] == PURPOSE


def test_a_grant_to_a_user_with_bounds_keeps_every_bound(world: World) -> None:
    site = world.site
    add_user(site, "analyst")
    made = grant(
        site,
        user="analyst",
        permissions=["read"],
        columns=["junction", "cars", "junction"],
        row_filter={"junction": "J1", "cars__gte": 90},
        min_group_size=3,
        pseudonymised=["junction"],
    )
    assert made.grantee == GranteeUser(user="analyst")
    assert made.columns == ["junction", "cars"]  # a repeated name is kept once
    assert made.row_filter == {"junction": "J1", "cars__gte": "90"}
    assert (made.min_group_size, made.pseudonymised) == (3, ["junction"])
    row = grant_row(site, made.id)
    assert row.grantee_user_id == user_id(site, "analyst") and row.grantee_organisation_id is None
    assert row.row_filter == [["junction", "J1"], ["cars__gte", "90"]]
    terms = actor(site, "analyst").grant_for(row.dataset_id)
    assert terms is not None and terms.to_user and terms.columns == ("junction", "cars")


def test_permissions_are_stored_in_one_order(world: World) -> None:
    made = grant(world.site, permissions=["write", "read"])
    assert made.permissions == ["read", "write"]
    assert grant_row(world.site, made.id).permissions == "read,write"


def test_a_site_administrator_may_grant_any_dataset(world: World) -> None:
    made = create_grant(world.site, console_actor(world.site, SITE_ADMIN), PRIVATE, spec())
    assert made.created_by == SITE_ADMIN and made.status == "active"


def test_a_sensor_dataset_is_granted_whole(world: World) -> None:
    made = grant(world.site, "private-air")
    assert made.status == "active" and made.columns is None
    before = snapshot(world.site)
    with pytest.raises(BadRequest) as refused:
        grant(world.site, "private-air", columns=["no2"])
    assert refused.value.extra["parameter"] == "columns"
    assert snapshot(world.site) == before


def test_bounds_on_a_dataset_without_data_are_refused(world: World) -> None:
    site = world.site
    admin = console_actor(site, SITE_ADMIN)
    datasets.create_dataset(
        site, admin, organisation=OWNER, name="empty-counts", title="Empty", visibility="private"
    )
    before = snapshot(site)
    with pytest.raises(Conflict, match="Upload the dataset's data first"):
        grant(site, "empty-counts", columns=["cars"])
    assert snapshot(site) == before
    assert grant(site, "empty-counts").status == "active"  # without bounds it may


REFUSED_MAKERS = [
    pytest.param(MEMBER, ALL_SCOPES, SHARED, Forbidden, id="member"),
    pytest.param(EDITOR, ALL_SCOPES, SHARED, Forbidden, id="editor"),
    pytest.param(OUTSIDER, ALL_SCOPES, SHARED, Forbidden, id="other-organisation"),
    pytest.param(OUTSIDER, ALL_SCOPES, "private-air", NotFound, id="other-organisation-private"),
    pytest.param(None, ALL_SCOPES, OPEN, Unauthorized, id="anonymous"),
    pytest.param(None, ALL_SCOPES, SHARED, NotFound, id="anonymous-shared"),
    pytest.param(ADMIN, READ_ONLY, PRIVATE, Forbidden, id="read-only-token"),
    pytest.param(ADMIN, ALL_SCOPES, "no-such-dataset", NotFound, id="missing-dataset"),
]


@pytest.mark.parametrize(("username", "scopes", "name", "error"), REFUSED_MAKERS)
def test_only_the_owners_admins_grant(
    unchanging: Unchanging,
    username: str | None,
    scopes: frozenset[Scope],
    name: str,
    error: type[CityshareError],
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error) as refused:
        create_grant(site, who(site, username, scopes), name, spec(organisation="partner"))
    assert type(refused.value) is error
    if scopes == READ_ONLY:
        assert "'admin' scope" in refused.value.detail
    if error is NotFound:  # the same words as for a dataset that does not exist
        assert refused.value.detail == f"No dataset named {name!r}, or you may not see it."
    assert snapshot(site) == before


def test_a_grantee_cannot_grant_further(unchanging: Unchanging) -> None:
    site = unchanging.world.site
    grantee = actor(site, OUTSIDER)
    assert grantee.grant_for(grant_row(site, unchanging.grant_id).dataset_id) is not None
    before = snapshot(site)
    with pytest.raises(Forbidden):
        create_grant(site, grantee, PRIVATE, spec(organisation=None, user="stranger"))
    assert snapshot(site) == before


BAD_GRANTS = [
    pytest.param({"purpose": None}, BadRequest, "purpose", id="no-purpose"),
    pytest.param({"purpose": "   "}, BadRequest, "purpose", id="blank-purpose"),
    pytest.param({"purpose": "x" * 2001}, BadRequest, "purpose", id="long-purpose"),
    pytest.param({"terms": "x" * 5001}, BadRequest, "terms", id="long-terms"),
    pytest.param({"expires_at": later(-1)}, BadRequest, "expires_at", id="expired"),
    pytest.param(
        {"expires_at": later(-1).replace(tzinfo=None)}, BadRequest, "expires_at", id="expired-naive"
    ),
    pytest.param({"expires_at": later(3700)}, BadRequest, "expires_at", id="over-ten-years"),
    pytest.param(
        {"expires_at": "2030-01-01T00:00:00Z"}, BadRequest, "expires_at", id="expiry-text"
    ),
    pytest.param({"expires_at": None}, BadRequest, "expires_at", id="no-expiry"),
    pytest.param({"permissions": []}, BadRequest, "permissions", id="no-permissions"),
    pytest.param(
        {"permissions": ["read", "delete"]}, BadRequest, "permissions", id="bad-permission"
    ),
    pytest.param({"columns": []}, BadRequest, "columns", id="empty-columns"),
    pytest.param({"columns": ["junction", "plate"]}, BadRequest, "columns", id="missing-column"),
    pytest.param(
        {"pseudonymised": ["junction"]}, BadRequest, "pseudonymised", id="pseudonym-ungranted"
    ),
    pytest.param(
        {"columns": ["junction"], "pseudonymised": ["plate"]},
        BadRequest,
        "pseudonymised",
        id="pseudonym-missing-column",
    ),
    pytest.param({"row_filter": {"plate": "X"}}, BadRequest, None, id="filter-missing-column"),
    pytest.param(
        {"row_filter": {"_sort": "cars"}}, BadRequest, "row_filter", id="filter-not-a-filter"
    ),
    pytest.param({"row_filter": ["junction"]}, BadRequest, "row_filter", id="filter-not-an-object"),
    pytest.param(
        {"row_filter": {f"cars__gte{n}": "1" for n in range(21)}},
        BadRequest,
        "row_filter",
        id="filter-too-many",
    ),
    pytest.param({"min_group_size": 1}, BadRequest, "min_group_size", id="group-of-one"),
    pytest.param({"min_group_size": True}, BadRequest, "min_group_size", id="group-boolean"),
    pytest.param({"min_group_size": "5"}, BadRequest, "min_group_size", id="group-text"),
    pytest.param({"user": MEMBER}, BadRequest, "organisation", id="two-grantees"),
    pytest.param({"organisation": None}, BadRequest, "organisation", id="no-grantee"),
    pytest.param({"organisation": "nobody"}, NotFound, None, id="missing-organisation"),
    pytest.param({"organisation": None, "user": "nobody"}, NotFound, None, id="missing-user"),
    pytest.param({"organisation": OWNER}, Conflict, None, id="owner-organisation"),
    pytest.param({"organisation": None, "user": EDITOR}, Conflict, None, id="owner-member"),
    pytest.param(
        {"permissions": ["read", "write"], "columns": ["junction"], "pseudonymised": ["junction"]},
        Conflict,
        None,
        id="write-and-pseudonymised",
    ),
]


@pytest.mark.parametrize(("changes", "error", "parameter"), BAD_GRANTS)
def test_bad_grants_are_refused_and_nothing_is_stored(
    unchanging: Unchanging,
    changes: dict[str, Any],
    error: type[CityshareError],
    parameter: str | None,
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error) as refused:
        create_grant(site, actor(site, ADMIN), PRIVATE, spec(**changes))
    assert type(refused.value) is error
    if parameter is not None:
        assert refused.value.extra["parameter"] == parameter
    assert snapshot(site) == before


def test_pseudonyms_are_refused_to_a_grantee_who_writes_under_another_grant(world: World) -> None:
    site = world.site
    writer = grant(site, permissions=["read", "write"])
    before = snapshot(site)
    with pytest.raises(Conflict, match="pseudonyms"):
        grant(site, columns=["junction"], pseudonymised=["junction"])
    assert snapshot(site) == before
    revoke_grant(site, actor(site, ADMIN), PRIVATE, writer.id)
    made = grant(site, columns=["junction"], pseudonymised=["junction"])  # once it is revoked
    assert made.pseudonymised == ["junction"]


def test_write_is_refused_to_a_grantee_who_reads_pseudonyms_under_another_grant(
    world: World,
) -> None:
    site = world.site
    grant(site, columns=["junction"], pseudonymised=["junction"])
    before = snapshot(site)
    with pytest.raises(Conflict):
        grant(site, permissions=["write"])
    assert snapshot(site) == before


# --- list_grants and get_grant ----------------------------------------------------------


def test_admins_list_every_grant_and_grantees_their_own(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    add_user(site, "analyst", OTHER)
    to_partner = grant(site, SHARED)
    to_stranger = grant(site, SHARED, user="stranger")
    ids = {
        username: [item.id for item in list_grants(site, actor(site, username), SHARED)]
        for username in (ADMIN, SITE_ADMIN, OUTSIDER, "analyst", "stranger", MEMBER)
    }
    both = [to_partner.id, to_stranger.id]
    assert ids == {
        ADMIN: both,
        SITE_ADMIN: both,
        OUTSIDER: [to_partner.id],
        "analyst": [to_partner.id],  # a member of the grantee organisation
        "stranger": [to_stranger.id],
        MEMBER: [],  # members of the owner organisation read the data, not its agreements
    }
    assert list_grants(site, actor(site, ADMIN, READ_ONLY), SHARED)[1] == to_stranger


def test_anonymous_visitors_list_no_grants(world: World) -> None:
    grant(world.site, OPEN)
    assert list_grants(world.site, ANONYMOUS, OPEN) == []
    with pytest.raises(NotFound):
        list_grants(world.site, ANONYMOUS, SHARED)


def test_a_private_datasets_grants_are_invisible_to_others(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    made = grant(site, PRIVATE, user="stranger")
    with pytest.raises(NotFound):
        list_grants(site, actor(site, OUTSIDER), PRIVATE)
    with pytest.raises(NotFound):
        get_grant(site, actor(site, OUTSIDER), PRIVATE, made.id)
    assert list_grants(site, actor(site, "stranger"), PRIVATE) == [made]


def test_one_grant_is_shown_to_its_admins_and_its_grantee_only(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    made = grant(site, SHARED)
    assert get_grant(site, actor(site, ADMIN), SHARED, made.id) == made
    assert get_grant(site, actor(site, OUTSIDER), SHARED, made.id) == made
    for reader in (actor(site, "stranger"), actor(site, MEMBER)):
        with pytest.raises(NotFound):  # invisible, not merely forbidden
            get_grant(site, reader, SHARED, made.id)
    with pytest.raises(NotFound):
        get_grant(site, ANONYMOUS, SHARED, made.id)


def test_a_grant_is_found_only_on_its_own_dataset(world: World) -> None:
    made = grant(world.site, SHARED)
    admin = actor(world.site, ADMIN)
    with pytest.raises(NotFound):
        get_grant(world.site, admin, OPEN, made.id)
    with pytest.raises(NotFound):
        get_grant(world.site, admin, SHARED, made.id + 100)


def test_a_grant_on_a_private_dataset_makes_it_visible_to_its_grantee_until_it_expires(
    world: World,
) -> None:
    site = world.site
    made = grant(site, PRIVATE)
    assert get_grant(site, actor(site, OUTSIDER), PRIVATE, made.id).status == "active"
    expire(site, made.id)
    assert get_grant(site, actor(site, ADMIN), PRIVATE, made.id).status == "expired"
    with pytest.raises(NotFound):
        get_grant(site, actor(site, OUTSIDER), PRIVATE, made.id)


# --- update_grant -----------------------------------------------------------------------


def test_a_change_applies_at_once_and_audits_only_what_changed(world: World) -> None:
    site = world.site
    made = grant(site)
    before = audit_seq(site)
    expires = later(60)
    changed = update_grant(
        site,
        actor(site, ADMIN),
        PRIVATE,
        made.id,
        {"purpose": "A narrower purpose", "expires_at": expires, "columns": ["cars"]},
    )
    assert (changed.purpose, changed.columns) == ("A narrower purpose", ["cars"])
    assert changed.terms == made.terms and changed.permissions == ["read"]
    row = grant_row(site, made.id)
    assert (row.purpose, row.columns, row.expires_at) == (
        "A narrower purpose",
        ["cars"],
        naive_utc(expires),
    )
    [entry] = audit_entries(site, before)
    assert entry["action"] == "grant.update" and entry["resource"]["grant"] == made.id
    assert set(entry["detail"]) == {"purpose", "expires_at", "columns"}
    terms = actor(site, OUTSIDER).grant_for(row.dataset_id)
    assert terms is not None and terms.columns == ("cars",)


REFUSED_EDITORS = [
    pytest.param(MEMBER, ALL_SCOPES, Forbidden, id="member"),
    pytest.param(EDITOR, ALL_SCOPES, Forbidden, id="editor"),
    pytest.param(OUTSIDER, ALL_SCOPES, Forbidden, id="the-grantee"),
    pytest.param("stranger", ALL_SCOPES, NotFound, id="other-user"),
    pytest.param(None, ALL_SCOPES, NotFound, id="anonymous"),
    pytest.param(ADMIN, READ_ONLY, Forbidden, id="read-only-token"),
]


@pytest.mark.parametrize(("username", "scopes", "error"), REFUSED_EDITORS)
def test_only_the_owners_admins_change_or_revoke_a_grant(
    unchanging: Unchanging,
    username: str | None,
    scopes: frozenset[Scope],
    error: type[CityshareError],
) -> None:
    site, grant_id = unchanging.world.site, unchanging.grant_id
    someone = who(site, username, scopes)
    before = snapshot(site)
    with pytest.raises(error) as changing:
        update_grant(site, someone, PRIVATE, grant_id, {"purpose": "Anything at all"})
    with pytest.raises(error) as revoking:
        revoke_grant(site, someone, PRIVATE, grant_id)
    assert type(changing.value) is error and type(revoking.value) is error
    assert snapshot(site) == before
    assert get_grant(site, actor(site, ADMIN), PRIVATE, grant_id).status == "active"


BAD_CHANGES = [
    pytest.param({"dataset_id": 3}, BadRequest, id="not-editable"),
    pytest.param({"organisation": OWNER}, BadRequest, id="grantee"),
    pytest.param({"purpose": None}, BadRequest, id="purpose-removed"),
    pytest.param({"expires_at": None}, BadRequest, id="expiry-removed"),
    pytest.param({"expires_at": later(-0.5)}, BadRequest, id="expired"),
    pytest.param({"columns": ["plate"]}, BadRequest, id="missing-column"),
    pytest.param({"pseudonymised": ["cars"]}, BadRequest, id="pseudonym-ungranted"),
    pytest.param({"min_group_size": 0}, BadRequest, id="group-of-none"),
]


@pytest.mark.parametrize(("changes", "error"), BAD_CHANGES)
def test_bad_changes_leave_the_grant_as_it_was(
    unchanging: Unchanging, changes: dict[str, Any], error: type[CityshareError]
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error):
        update_grant(site, actor(site, ADMIN), PRIVATE, unchanging.grant_id, changes)
    assert snapshot(site) == before


def test_an_empty_change_changes_nothing(unchanging: Unchanging) -> None:
    site, grant_id = unchanging.world.site, unchanging.grant_id
    admin = actor(site, ADMIN)
    before = snapshot(site)
    assert update_grant(site, admin, PRIVATE, grant_id, {}) == get_grant(
        site, admin, PRIVATE, grant_id
    )
    assert snapshot(site) == before


def test_a_change_cannot_make_a_grant_both_write_and_pseudonymised(world: World) -> None:
    site = world.site
    admin = actor(site, ADMIN)
    writer = grant(site, permissions=["read", "write"], columns=["junction", "cars"])
    before = snapshot(site)
    with pytest.raises(Conflict):
        update_grant(site, admin, PRIVATE, writer.id, {"pseudonymised": ["junction"]})
    assert snapshot(site) == before
    reader = grant(site, OPEN, columns=["junction"], pseudonymised=["junction"])
    before = snapshot(site)
    with pytest.raises(Conflict):
        update_grant(site, admin, OPEN, reader.id, {"permissions": ["read", "write"]})
    assert snapshot(site) == before


def test_a_revoked_grant_cannot_be_changed(world: World) -> None:
    made = grant(world.site)
    admin = actor(world.site, ADMIN)
    revoke_grant(world.site, admin, PRIVATE, made.id)
    before = snapshot(world.site)
    with pytest.raises(Conflict, match="revoked"):
        update_grant(world.site, admin, PRIVATE, made.id, {"purpose": "Another try"})
    assert snapshot(world.site) == before


# --- revoke_grant -----------------------------------------------------------------------


def test_revoking_ends_the_grant_now(world: World) -> None:
    site = world.site
    made = grant(site, PRIVATE)
    dataset_id = grant_row(site, made.id).dataset_id
    assert actor(site, OUTSIDER).grant_for(dataset_id) is not None
    before = audit_seq(site)
    revoked = revoke_grant(site, actor(site, ADMIN), PRIVATE, made.id)
    assert revoked.status == "revoked" and revoked.revoked_at is not None
    row = grant_row(site, made.id)
    assert row.revoked_by == user_id(site, ADMIN) and row.revoked_at is not None
    [entry] = audit_entries(site, before)
    assert entry["action"] == "grant.revoke" and entry["resource"]["grant"] == made.id
    grantee = actor(site, OUTSIDER)
    assert grantee.grant_for(dataset_id) is None
    with pytest.raises(NotFound):  # the private dataset is gone for the former grantee
        list_grants(site, grantee, PRIVATE)
    assert [item.status for item in list_grants(site, actor(site, ADMIN), PRIVATE)] == ["revoked"]


def test_revoking_twice_changes_nothing_the_second_time(world: World) -> None:
    site = world.site
    made = grant(site)
    admin = actor(site, ADMIN)
    first = revoke_grant(site, admin, PRIVATE, made.id)
    before = snapshot(site)
    second = revoke_grant(site, admin, PRIVATE, made.id)
    assert second == first
    assert snapshot(site) == before  # no second revocation time, no second audit entry


def test_revoking_a_missing_grant_is_not_found(unchanging: Unchanging) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(NotFound):
        revoke_grant(site, actor(site, ADMIN), PRIVATE, 999)
    with pytest.raises(NotFound):  # a grant is revoked only through its own dataset
        revoke_grant(site, actor(site, ADMIN), SHARED, unchanging.grant_id)
    assert snapshot(site) == before


def test_every_grant_change_extends_one_whole_audit_chain(world: World) -> None:
    site = world.site
    admin = actor(site, ADMIN)
    made = grant(site)
    update_grant(site, admin, PRIVATE, made.id, {"terms": "Delete after use."})
    revoke_grant(site, admin, PRIVATE, made.id)
    with site.engine.connect() as connection:
        verdict = verify_chain(connection)
    assert verdict.ok and verdict.entries == audit_seq(site)
    actions = [entry["action"] for entry in audit_entries(site)][-3:]
    assert actions == ["grant.create", "grant.update", "grant.revoke"]


# --- live grants, as authentication loads them ------------------------------------------


def live_grant_ids(site: Site, username: str) -> list[int]:
    with site.engine.connect() as connection:
        return sorted(terms.id for terms in live_grants(connection, user_id(site, username)))


def test_live_grants_are_those_to_the_user_or_their_organisations(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    to_partner = grant(site, PRIVATE, columns=["junction"], row_filter={"cars__gte": 90})
    to_stranger = grant(site, SHARED, user="stranger", permissions=["read", "write"])
    ended = grant(site, OPEN)
    revoke_grant(site, actor(site, ADMIN), OPEN, ended.id)
    expired = grant(site, SHARED)
    expire(site, expired.id)
    add_user(site, "newcomer", OTHER)  # joined the grantee organisation after the grant
    assert live_grant_ids(site, OUTSIDER) == [to_partner.id]
    assert live_grant_ids(site, "newcomer") == [to_partner.id]
    assert live_grant_ids(site, "stranger") == [to_stranger.id]
    assert live_grant_ids(site, MEMBER) == []
    with site.engine.connect() as connection:
        [terms] = live_grants(connection, user_id(site, OUTSIDER))
    assert (terms.columns, terms.row_filter, terms.pseudonymised) == (
        ("junction",),
        (("cars__gte", "90"),),
        (),
    )
    assert terms.permissions == frozenset({"read"}) and not terms.to_user
    [by_user] = actor(site, "stranger").grants
    assert by_user.to_user and by_user.permissions == frozenset({"read", "write"})
