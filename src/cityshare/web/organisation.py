"""The organisation page and its membership forms (admins); API tokens on the account
page. Thin routes over the catalogue services; POST forms carry CSRF tokens."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from cityshare.accounts import organisations, tokens
from cityshare.errors import BadRequest, CityshareError
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.web.organisation_view import organisation_page
from cityshare.web.render import page
from cityshare.web.visits import Form, act, checked_form, error_page, remember, visit_of

router = APIRouter(include_in_schema=False)
TOKEN_SCOPES = ("read", "write", "admin")


@router.get("/organisation/{name}")
async def organisation(name: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """An organisation: its datasets; its members and devices for its members."""
    seen = visit_of(request, site, actor)
    try:
        shown = await run_in_threadpool(organisation_page, site, actor, name)
        answer = page("organisation.html", visit=seen, **shown)
    except CityshareError as error:
        return error_page(request, seen, error)
    return remember(answer, request, seen)


@router.post("/organisation/{name}/members")
async def add_member(name: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Add a member, or change a member's role (admins)."""

    def change(form: Form) -> None:
        organisations.set_member(
            site, actor, name, form.get("username", "").strip(), form.get("role", "")
        )

    return await act(request, site, actor, change, _members_url(name))


@router.post("/organisation/{name}/members/{username}/remove")
async def remove_member(
    name: str, username: str, request: Request, site: SiteDep, actor: ActorDep
) -> Response:
    """Remove a member (admins; never the last admin)."""

    def change(_form: Form) -> None:
        organisations.remove_member(site, actor, name, username)

    return await act(request, site, actor, change, _members_url(name))


@router.post("/account/tokens")
async def create_token(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Create an API token; its secret is shown on this page only."""
    seen = visit_of(request, site, actor)
    try:
        form = await checked_form(request, site)
        created = await run_in_threadpool(
            tokens.create_token,
            site,
            actor,
            name=form.get("name", "").strip(),
            scopes=tokens.parse_scopes([s for s in form.all("scopes") if s in TOKEN_SCOPES]),
            expires_in_days=_days(form.get("expires_in_days", "")),
        )
    except CityshareError as error:
        return error_page(request, seen, error)
    return remember(page("token_created.html", visit=seen, token=created), request, seen)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Revoke one of your tokens; it stops working at once."""

    def change(_form: Form) -> None:
        tokens.revoke_token(site, actor, token_id)

    return await act(request, site, actor, change, "/account#tokens")


def _members_url(name: str) -> str:
    return f"/organisation/{quote(name, safe='')}#members"


def _days(raw: str) -> int | None:
    if not raw.strip():
        return None
    if not raw.strip().isdigit():
        raise BadRequest("Expiry must be a whole number of days.", parameter="expires_in_days")
    return int(raw)
