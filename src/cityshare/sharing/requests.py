"""Access requests: a signed-in user asks a dataset's owner for access, stating a purpose.

The owner organisation's admins see pending requests and approve one (which makes a
grant, with terms they may adjust first) or decline it with a reason; the requester
sees the outcome, and may withdraw a request still pending. A request may be made for
oneself or on behalf of an organisation one is an admin of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, select, update

from cityshare.access import (
    Actor,
    OrganisationResource,
    allowed,
    ensure_allowed,
)
from cityshare.audit.log import audit
from cityshare.catalogue.datasets import dataset_resource, dataset_row
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound
from cityshare.sharing.grants import insert_grant
from cityshare.sharing.models import AccessRequest
from cityshare.sharing.terms import MAX_PURPOSE_CHARS, checked_text
from cityshare.site import Site
from cityshare.storage.rows import inserted_id, is_row_id, iso
from cityshare.storage.schema import access_requests, datasets, organisations, users

STATUSES = ("pending", "approved", "declined", "withdrawn")


def create_request(
    site: Site, actor: Actor, name: str, *, purpose: str, organisation: str | None = None
) -> AccessRequest:
    """Ask for access to dataset ``name`` (anyone signed in who can see it)."""
    purpose = checked_text(purpose, "purpose", MAX_PURPOSE_CHARS, required=True)
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "access.request")
        if actor.role_in(dataset.organisation_id) is not None:
            raise Conflict("You are a member of the owner organisation: you have access.")
        on_behalf = _on_behalf_of(connection, actor, organisation)
        _refuse_second_pending(connection, dataset.id, actor)
        request_id = inserted_id(
            connection.execute(
                access_requests.insert().values(
                    dataset_id=dataset.id,
                    requester_id=actor.user_id,
                    organisation_id=on_behalf,
                    purpose=purpose,
                    status="pending",
                    reason="",
                    created_at=utcnow(),
                )
            )
        )
        audit(
            connection,
            actor,
            "access.request",
            dataset_id=dataset.id,
            dataset=name,
            request=request_id,
            detail={"purpose": purpose, "organisation": organisation},
        )
        return describe(connection, _request_row(connection, dataset.id, request_id))


def list_requests(
    site: Site, actor: Actor, name: str, status: str | None = None
) -> list[AccessRequest]:
    """A dataset's requests: all for its admins, one's own for anyone else."""
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}.", parameter="status")
    with site.engine.connect() as connection:
        dataset = dataset_row(connection, actor, name, "dataset.view")
        query = select(access_requests).where(access_requests.c.dataset_id == dataset.id)
        if not allowed(actor, "grant.view", dataset_resource(dataset)):
            query = query.where(access_requests.c.requester_id == actor.user_id)
        if status is not None:
            query = query.where(access_requests.c.status == status)
        rows = connection.execute(query.order_by(access_requests.c.id)).all()
        return [describe(connection, row) for row in rows]


def my_requests(site: Site, actor: Actor) -> list[AccessRequest]:
    """Every request the actor made, on any dataset, newest first."""
    if actor.user_id is None:
        return []
    with site.engine.connect() as connection:
        rows = connection.execute(
            select(access_requests)
            .where(access_requests.c.requester_id == actor.user_id)
            .order_by(access_requests.c.id.desc())
        ).all()
        return [describe(connection, row) for row in rows]


def get_request(site: Site, actor: Actor, name: str, request_id: int) -> AccessRequest:
    """One request, to the dataset's admins and its requester."""
    with site.engine.connect() as connection:
        dataset = dataset_row(connection, actor, name, "dataset.view")
        return describe(connection, _visible_request(connection, actor, dataset, request_id))


def approve_request(
    site: Site, actor: Actor, name: str, request_id: int, terms: Mapping[str, Any]
) -> AccessRequest:
    """Approve a pending request: a grant to the requester (or the organisation they
    asked for) on ``terms`` — expiry, permissions and bounds the admin chose."""
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "grant.manage")
        row = _pending(connection, dataset.id, request_id)
        grantee = _grantee_of(connection, row)
        spec = {"purpose": row.purpose, **terms, **grantee}
        grant_id = insert_grant(connection, actor, dataset, spec, request_id=request_id)
        _decide(connection, actor, dataset, row, "approved", "", grant_id)
        return describe(connection, _request_row(connection, dataset.id, request_id))


def decline_request(
    site: Site, actor: Actor, name: str, request_id: int, reason: str
) -> AccessRequest:
    """Decline a pending request, with a reason the requester sees."""
    reason = checked_text(reason, "reason", MAX_PURPOSE_CHARS, required=True)
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "grant.manage")
        row = _pending(connection, dataset.id, request_id)
        _decide(connection, actor, dataset, row, "declined", reason, None)
        return describe(connection, _request_row(connection, dataset.id, request_id))


