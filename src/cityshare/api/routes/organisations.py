"""Routes for organisations and their members."""

from __future__ import annotations

from fastapi import APIRouter

from cityshare.accounts import organisations as service
from cityshare.accounts.models import Member, Membership, Organisation
from cityshare.api.models import MemberSet, OrganisationCreate, OrganisationUpdate
from cityshare.http.deps import ActorDep, SiteDep

router = APIRouter(tags=["organisations"])


@router.get("/organisations", response_model=list[Organisation])
def list_organisations(site: SiteDep, actor: ActorDep) -> list[Organisation]:
    """All organisations."""
    return service.list_organisations(site, actor)


@router.post("/organisations", status_code=201, response_model=Organisation)
def create_organisation(body: OrganisationCreate, site: SiteDep, actor: ActorDep) -> Organisation:
    """Create an organisation (site administrators)."""
    return service.create_organisation(site, actor, **body.model_dump())


@router.get("/organisations/{name}", response_model=Organisation)
def get_organisation(name: str, site: SiteDep, actor: ActorDep) -> Organisation:
    """One organisation."""
    return service.get_organisation(site, actor, name)


@router.patch("/organisations/{name}", response_model=Organisation)
def update_organisation(
    name: str, body: OrganisationUpdate, site: SiteDep, actor: ActorDep
) -> Organisation:
    """Change an organisation's title or description (its admins)."""
    return service.update_organisation(site, actor, name, body.model_dump(exclude_unset=True))


@router.get("/organisations/{name}/members", response_model=list[Member])
def list_members(name: str, site: SiteDep, actor: ActorDep) -> list[Member]:
    """Members and their roles (visible to members)."""
    return service.list_members(site, actor, name)


@router.put("/organisations/{name}/members/{username}", response_model=Membership)
def set_member(
    name: str, username: str, body: MemberSet, site: SiteDep, actor: ActorDep
) -> Membership:
    """Add a member or change their role (the organisation's admins)."""
    return service.set_member(site, actor, name, username, body.role)


@router.delete("/organisations/{name}/members/{username}", status_code=204)
def remove_member(name: str, username: str, site: SiteDep, actor: ActorDep) -> None:
    """Remove a member (the organisation's admins)."""
    service.remove_member(site, actor, name, username)
