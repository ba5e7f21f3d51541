"""Routes for sharing: grants, access requests, and a dataset's access log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cityshare.api.sharing_models import (
    AccessRequestApprove,
    AccessRequestCreate,
    AccessRequestDecline,
    GrantCreate,
    GrantUpdate,
)
from cityshare.catalogue import access_log as reading
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.sharing import grants, requests

router = APIRouter(tags=["sharing"])


@router.get("/datasets/{name}/grants")
def list_grants(name: str, site: SiteDep, actor: ActorDep) -> list[dict[str, Any]]:
    """A dataset's grants (its admins see all; a grantee sees its own)."""
    return grants.list_grants(site, actor, name)


@router.post("/datasets/{name}/grants", status_code=201)
def create_grant(name: str, body: GrantCreate, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Grant the dataset to an organisation or a user (the owner's admins)."""
    return grants.create_grant(site, actor, name, body.model_dump())


@router.get("/datasets/{name}/grants/{grant_id}")
def get_grant(name: str, grant_id: int, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """One grant (the owner's admins and the grantee)."""
    return grants.get_grant(site, actor, name, grant_id)


@router.patch("/datasets/{name}/grants/{grant_id}")
def update_grant(
    name: str, grant_id: int, body: GrantUpdate, site: SiteDep, actor: ActorDep
) -> dict[str, Any]:
    """Change a grant's terms, expiry or bounds (the owner's admins); applies at once."""
    return grants.update_grant(site, actor, name, grant_id, body.changes())


@router.delete("/datasets/{name}/grants/{grant_id}")
def revoke_grant(name: str, grant_id: int, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Revoke a grant now (the owner's admins)."""
    return grants.revoke_grant(site, actor, name, grant_id)


@router.get("/datasets/{name}/access-requests")
def list_requests(
    name: str,
    site: SiteDep,
    actor: ActorDep,
    status: str | None = Query(None, description="pending, approved, declined or withdrawn"),
) -> list[dict[str, Any]]:
    """Requests for access (the owner's admins see all; a requester sees their own)."""
    return requests.list_requests(site, actor, name, status)


@router.post("/datasets/{name}/access-requests", status_code=201)
def create_request(
    name: str, body: AccessRequestCreate, site: SiteDep, actor: ActorDep
) -> dict[str, Any]:
    """Ask the owner for access, stating a purpose (anyone signed in who can see it)."""
    return requests.create_request(
        site, actor, name, purpose=body.purpose, organisation=body.organisation
    )


@router.get("/datasets/{name}/access-requests/{request_id}")
def get_request(name: str, request_id: int, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """One request and its outcome (the owner's admins and the requester)."""
    return requests.get_request(site, actor, name, request_id)


@router.post("/datasets/{name}/access-requests/{request_id}/approve")
def approve_request(
    name: str, request_id: int, body: AccessRequestApprove, site: SiteDep, actor: ActorDep
) -> dict[str, Any]:
    """Approve a pending request, creating a grant on these terms (the owner's admins)."""
    terms = body.model_dump(exclude_none=True)
    return requests.approve_request(site, actor, name, request_id, terms)


@router.post("/datasets/{name}/access-requests/{request_id}/decline")
def decline_request(
    name: str, request_id: int, body: AccessRequestDecline, site: SiteDep, actor: ActorDep
) -> dict[str, Any]:
    """Decline a pending request with a reason (the owner's admins)."""
    return requests.decline_request(site, actor, name, request_id, body.reason)


@router.delete("/datasets/{name}/access-requests/{request_id}")
def withdraw_request(name: str, request_id: int, site: SiteDep, actor: ActorDep) -> dict[str, Any]:
    """Withdraw your own pending request."""
    return requests.withdraw_request(site, actor, name, request_id)


@router.get("/me/access-requests")
def my_requests(site: SiteDep, actor: ActorDep) -> list[dict[str, Any]]:
    """Every access request you made, newest first, with its outcome."""
    return requests.my_requests(site, actor)


@router.get("/datasets/{name}/access-log")
def access_log(
    name: str,
    site: SiteDep,
    actor: ActorDep,
    after: int = Query(0, ge=0, description="Continue after this sequence number."),
    limit: int = Query(100, ge=1, le=reading.MAX_PAGE),
) -> dict[str, Any]:
    """Who read or changed the dataset, when, and under which grant (the owner's admins)."""
    return reading.access_log(site, actor, name, after=after, limit=limit)