def withdraw_request(site: Site, actor: Actor, name: str, request_id: int) -> AccessRequest:
    """The requester withdraws a request still pending (the right to ask: a read-only
    token may not)."""
    with site.writer.begin() as connection:
        dataset = dataset_row(connection, actor, name, "access.request")
        row = _visible_request(connection, actor, dataset, request_id)
        if row.requester_id != actor.user_id:  # not even a site administrator withdraws it
            raise Forbidden("Only the requester can withdraw a request.")
        if row.status != "pending":
            raise Conflict(f"Request {request_id} is {row.status} already.")
        _decide(connection, actor, dataset, row, "withdrawn", "", None)
        return describe(connection, _request_row(connection, dataset.id, request_id))


def describe(connection: Connection, row: Row[Any]) -> AccessRequest:
    """A request as the API shows it."""
    names = connection.execute(
        select(datasets.c.name, users.c.username)
        .select_from(datasets)
        .join(users, users.c.id == row.requester_id)
        .where(datasets.c.id == row.dataset_id)
    ).one()
    organisation = None
    if row.organisation_id is not None:
        organisation = connection.execute(
            select(organisations.c.name).where(organisations.c.id == row.organisation_id)
        ).scalar()
    shown = {
        "id": row.id,
        "dataset": names.name,
        "requester": names.username,
        "organisation": organisation,
        "purpose": row.purpose,
        "status": row.status,
        "reason": row.reason or None,
        "grant_id": row.grant_id,
        "created_at": iso(row.created_at),
        "decided_at": iso(row.decided_at),
    }
    return AccessRequest.model_validate(shown)


def _on_behalf_of(connection: Connection, actor: Actor, organisation: str | None) -> int | None:
    if organisation is None:
        return None
    found = connection.execute(
        select(organisations.c.id).where(organisations.c.name == organisation)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No organisation named {organisation[:80]!r}.")
    ensure_allowed(actor, "access.request.on-behalf", OrganisationResource(found, organisation))
    return int(found)


def _refuse_second_pending(connection: Connection, dataset_id: int, actor: Actor) -> None:
    pending = connection.execute(
        select(access_requests.c.id).where(
            access_requests.c.dataset_id == dataset_id,
            access_requests.c.requester_id == actor.user_id,
            access_requests.c.status == "pending",
        )
    ).first()
    if pending is not None:
        raise Conflict(
            f"You have a pending request ({pending.id}) for this dataset: wait for the "
            "owner's answer or withdraw it first."
        )


def _request_row(connection: Connection, dataset_id: int, request_id: int) -> Row[Any]:
    row = None
    if is_row_id(request_id):
        row = connection.execute(
            select(access_requests).where(
                access_requests.c.id == request_id, access_requests.c.dataset_id == dataset_id
            )
        ).first()
    if row is None:
        raise NotFound(f"No access request {request_id} on this dataset, or you may not see it.")
    return row


def _visible_request(
    connection: Connection, actor: Actor, dataset: Row[Any], request_id: int
) -> Row[Any]:
    row = _request_row(connection, dataset.id, request_id)
    admin = allowed(actor, "grant.view", dataset_resource(dataset))
    if not admin and row.requester_id != actor.user_id:
        raise NotFound(f"No access request {request_id} on this dataset, or you may not see it.")
    return row


def _pending(connection: Connection, dataset_id: int, request_id: int) -> Row[Any]:
    row = _request_row(connection, dataset_id, request_id)
    if row.status != "pending":
        raise Conflict(f"Request {request_id} is {row.status} already.")
    return row


def _grantee_of(connection: Connection, row: Row[Any]) -> dict[str, str]:
    if row.organisation_id is not None:
        name = connection.execute(
            select(organisations.c.name).where(organisations.c.id == row.organisation_id)
        ).scalar_one()
        return {"organisation": name}
    username = connection.execute(
        select(users.c.username).where(users.c.id == row.requester_id)
    ).scalar_one()
    return {"user": username}


def _decide(
    connection: Connection,
    actor: Actor,
    dataset: Row[Any],
    row: Row[Any],
    status: str,
    reason: str,
    grant_id: int | None,
) -> None:
    connection.execute(
        update(access_requests)
        .where(access_requests.c.id == row.id)
        .values(
            status=status,
            reason=reason,
            grant_id=grant_id,
            decided_by=actor.user_id,
            decided_at=utcnow(),
        )
    )
    audit(
        connection,
        actor,
        f"access.request.{status}",
        dataset_id=dataset.id,
        dataset=dataset.name,
        request=row.id,
        detail={"reason": reason, "grant": grant_id},
    )
