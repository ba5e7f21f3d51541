"""The visibility rule as SQL, on a real store (SQLite and PostgreSQL): ``visible_datasets``
selects exactly the datasets ``can_see_dataset`` admits, and ``seen_only_by_grant`` those a
grant alone shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cityshare.access import ANONYMOUS, Actor, DatasetResource, seen_only_by_grant, visible_datasets
from cityshare.access.grants import GrantTerms
from cityshare.access.policy import can_see_dataset
from cityshare.catalogue import datasets as dataset_service
from cityshare.site import Site
from cityshare.storage.schema import datasets
from tests.accounts.people import CITY, PARTNER, People, build_people


def add_datasets(people: People) -> dict[str, int]:
    """One dataset per visibility owned by ``city``, and a private one of ``partner``; ids
    by name."""
    for owner, visibility in ((CITY, "open"), (CITY, "shared"), (CITY, "private")):
        dataset_service.create_dataset(
            people.site,
            people.admin,
            organisation=owner,
            name=f"{owner}-{visibility}",
            visibility=visibility,
        )
    dataset_service.create_dataset(
        people.site, people.admin, organisation=PARTNER, name="partner-private"
    )
    with people.site.engine.connect() as connection:
        rows = connection.execute(select(datasets.c.name, datasets.c.id)).all()
    return {row.name: row.id for row in rows}


def grant_on(dataset_id: int, expires_in: timedelta = timedelta(days=1)) -> GrantTerms:
    expires = datetime.now(UTC).replace(tzinfo=None) + expires_in
    return GrantTerms(
        id=1, dataset_id=dataset_id, permissions=frozenset({"read"}), expires_at=expires
    )


def visible(site: Site, actor: Actor) -> set[str]:
    with site.engine.connect() as connection:
        query = select(datasets.c.name).where(visible_datasets(actor, datasets))
        return set(connection.execute(query).scalars())


def admitted(site: Site, actor: Actor) -> set[str]:
    """The datasets the policy's per-dataset rule admits, one by one."""
    with site.engine.connect() as connection:
        rows = connection.execute(
            select(
                datasets.c.id, datasets.c.name, datasets.c.organisation_id, datasets.c.visibility
            )
        ).all()
    return {
        row.name
        for row in rows
        if can_see_dataset(actor, DatasetResource(row.id, row.organisation_id, row.visibility))
    }


def only_by_grant(site: Site, actor: Actor) -> set[str]:
    condition = seen_only_by_grant(
        actor,
        visibility=datasets.c.visibility,
        organisation_id=datasets.c.organisation_id,
        dataset_id=datasets.c.id,
    )
    with site.engine.connect() as connection:
        return set(connection.execute(select(datasets.c.name).where(condition)).scalars())


def test_the_sql_rule_and_the_policy_agree_for_every_kind_of_actor(site: Site) -> None:
    people = build_people(site)
    ids = add_datasets(people)
    outsider = people.actor("partner-admin")
    grantee = Actor(
        user_id=outsider.user_id,
        username=outsider.username,
        scopes=outsider.scopes,
        roles=outsider.roles,
        grants=(grant_on(ids["city-private"]),),
    )
    expired = Actor(
        user_id=outsider.user_id,
        username=outsider.username,
        scopes=outsider.scopes,
        roles=outsider.roles,
        grants=(grant_on(ids["city-private"], -timedelta(seconds=1)),),
    )
    expected = {
        "anonymous": (ANONYMOUS, {"city-open"}),
        "loner": (people.actor("loner"), {"city-open", "city-shared"}),
        "member": (people.actor("city-member"), {"city-open", "city-shared", "city-private"}),
        "outsider": (outsider, {"city-open", "city-shared", "partner-private"}),
        "grantee": (grantee, {"city-open", "city-shared", "city-private", "partner-private"}),
        "expired": (expired, {"city-open", "city-shared", "partner-private"}),
        "site admin": (people.admin, set(ids)),
    }
    for kind, (actor, names) in expected.items():
        assert visible(site, actor) == names, kind
        assert admitted(site, actor) == names, kind


def test_seen_only_by_grant_selects_what_a_grant_alone_shows(site: Site) -> None:
    people = build_people(site)
    ids = add_datasets(people)
    outsider = people.actor("partner-admin")

    def holding(*dataset_ids: int) -> Actor:
        grants = tuple(grant_on(dataset_id) for dataset_id in dataset_ids)
        return Actor(
            user_id=outsider.user_id,
            username=outsider.username,
            scopes=outsider.scopes,
            roles=outsider.roles,
            grants=grants,
        )

    assert only_by_grant(site, holding(ids["city-private"])) == {"city-private"}
    # Open, shared and one's own datasets are seen without the grant.
    assert only_by_grant(site, holding(ids["city-open"], ids["city-shared"])) == set()
    assert only_by_grant(site, holding(ids["partner-private"])) == set()
    assert only_by_grant(site, outsider) == set()
