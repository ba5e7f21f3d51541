"""Loading the live grants of a user (to them or to one of their organisations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, bindparam, or_, select

from cityshare.access.grants import GrantTerms
from cityshare.clock import utcnow
from cityshare.storage.schema import grants, memberships


def live_grants(connection: Connection, user_id: int) -> tuple[GrantTerms, ...]:
    """Every unrevoked, unexpired grant made to the user or to an organisation they are a
    member of."""
    rows = connection.execute(_LIVE_GRANTS, {"user_id": user_id, "now": utcnow()}).all()
    return tuple(grant_terms(row) for row in rows)


def _live_grants_statement() -> Select[Any]:
    # Built once with bound parameters: this runs on every authenticated request.
    member = memberships.c.user_id.is_not(None)
    return (
        select(grants)
        .outerjoin(
            memberships,
            (memberships.c.organisation_id == grants.c.grantee_organisation_id)
            & (memberships.c.user_id == bindparam("user_id")),
        )
        .where(
            or_(grants.c.grantee_user_id == bindparam("user_id"), member),
            grants.c.revoked_at.is_(None),
            grants.c.expires_at > bindparam("now"),
        )
    )


_LIVE_GRANTS = _live_grants_statement()


def grant_terms(row: Any) -> GrantTerms:
    """The policy's view of a stored grant row."""
    return GrantTerms(
        id=row.id,
        dataset_id=row.dataset_id,
        permissions=frozenset(str(row.permissions).split(",")),
        expires_at=row.expires_at,
        to_user=row.grantee_user_id is not None,
        columns=None if row.columns is None else tuple(row.columns),
        row_filter=tuple((str(name), str(value)) for name, value in (row.row_filter or [])),
        min_group_size=row.min_group_size,
        pseudonymised=tuple(row.pseudonymised or ()),
    )
