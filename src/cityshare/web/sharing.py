"""The sharing pages' routes: ask for access; approve, decline and revoke (the owner's
admins); each a POST form with a CSRF token over the sharing services."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from cityshare.errors import CityshareError
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.sharing import grants, requests
from cityshare.web.render import page
from cityshare.web.sharing_view import end_of_day, sharing_page
from cityshare.web.visits import Form, act, error_page, remember, visit_of

router = APIRouter(include_in_schema=False)


@router.get("/dataset/{name}/sharing")
async def sharing(name: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """The dataset's pending requests, grants and access log (its admins)."""
    seen = visit_of(request, site, actor)
    try:
        shown = await run_in_threadpool(sharing_page, site, actor, name)
        answer = page("sharing.html", visit=seen, name=name, **shown)
    except CityshareError as error:
        return error_page(request, seen, error)
    return remember(answer, request, seen)


@router.post("/dataset/{name}/request-access")
async def request_access(name: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Ask the owner for access, with a purpose."""

    def ask(form: Form) -> None:
        organisation = form.get("organisation") or None
        requests.create_request(
            site, actor, name, purpose=form.get("purpose", ""), organisation=organisation
        )

    return await act(request, site, actor, ask, f"/dataset/{quote(name, safe='')}#access")


@router.post("/dataset/{name}/access-requests/{request_id}/approve")
async def approve(
    name: str, request_id: int, request: Request, site: SiteDep, actor: ActorDep
) -> Response:
    """Approve a request: a grant until the chosen day, of the chosen columns."""

    def decide(form: Form) -> None:
        terms: dict[str, object] = {"expires_at": end_of_day(form.get("expires_on", ""))}
        columns = form.all("columns")
        if columns:
            terms["columns"] = columns
        requests.approve_request(site, actor, name, request_id, terms)

    return await act(request, site, actor, decide, _sharing_url(name))


@router.post("/dataset/{name}/access-requests/{request_id}/decline")
async def decline(
    name: str, request_id: int, request: Request, site: SiteDep, actor: ActorDep
) -> Response:
    """Decline a request with a reason the requester sees."""

    def decide(form: Form) -> None:
        requests.decline_request(site, actor, name, request_id, form.get("reason", ""))

    return await act(request, site, actor, decide, _sharing_url(name))


@router.post("/dataset/{name}/grants/{grant_id}/revoke")
async def revoke(
    name: str, grant_id: int, request: Request, site: SiteDep, actor: ActorDep
) -> Response:
    """End a grant now."""

    def end(_form: Form) -> None:
        grants.revoke_grant(site, actor, name, grant_id)

    return await act(request, site, actor, end, _sharing_url(name))


def _sharing_url(name: str) -> str:
    return f"/dataset/{quote(name, safe='')}/sharing"
