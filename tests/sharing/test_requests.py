"""Access requests (cityshare.sharing.requests), called as functions with an Actor: asked,
listed, approved into a grant, declined and withdrawn, every refusal changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cityshare.access import ANONYMOUS, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.errors import BadRequest, CityshareError, Conflict, Forbidden, NotFound, Unauthorized
from cityshare.sharing.grants import get_grant
from cityshare.sharing.models import AccessRequest, GranteeUser
from cityshare.sharing.requests import (
    approve_request,
    create_request,
    decline_request,
    get_request,
    list_requests,
    my_requests,
    withdraw_request,
)
from cityshare.site import Site
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
    request_row,
    snapshot,
    user_id,
    who,
)
from tests.world import World, audit_entries

SHARED = "shared-counts"
PRIVATE = "private-counts"
OPEN = "open-counts"


def ask(site: Site, username: str = OUTSIDER, name: str = SHARED, **options: Any) -> AccessRequest:
    """A request by ``username`` for ``name``."""
    return create_request(site, actor(site, username), name, purpose=PURPOSE, **options)


# --- create_request ---------------------------------------------------------------------


def test_a_request_is_stored_pending_and_audited(world: World) -> None:
    site = world.site
    before = audit_seq(site)
    made = create_request(site, actor(site, OUTSIDER), SHARED, purpose=f"  {PURPOSE}  ")
    assert made.model_dump(exclude={"id", "created_at"}) == {
        "dataset": SHARED,
        "requester": OUTSIDER,
        "organisation": None,
        "purpose": PURPOSE,
        "status": "pending",
        "reason": None,
        "grant_id": None,
        "decided_at": None,
    }
    row = request_row(site, made.id)
    assert (row.requester_id, row.status, row.organisation_id) == (
        user_id(site, OUTSIDER),
        "pending",
        None,
    )
    [entry] = audit_entries(site, before)
    assert (entry["action"], entry["resource"]) == (
        "access.request",
        {"dataset": SHARED, "request": made.id},
    )
    assert entry["detail"] == {"purpose": PURPOSE, "organisation": None}


def test_an_organisations_admin_asks_on_its_behalf(world: World) -> None:
    made = ask(world.site, organisation=OTHER)
    assert made.organisation == OTHER and made.requester == OUTSIDER


REFUSED_ASKERS = [
    pytest.param(None, ALL_SCOPES, OPEN, Unauthorized, id="anonymous"),
    pytest.param(None, ALL_SCOPES, SHARED, NotFound, id="anonymous-shared"),
    pytest.param(OUTSIDER, ALL_SCOPES, "private-air", NotFound, id="private-to-other-organisation"),
    pytest.param(OUTSIDER, READ_ONLY, SHARED, Forbidden, id="read-only-token"),
    pytest.param(MEMBER, ALL_SCOPES, SHARED, Conflict, id="owner-member"),
    pytest.param(ADMIN, ALL_SCOPES, PRIVATE, Conflict, id="owner-admin"),
    pytest.param(OUTSIDER, ALL_SCOPES, "no-such-dataset", NotFound, id="missing-dataset"),
]


@pytest.mark.parametrize(("username", "scopes", "name", "error"), REFUSED_ASKERS)
def test_requests_refused_store_nothing(
    unchanging: Unchanging,
    username: str | None,
    scopes: frozenset[Scope],
    name: str,
    error: type[CityshareError],
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error) as refused:
        create_request(site, who(site, username, scopes), name, purpose=PURPOSE)
    assert type(refused.value) is error
    assert snapshot(site) == before


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"purpose": ""}, BadRequest, id="no-purpose"),
        pytest.param({"purpose": "   "}, BadRequest, id="blank-purpose"),
        pytest.param({"purpose": "x" * 2001}, BadRequest, id="long-purpose"),
        pytest.param(
            {"purpose": PURPOSE, "organisation": "nobody"}, NotFound, id="no-such-organisation"
        ),
        pytest.param({"purpose": PURPOSE, "organisation": OWNER}, Forbidden, id="not-its-admin"),
    ],
)
def test_bad_requests_store_nothing(
    unchanging: Unchanging, options: dict[str, Any], error: type[CityshareError]
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error):
        create_request(site, actor(site, "stranger"), SHARED, **options)
    assert snapshot(site) == before


def test_a_member_cannot_ask_on_behalf_of_their_organisation(world: World) -> None:
    add_user(world.site, "analyst", OTHER, "editor")
    before = snapshot(world.site)
    with pytest.raises(Forbidden):
        ask(world.site, "analyst", organisation=OTHER)
    assert snapshot(world.site) == before


def test_a_second_pending_request_is_refused_until_the_first_is_withdrawn(world: World) -> None:
    site = world.site
    first = ask(site)
    before = snapshot(site)
    with pytest.raises(Conflict, match=f"pending request \\({first.id}\\)"):
        ask(site)
    assert snapshot(site) == before
    withdraw_request(site, actor(site, OUTSIDER), SHARED, first.id)
    assert ask(site).status == "pending"


# --- list_requests, my_requests, get_request --------------------------------------------


def test_admins_list_every_request_and_requesters_their_own(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    mine = ask(site)
    theirs = ask(site, "stranger")
    listed = {
        username: [item.id for item in list_requests(site, actor(site, username), SHARED)]
        for username in (ADMIN, SITE_ADMIN, OUTSIDER, "stranger", MEMBER, EDITOR)
    }
    assert listed == {
        ADMIN: [mine.id, theirs.id],
        SITE_ADMIN: [mine.id, theirs.id],
        OUTSIDER: [mine.id],
        "stranger": [theirs.id],
        MEMBER: [],
        EDITOR: [],
    }
    assert list_requests(site, actor(site, ADMIN, READ_ONLY), SHARED)[0] == mine


def test_requests_are_listed_by_status(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    pending = ask(site)
    declined = ask(site, "stranger")
    decline_request(site, actor(site, ADMIN), SHARED, declined.id, "Not for this purpose.")
    admin = actor(site, ADMIN)
    assert [item.id for item in list_requests(site, admin, SHARED, "pending")] == [pending.id]
    assert [item.id for item in list_requests(site, admin, SHARED, "declined")] == [declined.id]
    assert list_requests(site, admin, SHARED, "approved") == []
    with pytest.raises(BadRequest):
        list_requests(site, admin, SHARED, "lost")


def test_listing_a_private_datasets_requests_is_not_found_for_others(world: World) -> None:
    with pytest.raises(NotFound):
        list_requests(world.site, actor(world.site, OUTSIDER), PRIVATE)
    with pytest.raises(NotFound):
        list_requests(world.site, ANONYMOUS, SHARED)
    assert list_requests(world.site, ANONYMOUS, OPEN) == []


def test_my_requests_are_every_dataset_newest_first(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    made = [ask(site, name=name) for name in (SHARED, OPEN, "shared-air")]
    ask(site, "stranger")
    mine = my_requests(site, actor(site, OUTSIDER))
    assert mine == made[::-1]
    assert my_requests(site, actor(site, ADMIN)) == []
    assert my_requests(site, ANONYMOUS) == []


def test_one_request_is_shown_to_its_requester_and_the_admins_only(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    made = ask(site)
    assert get_request(site, actor(site, OUTSIDER), SHARED, made.id) == made
    assert get_request(site, actor(site, ADMIN), SHARED, made.id) == made
    for other in (actor(site, "stranger"), actor(site, MEMBER)):
        with pytest.raises(NotFound):  # invisible, not merely forbidden
            get_request(site, other, SHARED, made.id)
    with pytest.raises(NotFound):  # the request exists only on its own dataset
        get_request(site, actor(site, ADMIN), OPEN, made.id)


# --- approve_request --------------------------------------------------------------------


def test_approval_makes_the_grant_on_the_admins_terms(world: World) -> None:
    site = world.site
    made = ask(site)
    before = audit_seq(site)
    approved = approve_request(
        site,
        actor(site, ADMIN),
        SHARED,
        made.id,
        {"expires_at": later(90), "columns": ["junction", "cars"], "terms": "No resale."},
    )
    assert approved.status == "approved" and approved.decided_at is not None
    grant_id = approved.grant_id
    assert isinstance(grant_id, int)
    granted = get_grant(site, actor(site, OUTSIDER), SHARED, grant_id)
    assert granted.grantee == GranteeUser(user=OUTSIDER) and granted.request_id == made.id
    assert (granted.purpose, granted.columns, granted.terms) == (
        PURPOSE,
        ["junction", "cars"],
        "No resale.",
    )
    row = request_row(site, made.id)
    assert (row.status, row.grant_id, row.decided_by) == (
        "approved",
        grant_id,
        user_id(site, ADMIN),
    )
    entries = audit_entries(site, before)
    assert [entry["action"] for entry in entries] == ["grant.create", "access.request.approved"]
    assert entries[1]["detail"] == {"reason": "", "grant": grant_id}
    terms = actor(site, OUTSIDER).grant_for(grant_row(site, grant_id).dataset_id)
    assert terms is not None and terms.columns == ("junction", "cars")


def test_approval_on_behalf_grants_the_organisation(world: World) -> None:
    site = world.site
    made = ask(site, organisation=OTHER)
    approved = approve_request(site, actor(site, ADMIN), SHARED, made.id, {"expires_at": later()})
    assert approved.grant_id is not None
    row = grant_row(site, approved.grant_id)
    assert row.grantee_organisation_id is not None and row.grantee_user_id is None


def test_approval_terms_cannot_change_the_grantee(world: World) -> None:
    site = world.site
    add_user(site, "stranger")
    made = ask(site)
    terms = {"expires_at": later(), "user": "stranger", "purpose": "Something else"}
    approved = approve_request(site, actor(site, ADMIN), SHARED, made.id, terms)
    assert approved.grant_id is not None
    row = grant_row(site, approved.grant_id)
    assert row.grantee_user_id == user_id(site, OUTSIDER)
    assert row.purpose == "Something else"  # the admin may word the purpose anew


@pytest.mark.parametrize(
    ("terms", "error"),
    [
        pytest.param({}, BadRequest, id="no-expiry"),
        pytest.param({"expires_at": later(-1)}, BadRequest, id="expired"),
        pytest.param(
            {"expires_at": later(), "columns": ["plate"]}, BadRequest, id="missing-column"
        ),
        pytest.param(
            {
                "expires_at": later(),
                "permissions": ["read", "write"],
                "columns": ["junction"],
                "pseudonymised": ["junction"],
            },
            Conflict,
            id="write-and-pseudonymised",
        ),
    ],
)
def test_a_bad_approval_leaves_the_request_pending(
    unchanging: Unchanging, terms: dict[str, Any], error: type[CityshareError]
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error):
        approve_request(site, actor(site, ADMIN), SHARED, unchanging.request_id, terms)
    assert snapshot(site) == before
    assert request_row(site, unchanging.request_id).status == "pending"


REFUSED_DECIDERS = [
    pytest.param(MEMBER, ALL_SCOPES, Forbidden, id="member"),
    pytest.param(EDITOR, ALL_SCOPES, Forbidden, id="editor"),
    pytest.param(OUTSIDER, ALL_SCOPES, Forbidden, id="the-requester"),
    pytest.param(None, ALL_SCOPES, NotFound, id="anonymous"),
    pytest.param(ADMIN, READ_ONLY, Forbidden, id="read-only-token"),
]


@pytest.mark.parametrize(("username", "scopes", "error"), REFUSED_DECIDERS)
def test_only_the_owners_admins_approve_or_decline(
    unchanging: Unchanging,
    username: str | None,
    scopes: frozenset[Scope],
    error: type[CityshareError],
) -> None:
    site, request_id = unchanging.world.site, unchanging.request_id
    someone = who(site, username, scopes)
    before = snapshot(site)
    with pytest.raises(error) as approving:
        approve_request(site, someone, SHARED, request_id, {"expires_at": later()})
    with pytest.raises(error) as declining:
        decline_request(site, someone, SHARED, request_id, "No.")
    assert type(approving.value) is error and type(declining.value) is error
    assert snapshot(site) == before


def test_a_decided_request_cannot_be_decided_again(world: World) -> None:
    site = world.site
    admin = actor(site, ADMIN)
    made = ask(site)
    approve_request(site, admin, SHARED, made.id, {"expires_at": later()})
    before = snapshot(site)
    with pytest.raises(Conflict, match="approved already"):
        approve_request(site, admin, SHARED, made.id, {"expires_at": later()})
    with pytest.raises(Conflict, match="approved already"):
        decline_request(site, admin, SHARED, made.id, "Changed my mind.")
    with pytest.raises(Conflict):
        withdraw_request(site, actor(site, OUTSIDER), SHARED, made.id)
    assert snapshot(site) == before


def test_approving_a_missing_request_is_not_found(unchanging: Unchanging) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(NotFound):
        approve_request(site, actor(site, ADMIN), SHARED, 42, {"expires_at": later()})
    with pytest.raises(NotFound):  # a request is decided only through its own dataset
        approve_request(
            site, actor(site, ADMIN), OPEN, unchanging.request_id, {"expires_at": later()}
        )
    assert snapshot(site) == before


# --- decline_request and withdraw_request -----------------------------------------------


def test_a_declined_request_tells_its_requester_why(world: World) -> None:
    site = world.site
    made = ask(site)
    before = audit_seq(site)
    declined = decline_request(site, actor(site, ADMIN), SHARED, made.id, " Too broad. ")
    assert (declined.status, declined.reason, declined.grant_id) == (
        "declined",
        "Too broad.",
        None,
    )
    assert get_request(site, actor(site, OUTSIDER), SHARED, made.id).reason == "Too broad."
    [entry] = audit_entries(site, before)
    assert entry["action"] == "access.request.declined"
    assert entry["detail"] == {"reason": "Too broad.", "grant": None}


def test_a_decline_needs_a_reason(world: World) -> None:
    made = ask(world.site)
    before = snapshot(world.site)
    with pytest.raises(BadRequest) as refused:
        decline_request(world.site, actor(world.site, ADMIN), SHARED, made.id, "  ")
    assert refused.value.extra["parameter"] == "reason"
    assert snapshot(world.site) == before


def test_the_requester_withdraws_a_pending_request(world: World) -> None:
    site = world.site
    made = ask(site)
    before = audit_seq(site)
    withdrawn = withdraw_request(site, actor(site, OUTSIDER), SHARED, made.id)
    assert withdrawn.status == "withdrawn" and withdrawn.grant_id is None
    assert request_row(site, made.id).decided_by == user_id(site, OUTSIDER)
    [entry] = audit_entries(site, before)
    assert entry["action"] == "access.request.withdrawn"
    with pytest.raises(Conflict, match="withdrawn already"):
        withdraw_request(site, actor(site, OUTSIDER), SHARED, made.id)


@pytest.mark.parametrize(
    ("username", "error"),
    [
        pytest.param(ADMIN, Forbidden, id="owner-admin"),
        pytest.param(SITE_ADMIN, Forbidden, id="site-admin"),
        pytest.param("stranger", NotFound, id="other-user"),
        pytest.param(MEMBER, NotFound, id="owner-member"),
    ],
)
def test_only_the_requester_withdraws(
    unchanging: Unchanging, username: str, error: type[CityshareError]
) -> None:
    site = unchanging.world.site
    before = snapshot(site)
    with pytest.raises(error):
        withdraw_request(site, actor(site, username), SHARED, unchanging.request_id)
    assert snapshot(site) == before


def test_a_read_only_token_cannot_withdraw_a_request(world: World) -> None:
    site = world.site
    made = ask(site)
    before = snapshot(site)
    with pytest.raises(Forbidden):
        withdraw_request(site, actor(site, OUTSIDER, READ_ONLY), SHARED, made.id)
    assert snapshot(site) == before
