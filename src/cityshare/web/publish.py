"""Publishing from the browser: upload a file (with a progress bar where JavaScript
runs), review its inferred schema, correct types and classifications, publish.

Thin routes over :mod:`cityshare.web.staging` and the catalogue services, which make the
same checks as the API (who may publish where, who may open data up, names, formats,
sizes). The upload is streamed to disk, under the site's upload size limit, and only
after sign-in and the form's CSRF token were checked, and if the disk has room for it
(the free-space guard); a full disk shows the form again with a 507 that says so.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cityshare.access import Actor
from cityshare.accounts import users
from cityshare.bounds.classes import CLASSES
from cityshare.catalogue import datasets
from cityshare.catalogue.metadata import VISIBILITIES
from cityshare.errors import BadRequest, CityshareError, Forbidden
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.http.multipart import FormRules, receive_form
from cityshare.http.session import CSRF_COOKIE, SESSION_COOKIE, Visit, check_csrf
from cityshare.http.upload import upload_guard
from cityshare.site import Site
from cityshare.storage.space import disk_full_refused
from cityshare.tables import media_type_for_filename
from cityshare.tables.formats import unknown_extension
from cityshare.web import staging
from cityshare.web.render import page
from cityshare.web.visits import checked_form, error_page, remember, visit_of

router = APIRouter(include_in_schema=False)
PUBLISHERS = ("editor", "admin")
_FIELDS = ("csrf", "organisation", "name", "title", "visibility")
MAX_FIELD_BYTES = 2000


@router.get("/publish")
def publish_form(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Choose a file and where it goes."""
    if actor.username is None:
        return RedirectResponse("/sign-in?next=/publish", status_code=303)
    return _form(request, site, actor, visit_of(request, site, actor), {})


@router.post("/publish")
async def upload(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Receive the file, infer its schema, and show it for review."""
    seen = visit_of(request, site, actor)
    choices: dict[str, str] = {}
    spool = staging.new_spool(site)
    try:
        with disk_full_refused():
            choices, filename, media_type = await _receive(request, site, actor, spool)
            staged = await run_in_threadpool(
                staging.stage, site, actor, spool,
                {**{k: choices.get(k, "") for k in _FIELDS[1:]}, "title": choices.get("title")
                 or choices.get("name", ""), "media_type": media_type, "source_name": filename},
            )  # fmt: skip
    except CityshareError as error:
        with suppress(FileNotFoundError):
            spool.unlink()
        return _form(request, site, actor, seen, choices, error)
    return RedirectResponse(f"/publish/{staged.id}", status_code=303)


@router.get("/publish/{staged_id}")
def review(staged_id: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """The inferred schema, to correct before publishing."""
    seen = visit_of(request, site, actor)
    try:
        staged = staging.staged_upload(site, actor, staged_id)
    except CityshareError as error:
        return error_page(request, seen, error)
    return _review(request, seen, staged, staged.schema)


@router.post("/publish/{staged_id}")
async def publish(staged_id: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Publish the staged file with the corrected schema."""
    seen = visit_of(request, site, actor)
    try:
        form = await checked_form(request, site)
        staged = staging.staged_upload(site, actor, staged_id)
    except CityshareError as error:
        return error_page(request, seen, error)
    types = {key[5:]: value for key, value in form.pairs if key.startswith("type:")}
    classes = {key[6:]: value for key, value in form.pairs if key.startswith("class:")}
    try:
        schema = staging.corrected_schema(staged, types, classes)
        with disk_full_refused():
            name = await run_in_threadpool(staging.publish_staged, site, actor, staged, schema)
    except CityshareError as error:  # shown again with the reviewer's choices, to correct
        return _review(request, seen, staged, _chosen(staged, types, classes), error)
    return RedirectResponse(f"/dataset/{name}", status_code=303)


async def _receive(
    request: Request, site: Site, actor: Actor, spool: Path
) -> tuple[dict[str, str], str | None, str]:
    """The form's fields and file (streamed to ``spool``), after sign-in and the CSRF token:
    nothing of the body is read for an anonymous visitor, and no byte of the file before
    its CSRF token was found right and the fields before it name a dataset this actor may
    create (:mod:`cityshare.http.multipart`)."""
    if actor.username is None:
        raise Forbidden("Sign in to publish.")
    cookies = request.cookies
    nonce, session = cookies.get(CSRF_COOKIE), cookies.get(SESSION_COOKIE)
    if not nonce:
        check_csrf(site.secret_key, None, session, None)  # refused: no form of ours

    def may_publish(fields: dict[str, str]) -> None:
        # A few indexed lookups, in a worker thread: the file waits for the answer.
        datasets.check_new_dataset(
            site, actor, organisation=fields.get("organisation", ""),
            name=fields.get("name", ""), visibility=fields.get("visibility", ""),
        )  # fmt: skip

    rules = FormRules(
        file_field="file",
        names=_FIELDS,
        max_field_bytes=MAX_FIELD_BYTES,
        check=lambda sent: check_csrf(site.secret_key, nonce, session, sent),
    )
    form = await receive_form(request, spool, rules, may_publish, space=upload_guard(site))
    choices = {key: form.fields.get(key, "") for key in _FIELDS}
    if not form.filename:
        raise BadRequest("Choose a file to publish.", parameter="file")
    media_type = media_type_for_filename(form.filename)
    if media_type is None:
        raise BadRequest(unknown_extension(form.filename, "Rename the file."), parameter="file")
    return choices, form.filename, media_type


def _form(
    request: Request,
    site: Site,
    actor: Actor,
    seen: Visit,
    choices: dict[str, str],
    error: CityshareError | None = None,
) -> Response:
    member_of = users.get_user(site, actor, actor.username).memberships if actor.username else []
    places = [m.organisation for m in member_of if m.role in PUBLISHERS]
    shown = page(
        "publish.html",
        status=error.status if error else 200,
        visit=seen,
        organisations=places,
        visibilities=VISIBILITIES,
        choices=choices,
        error=error.detail if error else None,
    )
    return remember(shown, request, seen)


def _review(
    request: Request,
    seen: Visit,
    staged: staging.Staged,
    schema: dict[str, Any],
    error: CityshareError | None = None,
) -> Response:
    shown = page(
        "review.html",
        status=error.status if error else 200,
        visit=seen,
        staged=staged,
        fields=schema.get("fields") or [],
        types=staging.types(),
        classes=CLASSES,
        error=error.detail if error else None,
    )
    return remember(shown, request, seen)


def _chosen(
    staged: staging.Staged, types: dict[str, str], classes: dict[str, str]
) -> dict[str, Any]:
    """The reviewer's choices over the inferred schema, to show again after a refusal."""
    fields = [
        {**field, "type": types.get(str(field["name"]), field.get("type")),
         "classification": classes.get(str(field["name"]), "public")}
        for field in staged.schema.get("fields") or []
    ]  # fmt: skip
    return {**staged.schema, "fields": fields}
