"""The bounded view one reader gets (cityshare.bounds.view): owners read everything, a
grantee what their grant names, anyone else the public columns of open data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityshare.access import Actor, DatasetResource, Role
from cityshare.access.grants import GrantTerms
from cityshare.bounds.view import (
    PSEUDONYM_PROPERTY,
    pseudonym_key,
    read_view,
    reading_grant,
    restricted,
    visible_schema,
)
from cityshare.errors import Forbidden
from cityshare.query.spec import UNBOUNDED
from cityshare.tables.model import PSEUDONYM_TYPE, version_table

SECRET = b"test-secret"
OWNER_ORG, OTHER_ORG = 1, 2
DATASET = DatasetResource(id=5, organisation_id=OWNER_ORG, visibility="open")
SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "junction", "type": "string"},
        {"name": "plate", "type": "string"},
        {"name": "cars", "type": "integer"},
        {"name": "lon", "type": "number"},
        {"name": "lat", "type": "number"},
    ],
    "primaryKey": "plate",
    "foreignKeys": [{"fields": "junction", "reference": {"resource": "junctions"}}],
    "x-cityshare-point": {"longitude": "lon", "latitude": "lat"},
}
CLASSES = {"plate": "personal"}
TABLE = version_table("v_test", SCHEMA)
EVERY = ["junction", "plate", "cars", "lon", "lat"]


def terms(**bounds: Any) -> GrantTerms:
    values: dict[str, Any] = {
        "id": 11,
        "dataset_id": DATASET.id,
        "permissions": frozenset({"read"}),
        "expires_at": datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1),
        **bounds,
    }
    return GrantTerms(**values)


def grantee(*grants: GrantTerms) -> Actor:
    return Actor(user_id=9, username="grantee", roles={OTHER_ORG: Role.ADMIN}, grants=grants)


OWNER = Actor(user_id=2, username="owner", roles={OWNER_ORG: Role.MEMBER})
SITE_ADMIN = Actor(user_id=1, username="admin", is_site_admin=True)
OUTSIDER = Actor(user_id=3, username="outsider", roles={OTHER_ORG: Role.ADMIN})


def names(actor: Actor) -> list[str]:
    return [field.name for field in read_view(actor, DATASET, TABLE, CLASSES, SECRET).table.fields]


@pytest.mark.parametrize("reader", [OWNER, SITE_ADMIN], ids=["owner-member", "site-admin"])
def test_owners_read_the_whole_table_unbounded(reader: Actor) -> None:
    view = read_view(reader, DATASET, TABLE, CLASSES, SECRET)
    assert view.table is TABLE and view.bounds == UNBOUNDED and view.grant_id is None
    assert reading_grant(reader, DATASET) is None
    assert visible_schema(reader, DATASET, SCHEMA, CLASSES)["primaryKey"] == "plate"


def test_without_a_grant_a_reader_gets_the_public_columns() -> None:
    view = read_view(OUTSIDER, DATASET, TABLE, CLASSES, SECRET)
    assert [field.name for field in view.table.fields] == ["junction", "cars", "lon", "lat"]
    assert view.grant_id is None and view.bounds == UNBOUNDED
    assert view.table.point is not None  # both coordinates are public
    shown = visible_schema(OUTSIDER, DATASET, SCHEMA, CLASSES)
    assert [spec["name"] for spec in shown["fields"]] == ["junction", "cars", "lon", "lat"]
    assert "primaryKey" not in shown  # it names the hidden plate
    assert "foreignKeys" not in shown


def test_a_grant_without_columns_gives_the_public_columns_within_its_rows() -> None:
    reader = grantee(terms(row_filter=(("cars__gte", "10"),), min_group_size=3))
    view = read_view(reader, DATASET, TABLE, CLASSES, SECRET)
    assert [field.name for field in view.table.fields] == ["junction", "cars", "lon", "lat"]
    assert view.grant_id == 11 and reading_grant(reader, DATASET) == 11
    assert view.bounds.min_group_size == 3
    [bound] = view.bounds.filters
    assert (bound.field.name, bound.op, bound.value) == ("cars", "gte", 10)


def test_a_grant_reaches_a_personal_column_only_by_naming_it() -> None:
    assert names(grantee(terms(columns=("junction", "plate")))) == ["junction", "plate"]
    shown = visible_schema(grantee(terms(columns=("plate",))), DATASET, SCHEMA, CLASSES)
    assert shown["fields"] == [{"name": "plate", "type": "string", "classification": "personal"}]
    assert shown["primaryKey"] == "plate"
    assert "x-cityshare-point" not in shown  # its coordinates are not granted


def test_pseudonymised_columns_are_hashed_with_the_grants_own_key() -> None:
    reader = grantee(terms(columns=("plate", "lon", "lat"), pseudonymised=("plate", "lon")))
    view = read_view(reader, DATASET, TABLE, CLASSES, SECRET)
    plate = view.table.field("plate")
    assert plate is not None and plate.type == PSEUDONYM_TYPE
    assert plate.key == pseudonym_key(SECRET, 11)
    assert view.table.point is None  # a pseudonymised coordinate makes no point
    shown = visible_schema(reader, DATASET, SCHEMA, CLASSES)
    assert shown["fields"][0] == {
        "name": "plate",
        "type": "string",
        "classification": "personal",
        PSEUDONYM_PROPERTY: True,
    }


def test_pseudonym_keys_differ_by_grant_and_by_secret() -> None:
    key = pseudonym_key(SECRET, 11)
    assert len(key) == 32 and key == pseudonym_key(SECRET, 11)
    assert key != pseudonym_key(SECRET, 12) and key != pseudonym_key(b"other", 11)


def test_a_row_filter_that_no_longer_fits_fails_closed() -> None:
    reader = grantee(terms(row_filter=(("plate", "AB-12"),), columns=("junction",)))
    renamed = version_table("v_renamed", {"fields": [{"name": "junction"}, {"name": "cars"}]})
    with pytest.raises(Forbidden, match="grant 11"):
        read_view(reader, DATASET, renamed, CLASSES, SECRET)


def test_an_expired_grant_is_no_view() -> None:
    expired = terms(columns=("plate",), expires_at=datetime(2000, 1, 1))
    reader = grantee(expired)
    assert names(reader) == ["junction", "cars", "lon", "lat"]
    assert reading_grant(reader, DATASET) is None


def test_a_grant_to_the_user_comes_before_one_to_their_organisation() -> None:
    to_organisation = terms(id=20, columns=("junction",))
    to_user = terms(id=12, columns=("cars",), to_user=True)
    reader = grantee(to_organisation, to_user)
    assert names(reader) == ["cars"] and reading_grant(reader, DATASET) == 12


def test_restricted_keeps_the_table_when_nothing_is_left_out() -> None:
    assert restricted(TABLE, EVERY) is TABLE
    narrowed = restricted(TABLE, ["cars", "lat"])
    assert [field.name for field in narrowed.fields] == ["cars", "lat"]
    assert narrowed.table is TABLE.table and narrowed.point is None
