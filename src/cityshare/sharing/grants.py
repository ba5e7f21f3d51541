"""Grants: data sharing agreements an owner organisation's admins make, change and revoke.

A grant gives one dataset to another organisation or to a user, for a stated purpose,
under terms, until an expiry, with permissions (``read``, ``write``) and optionally
bounds (columns, a row filter, a minimum group size, pseudonymised columns; see
:mod:`cityshare.bounds.view`). It takes effect at once: the grantee's next request
loads it, and ends at its expiry or revocation the same way. Every change is audited
in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, false, or_, select, update

from cityshare.access import Actor, allowed
from cityshare.audit.log import audit
from cityshare.catalogue.datasets import dataset_resource, dataset_row
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, NotFound
from cityshare.search.index import reindex_dataset
from cityshare.sharing import terms as check
from cityshare.sharing.models import Grant
from cityshare.site import Site
from cityshare.storage.rows import inserted_id, is_row_id, iso
from cityshare.storage.schema import (
    dataset_versions,
    grants,
    memberships,
    organisations,
    users,
)
from cityshare.tables.model import VersionTable, version_table

EDITABLE = frozenset({"purpose", "terms", "expires_at", "permissions", *check.BOUND_KEYS})
REQUIRED = frozenset({"purpose", "expires_at", "permissions"})


def create_grant(site: Site, actor: Actor, name: str, spec: Mapping[str, Any]) -> Grant:
    """Grant dataset ``name`` as ``spec`` says (owner organisation's admins)."""
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "grant.manage")
        grant_id = insert_grant(connection, actor, dataset, spec)
        return describe(connection, _grant_row(connection, dataset.id, grant_id))


def insert_grant(
    connection: Connection,
    actor: Actor,
    dataset: Row[Any],
    spec: Mapping[str, Any],
    request_id: int | None = None,
) -> int:
    """Store a checked grant on ``dataset`` and audit it; its id."""
    values = _checked(connection, dataset, spec)
    values.update(
        _grantee(connection, dataset, spec),
        dataset_id=dataset.id,
        request_id=request_id,
        created_by=actor.user_id,
        created_at=utcnow(),
    )
    _refuse_writing_pseudonyms(connection, values)
    grant_id = inserted_id(connection.execute(grants.insert().values(values)))
    reindex_dataset(connection, dataset.id)  # search: the columns this grant names
    audit(
        connection,
        actor,
        "grant.create",
        dataset_id=dataset.id,
        dataset=dataset.name,
        grant=grant_id,
        detail=_audited(values),
    )
    return grant_id


def list_grants(site: Site, actor: Actor, name: str) -> list[Grant]:
    """A dataset's grants: all of them for its admins, one's own for a grantee."""
    with site.engine.connect() as connection:
        dataset = dataset_row(connection, actor, name, "dataset.view")
        query = select(grants).where(grants.c.dataset_id == dataset.id)
        if not allowed(actor, "grant.view", dataset_resource(dataset)):
            query = query.where(_held_by(actor))
        rows = connection.execute(query.order_by(grants.c.id)).all()
        return [describe(connection, row) for row in rows]


def get_grant(site: Site, actor: Actor, name: str, grant_id: int) -> Grant:
    """One grant, to the dataset's admins and to its grantee; NotFound for anyone else."""
    with site.engine.connect() as connection:
        dataset = dataset_row(connection, actor, name, "dataset.view")
        row = _grant_row(connection, dataset.id, grant_id)
        if not allowed(actor, "grant.view", dataset_resource(dataset)) and not _holds(actor, row):
            raise NotFound(f"No grant {grant_id} on this dataset, or you may not see it.")
        return describe(connection, row)


