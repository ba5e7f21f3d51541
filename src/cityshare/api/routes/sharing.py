"""Routes for sharing: grants, access requests, and a dataset's access log."""

from __future__ import annotations

from fastapi import APIRouter, Query

from cityshare.api.sharing_models import (
    AccessRequestApprove,
    AccessRequestCreate,
    AccessRequestDecline,
    GrantCreate,
    GrantUpdate,
)
from cityshare.catalogue import access_log as reading
from cityshare.catalogue.access_log import AccessLog
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.sharing import grants, requests
from cityshare.sharing.models import AccessRequest, Grant

router = APIRouter(tags=["sharing"])


@router.get("/datasets/{name}/grants", response_model=list[Grant])
def list_grants(name: str, site: SiteDep, actor: ActorDep) -> list[Grant]:
    """A dataset's grants (its admins see all; a grantee sees its own)."""
    return grants.list_grants(site, actor, name)


@router.post("/datasets/{name}/grants", status_code=201, response_model=Grant)
def create_grant(name: str, body: GrantCreate, site: SiteDep, actor: ActorDep) -> Grant:
    """Grant the dataset to an organisation or a user (the owner's admins)."""
    return grants.create_grant(site, actor, name, body.model_dump())


@router.get("/datasets/{name}/grants/{grant_id}", response_model=Grant)
def get_grant(name: str, grant_id: int, site: SiteDep, actor: ActorDep) -> Grant:
    """One grant (the owner's admins and the grantee)."""
    return grants.get_grant(site, actor, name, grant_id)


@router.patch("/datasets/{name}/grants/{grant_id}", response_model=Grant)
def update_grant(
    name: str, grant_id: int, body: GrantUpdate, site: SiteDep, actor: ActorDep
) -> Grant:
    """Change a grant's terms, expiry or bounds (the owner's admins); applies at once."""
    return grants.update_grant(site, actor, name, grant_id, body.changes())


@router.delete("/datasets/{name}/grants/{grant_id}", response_model=Grant)
def revoke_grant(name: str, grant_id: int, site: SiteDep, actor: ActorDep) -> Grant:
    """Revoke a grant now (the owner's admins)."""
    return grants.revoke_grant(site, actor, name, grant_id)


@router.get("/datasets/{name}/access-requests", response_model=list[AccessRequest])
def list_requests(
    name: str,
    site: SiteDep,
    actor: ActorDep,
    status: str | None = Query(None, description="pending, approved, declined or withdrawn"),
) -> list[AccessRequest]:
    """Requests for access (the owner's admins see all; a requester sees their own)."""
    return requests.list_requests(site, actor, name, status)


@router.post("/datasets/{name}/access-requests", status_code=201, response_model=AccessRequest)
def create_request(
    name: str, body: AccessRequestCreate, site: SiteDep, actor: ActorDep
) -> AccessRequest:
    """Ask the owner for access, stating a purpose (anyone signed in who can see it)."""
    return requests.create_request(
        site, actor, name, purpose=body.purpose, organisation=body.organisation
    )


@router.get("/datasets/{name}/access-requests/{request_id}", response_model=AccessRequest)
def get_request(name: str, request_id: int, site: SiteDep, actor: ActorDep) -> AccessRequest:
    """One request and its outcome (the owner's admins and the requester)."""
    return requests.get_request(site, actor, name, request_id)


@router.post("/datasets/{name}/access-requests/{request_id}/approve", response_model=AccessRequest)
def approve_request(
    name: str, request_id: int, body: AccessRequestApprove, site: SiteDep, actor: ActorDep
) -> AccessRequest:
    """Approve a pending request, creating a grant on these terms (the owner's admins)."""
    terms = body.model_dump(exclude_none=True)
    return requests.approve_request(site, actor, name, request_id, terms)


@router.post("/datasets/{name}/access-requests/{request_id}/decline", response_model=AccessRequest)
def decline_request(
    name: str, request_id: int, body: AccessRequestDecline, site: SiteDep, actor: ActorDep
) -> AccessRequest:
    """Decline a pending request with a reason (the owner's admins)."""
    return requests.decline_request(site, actor, name, request_id, body.reason)


@router.delete("/datasets/{name}/access-requests/{request_id}", response_model=AccessRequest)
def withdraw_request(name: str, request_id: int, site: SiteDep, actor: ActorDep) -> AccessRequest:
    """Withdraw your own pending request."""
    return requests.withdraw_request(site, actor, name, request_id)


@router.get("/me/access-requests", response_model=list[AccessRequest])
def my_requests(site: SiteDep, actor: ActorDep) -> list[AccessRequest]:
    """Every access request you made, newest first, with its outcome."""
    return requests.my_requests(site, actor)


@router.get("/datasets/{name}/access-log", response_model=AccessLog)
def access_log(
    name: str,
    site: SiteDep,
    actor: ActorDep,
    after: int = Query(0, ge=0, description="Continue after this sequence number."),
    limit: int = Query(100, ge=1, le=reading.MAX_PAGE),
) -> AccessLog:
    """Who read or changed the dataset, when, and under which grant (the owner's admins)."""
    return reading.access_log(site, actor, name, after=after, limit=limit)
