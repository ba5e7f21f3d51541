"""The per-request parts of a page: who is looking, the CSRF token, the form's fields;
and the cookies that go with a rendered page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cityshare.access import Actor
from cityshare.errors import BadRequest, CityshareError, UnsupportedMediaType
from cityshare.http.session import CSRF_COOKIE, SESSION_COOKIE, Visit, check_csrf, visit
from cityshare.site import Site
from cityshare.web.render import page

MAX_FIELD = 2000
MAX_FIELDS = 1100  # a grant may name many columns
FORM_TYPE = "application/x-www-form-urlencoded"


def visit_of(request: Request, site: Site, actor: Actor) -> Visit:
    """The visit a page is rendered for."""
    cookies = request.cookies
    return visit(site, actor, cookies.get(CSRF_COOKIE), cookies.get(SESSION_COOKIE))


def remember(response: Response, request: Request, seen: Visit) -> Response:
    """Give the browser its CSRF nonce if it has none yet."""
    if seen.fresh:
        response.set_cookie(
            CSRF_COOKIE,
            seen.nonce,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


class Form(dict[str, str]):
    """A posted form: the first value of each field, and every value of a field with
    ``all`` (checkboxes)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(reversed(pairs))  # the first value wins
        self.pairs = pairs

    def all(self, name: str) -> list[str]:
        """Every value sent for ``name``, in order."""
        return [value for key, value in self.pairs if key == name]


async def checked_form(request: Request, site: Site) -> Form:
    """A posted form's fields, after its CSRF token was checked against this browser. A
    browser without the CSRF cookie cannot have a valid token: refused before the body is
    read (which the body limit keeps small: forms are never uploads)."""
    cookies = request.cookies
    if not cookies.get(CSRF_COOKIE):
        check_csrf(site.secret_key, None, cookies.get(SESSION_COOKIE), None)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise UnsupportedMediaType(f"Send the form as {FORM_TYPE}.")
    try:
        pairs = parse_qsl((await request.body()).decode(), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form could not be read: send it from the page again.") from None
    fields = Form(pairs)
    if any(len(value) > MAX_FIELD for _, value in pairs):
        raise BadRequest(f"A field is longer than {MAX_FIELD} characters.")
    check_csrf(
        site.secret_key, cookies.get(CSRF_COOKIE), cookies.get(SESSION_COOKIE), fields.get("csrf")
    )
    return fields


def error_page(request: Request, seen: Visit, error: CityshareError) -> Response:
    """A page with the service's explanation and status."""
    shown = page(
        "error.html", status=error.status, visit=seen, title=error.title, detail=error.detail
    )
    return remember(shown, request, seen)


async def act(
    request: Request, site: Site, actor: Actor, change: Callable[[Form], None], then: str
) -> Response:
    """Check the form, make the change, go to ``then``; or explain what went wrong."""
    seen = visit_of(request, site, actor)
    try:
        form = await checked_form(request, site)
        await run_in_threadpool(change, form)
    except CityshareError as error:
        return error_page(request, seen, error)
    return RedirectResponse(then, status_code=303)
