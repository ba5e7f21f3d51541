"""Signing in and out, the account page, and setting up a second factor, in the browser.

Thin routes over :mod:`cityshare.http.session` and the identity services: the same
password and second-factor checks, throttles and audit entries as the API's sign-in.
Every form is a POST with a CSRF token; the session cookie is HttpOnly, SameSite=Lax,
and Secure when the site is served over TLS.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cityshare.accounts import second_factor, tokens, users
from cityshare.accounts.models import Token
from cityshare.errors import CityshareError, Forbidden
from cityshare.http import session
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.http.session import SESSION_COOKIE, Visit
from cityshare.web.render import page
from cityshare.web.visits import checked_form, error_page, remember, visit_of

router = APIRouter(include_in_schema=False)


@router.get("/sign-in")
def sign_in_page(request: Request, site: SiteDep, actor: ActorDep, next: str = "/") -> Response:
    """The sign-in form."""
    seen = visit_of(request, site, actor)
    return _sign_in_form(request, seen, next=next)


@router.post("/sign-in")
async def sign_in(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Check the username, password and code; start a session and go on."""
    seen = visit_of(request, site, actor)
    fields: dict[str, str] = {}
    try:
        fields = await checked_form(request, site)
        token = await run_in_threadpool(
            session.sign_in,
            site,
            fields.get("username", ""),
            fields.get("password", ""),
            fields.get("code", "").strip() or None,
        )
    except CityshareError as error:
        return _sign_in_form(
            request, seen, next=fields.get("next", "/"), username=fields.get("username", ""),
            error=error,
        )  # fmt: skip
    answer = RedirectResponse(session.local_target(fields.get("next")), status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=session.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/sign-out")
async def sign_out(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """End the session: its token is revoked, the cookie dropped."""
    seen = visit_of(request, site, actor)
    try:
        await checked_form(request, site)
    except CityshareError as error:
        return error_page(request, seen, error)
    await run_in_threadpool(session.sign_out, site, request.cookies.get(SESSION_COOKIE))
    answer = RedirectResponse("/", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


@router.get("/account")
def account(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Who you are: your memberships and whether you have a second factor."""
    if actor.username is None:
        return RedirectResponse("/sign-in?next=/account", status_code=303)
    seen = visit_of(request, site, actor)
    user = users.get_user(site, actor, actor.username)
    try:
        mine: list[Token] | None = tokens.list_tokens(site, actor)
    except Forbidden:
        mine = None  # a token without the admin scope may not manage tokens
    return remember(page("account.html", visit=seen, user=user, tokens=mine), request, seen)


@router.get("/account/second-factor")
def second_factor_page(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Start setting up a second factor (no sign-in needed: administrators may not sign
    in before they have one)."""
    seen = visit_of(request, site, actor)
    return _second_factor_form(request, seen, step="start", username=actor.username or "")


@router.post("/account/second-factor")
async def second_factor_start(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Check the password; show the new secret as a QR code and ask for a code."""
    seen = visit_of(request, site, actor)
    fields: dict[str, str] = {}
    try:
        fields = await checked_form(request, site)
        started = await run_in_threadpool(
            second_factor.begin_setup, site, fields.get("username", ""), fields.get("password", "")
        )
    except CityshareError as error:
        return _second_factor_form(
            request, seen, step="start", username=fields.get("username", ""), error=error
        )
    return _second_factor_form(
        request,
        seen,
        step="confirm",
        username=fields["username"],
        secret=started.secret,
        qr=Markup(started.qr_svg),  # noqa: S704 - segno's SVG of the otpauth URI, no user text
    )


@router.post("/account/second-factor/confirm")
async def second_factor_confirm(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Turn the second factor on with a code from the app; show the recovery codes once."""
    seen = visit_of(request, site, actor)
    fields: dict[str, str] = {}
    try:
        fields = await checked_form(request, site)
        codes = await run_in_threadpool(
            second_factor.confirm_setup,
            site,
            fields.get("username", ""),
            fields.get("password", ""),
            fields.get("code", "").strip(),
        )
    except CityshareError as error:
        return _second_factor_form(
            request, seen, step="retry", username=fields.get("username", ""), error=error
        )
    return _second_factor_form(
        request,
        seen,
        step="done",
        username=fields["username"],
        recovery_codes=codes.recovery_codes,
    )


def _sign_in_form(
    request: Request,
    seen: Visit,
    *,
    next: str,
    username: str = "",
    error: CityshareError | None = None,
) -> Response:
    status = error.status if error else 200
    shown = page(
        "sign_in.html",
        status=status,
        visit=seen,
        next=session.local_target(next),
        username=username,
        error=error.detail if error else None,
        needs_second_factor=error is not None and "second factor" in error.detail,
    )
    return remember(shown, request, seen)


def _second_factor_form(
    request: Request,
    seen: Visit,
    *,
    step: str,
    username: str,
    error: CityshareError | None = None,
    **shown: Any,
) -> Response:
    context: dict[str, Any] = {"secret": None, "qr": None, "recovery_codes": None, **shown}
    answer = page(
        "second_factor.html",
        status=error.status if error else 200,
        visit=seen,
        step=step,
        username=username,
        error=error.detail if error else None,
        **context,
    )
    return remember(answer, request, seen)