def update_grant(
    site: Site, actor: Actor, name: str, grant_id: int, changes: Mapping[str, Any]
) -> Grant:
    """Change a live grant's terms (the dataset's admins); it applies at once."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise BadRequest(
            f"Cannot change {sorted(unknown)}: editable are {sorted(EDITABLE)}.",
            parameter=sorted(unknown)[0],
        )
    cleared = sorted(key for key in REQUIRED if key in changes and changes[key] is None)
    if cleared:
        raise BadRequest(f"'{cleared[0]}' cannot be removed from a grant.", parameter=cleared[0])
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "grant.manage")
        row = _grant_row(connection, dataset.id, grant_id)
        if row.revoked_at is not None:
            raise Conflict(f"Grant {grant_id} was revoked; make a new grant instead.")
        if not changes:  # nothing to change: the grant as it is, and nothing audited
            return describe(connection, row)
        merged = {**_spec_of(row), **changes}
        checked = _checked(connection, dataset, merged)
        values = {key: value for key, value in checked.items() if key in changes}
        _refuse_writing_pseudonyms(connection, {**row._mapping, **checked})
        connection.execute(update(grants).where(grants.c.id == grant_id).values(values))
        reindex_dataset(connection, dataset.id)
        audit(
            connection,
            actor,
            "grant.update",
            dataset_id=dataset.id,
            dataset=name,
            grant=grant_id,
            detail=_audited(values),
        )
        return describe(connection, _grant_row(connection, dataset.id, grant_id))


def revoke_grant(site: Site, actor: Actor, name: str, grant_id: int) -> Grant:
    """End a grant now (the dataset's admins); the grantee's next request is refused."""
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "grant.manage")
        row = _grant_row(connection, dataset.id, grant_id)
        if row.revoked_at is None:
            connection.execute(
                update(grants)
                .where(grants.c.id == grant_id)
                .values(revoked_at=utcnow(), revoked_by=actor.user_id)
            )
            reindex_dataset(connection, dataset.id)
            audit(
                connection,
                actor,
                "grant.revoke",
                dataset_id=dataset.id,
                dataset=name,
                grant=grant_id,
            )
        return describe(connection, _grant_row(connection, dataset.id, grant_id))


def describe(connection: Connection, row: Row[Any]) -> Grant:
    """A grant as the API shows it."""
    now = utcnow()
    status = "revoked" if row.revoked_at else ("expired" if row.expires_at <= now else "active")
    shown = {
        "id": row.id,
        "grantee": _grantee_names(connection, row),
        **_spec_of(row),
        "status": status,
        "expires_at": iso(row.expires_at),
        "created_at": iso(row.created_at),
        "created_by": _username(connection, row.created_by),
        "revoked_at": iso(row.revoked_at),
        "request_id": row.request_id,
    }
    return Grant.model_validate(shown)


def current_table(connection: Connection, dataset: Row[Any]) -> VersionTable | None:
    """The current version's table of ``dataset`` (None before the first upload)."""
    if dataset.current_version is None:
        return None
    row = connection.execute(
        select(dataset_versions.c.table_name, dataset_versions.c.schema).where(
            dataset_versions.c.dataset_id == dataset.id,
            dataset_versions.c.number == dataset.current_version,
        )
    ).one()
    return version_table(row.table_name, row.schema)


def _checked(
    connection: Connection,
    dataset: Row[Any],
    spec: Mapping[str, Any],
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "purpose": check.checked_text(
            spec.get("purpose"), "purpose", check.MAX_PURPOSE_CHARS, required=True
        ),
        "terms": check.checked_text(
            spec.get("terms"), "terms", check.MAX_TERMS_CHARS, required=False
        ),
        "expires_at": check.checked_expiry(spec.get("expires_at")),
        "permissions": check.checked_permissions(spec.get("permissions")),
    }
    values.update(check.checked_bounds(spec, current_table(connection, dataset), dataset.kind))
    return values


def _refuse_writing_pseudonyms(connection: Connection, grant: Mapping[str, Any]) -> None:
    """Conflict when ``grant`` (a grants row's values, ``id`` when stored) would let its
    grantee write the dataset while reading pseudonyms of it, alone or with another live
    grant to the same grantee: a writer writes chosen values and reads back their
    pseudonyms, which reverses them. The policy refuses such writes whatever the grants
    (:func:`cityshare.access.grants.pick_grant`); this tells the owner when granting."""
    if "write" not in str(grant["permissions"]).split(",") and not grant["pseudonymised"]:
        return
    same_grantee = (
        grants.c.grantee_user_id == grant["grantee_user_id"]
        if grant["grantee_user_id"] is not None
        else grants.c.grantee_organisation_id == grant["grantee_organisation_id"]
    )
    others = connection.execute(
        select(grants.c.permissions, grants.c.pseudonymised).where(
            grants.c.dataset_id == grant["dataset_id"],
            same_grantee,
            grants.c.id != grant.get("id", -1),
            grants.c.revoked_at.is_(None),
            grants.c.expires_at > utcnow(),
        )
    ).all()
    held = [(str(grant["permissions"]), grant["pseudonymised"])]
    held += [(str(other.permissions), other.pseudonymised) for other in others]
    writes = any("write" in permissions.split(",") for permissions, _ in held)
    if writes and any(pseudonymised for _, pseudonymised in held):
        raise Conflict(
            "A grantee who reads pseudonyms of a dataset may not write it: written values "
            "would give away what the pseudonyms hide. Leave out 'write', or "
            "'pseudonymised' (in this grant and in the grantee's other live grants here)."
        )


def _spec_of(row: Row[Any]) -> dict[str, Any]:
    return {
        "purpose": row.purpose,
        "terms": row.terms,
        "expires_at": row.expires_at,
        "permissions": str(row.permissions).split(","),
        "columns": row.columns,
        "row_filter": None if row.row_filter is None else dict(row.row_filter),
        "min_group_size": row.min_group_size,
        "pseudonymised": row.pseudonymised,
    }


def _grantee(connection: Connection, dataset: Row[Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    organisation, username = spec.get("organisation"), spec.get("user")
    if (organisation is None) == (username is None):
        raise BadRequest(
            "Name exactly one grantee: 'organisation' or 'user'.", parameter="organisation"
        )
    if organisation is not None:
        found = connection.execute(
            select(organisations.c.id).where(organisations.c.name == str(organisation))
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"No organisation named {str(organisation)[:80]!r}.")
        if found == dataset.organisation_id:
            raise Conflict("The owner organisation reads its own datasets without a grant.")
        return {"grantee_organisation_id": found, "grantee_user_id": None}
    user_id = connection.execute(
        select(users.c.id).where(users.c.username == str(username))
    ).scalar_one_or_none()
    if user_id is None:
        raise NotFound(f"No user named {str(username)[:80]!r}.")
    member = connection.execute(
        select(memberships.c.user_id).where(
            memberships.c.user_id == user_id,
            memberships.c.organisation_id == dataset.organisation_id,
        )
    ).first()
    if member is not None:
        raise Conflict(f"{username!r} is a member of the owner organisation already.")
    return {"grantee_user_id": user_id, "grantee_organisation_id": None}


def _grant_row(connection: Connection, dataset_id: int, grant_id: int) -> Row[Any]:
    row = None
    if is_row_id(grant_id):
        row = connection.execute(
            select(grants).where(grants.c.id == grant_id, grants.c.dataset_id == dataset_id)
        ).first()
    if row is None:
        raise NotFound(f"No grant {grant_id} on this dataset, or you may not see it.")
    return row


def _held_by(actor: Actor) -> Any:
    if actor.user_id is None:
        return false()  # anonymous visitors hold no grants
    held = grants.c.grantee_user_id == actor.user_id
    organisation_ids = list(actor.roles)
    if organisation_ids:
        held = or_(held, grants.c.grantee_organisation_id.in_(organisation_ids))
    return held


def _holds(actor: Actor, row: Row[Any]) -> bool:
    if actor.user_id is not None and row.grantee_user_id == actor.user_id:
        return True
    return row.grantee_organisation_id in actor.roles


def _grantee_names(connection: Connection, row: Row[Any]) -> dict[str, Any]:
    if row.grantee_user_id is not None:
        return {"user": _username(connection, row.grantee_user_id)}
    name = connection.execute(
        select(organisations.c.name).where(organisations.c.id == row.grantee_organisation_id)
    ).scalar_one()
    return {"organisation": name}


def _username(connection: Connection, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    found = connection.execute(select(users.c.username).where(users.c.id == user_id)).scalar()
    return None if found is None else str(found)


def _audited(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: iso(value) if isinstance(value, datetime) else value for key, value in values.items()
    }
