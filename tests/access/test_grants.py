"""Grants as the policy sees them: which grant a request runs under, and what it allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from cityshare.access import (
    Actor,
    DatasetResource,
    Role,
    allowed,
    ensure_allowed,
    visible_datasets,
    visible_rows,
)
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.grants import GrantTerms, pick_grant, reads_pseudonyms
from cityshare.errors import Forbidden, NotFound
from cityshare.storage.schema import datasets

DATASET = 5
OTHER_ORG = 2
PRIVATE = DatasetResource(id=DATASET, organisation_id=1, visibility="private")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def grant(
    grant_id: int = 1,
    *,
    dataset_id: int = DATASET,
    permissions: tuple[str, ...] = ("read",),
    expires_in: timedelta = timedelta(days=1),
    to_user: bool = False,
    pseudonymised: tuple[str, ...] = (),
) -> GrantTerms:
    return GrantTerms(
        id=grant_id,
        dataset_id=dataset_id,
        permissions=frozenset(permissions),
        expires_at=now() + expires_in,
        to_user=to_user,
        pseudonymised=pseudonymised,
    )


def grantee(*grants: GrantTerms) -> Actor:
    """An admin of another organisation holding ``grants``."""
    roles = {OTHER_ORG: Role.ADMIN}
    return Actor(user_id=20, username="grantee", scopes=ALL_SCOPES, roles=roles, grants=grants)


# --- GrantTerms and pick_grant -------------------------------------------------------------


def test_a_grant_is_live_until_its_expiry() -> None:
    terms = grant(expires_in=timedelta(minutes=5))
    assert terms.is_live() and terms.allows("read") and not terms.allows("write")
    later = terms.expires_at + timedelta(microseconds=1)
    assert not terms.is_live(later) and not terms.allows("read", later)
    assert not terms.is_live(terms.expires_at)  # the expiry itself is past


def test_a_grant_to_the_user_wins_then_the_newest() -> None:
    to_org_old, to_org_new = grant(1), grant(2)
    to_user = grant(3, to_user=True)
    assert pick_grant([to_org_old, to_org_new], DATASET) == to_org_new
    assert pick_grant([to_user, to_org_old, to_org_new], DATASET) == to_user
    assert pick_grant([to_user], DATASET + 1) is None


def test_expired_grants_and_missing_permissions_are_not_picked() -> None:
    expired = grant(9, to_user=True, expires_in=-timedelta(seconds=1))
    reader = grant(1)
    assert pick_grant([expired, reader], DATASET) == reader
    assert pick_grant([expired], DATASET) is None
    assert pick_grant([reader], DATASET, "write") is None
    writer = grant(2, permissions=("read", "write"))
    assert pick_grant([reader, writer], DATASET, "write") == writer


def test_no_write_for_who_reads_pseudonyms_under_any_live_grant() -> None:
    pseudonyms = grant(1, pseudonymised=("plate",))
    writer = grant(2, permissions=("write",), to_user=True)
    assert reads_pseudonyms([pseudonyms], DATASET)
    assert not reads_pseudonyms([pseudonyms], DATASET + 1)
    assert pick_grant([pseudonyms, writer], DATASET, "write") is None
    assert pick_grant([pseudonyms, writer], DATASET, "read") == pseudonyms
    ended = grant(1, pseudonymised=("plate",), expires_in=-timedelta(seconds=1))
    assert pick_grant([ended, writer], DATASET, "write") == writer


# --- grants in the decision ---------------------------------------------------------------


def test_a_read_grant_shows_a_private_dataset_and_its_rows_only() -> None:
    actor = grantee(grant())
    assert actor.granted_dataset_ids == {DATASET}
    assert allowed(actor, "dataset.view", PRIVATE)
    assert allowed(actor, "dataset.read", PRIVATE)
    for action in ("dataset.upload", "dataset.update", "dataset.delete", "grant.manage"):
        with pytest.raises(Forbidden):
            ensure_allowed(actor, action, PRIVATE)


def test_a_write_grant_allows_uploads_but_no_other_change() -> None:
    actor = grantee(grant(permissions=("read", "write")))
    assert allowed(actor, "dataset.upload", PRIVATE)
    assert not allowed(actor, "dataset.update", PRIVATE)
    assert not allowed(actor, "dataset.visibility", PRIVATE)


def test_an_expired_grant_hides_the_dataset_again() -> None:
    actor = grantee(grant(expires_in=-timedelta(seconds=1)))
    assert actor.granted_dataset_ids == frozenset()
    with pytest.raises(NotFound):
        ensure_allowed(actor, "dataset.read", PRIVATE)


def test_a_grant_on_another_dataset_shows_nothing_here() -> None:
    actor = grantee(grant(dataset_id=DATASET + 1))
    with pytest.raises(NotFound):
        ensure_allowed(actor, "dataset.view", PRIVATE)


def test_a_pseudonym_reader_is_told_why_it_may_not_write() -> None:
    actor = grantee(grant(1, pseudonymised=("plate",)), grant(2, permissions=("write",)))
    assert allowed(actor, "dataset.read", PRIVATE)
    with pytest.raises(Forbidden, match="pseudonym"):
        ensure_allowed(actor, "dataset.upload", PRIVATE)


def test_the_sql_condition_counts_live_grants_only() -> None:
    def compiled(actor: Actor) -> str:
        query = select(datasets.c.id).where(visible_datasets(actor, datasets))
        return str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))

    assert f"datasets.id IN ({DATASET})" in compiled(grantee(grant()))
    assert "datasets.id IN" not in compiled(grantee(grant(expires_in=-timedelta(seconds=1))))


def test_rows_aggregating_many_datasets_leave_grants_to_the_caller() -> None:
    condition = visible_rows(
        grantee(grant()),
        visibility=datasets.c.visibility,
        organisation_id=datasets.c.organisation_id,
        dataset_id=None,
    )
    text = str(condition.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    assert f"IN ({DATASET})" not in text and f"IN ({OTHER_ORG})" in text
