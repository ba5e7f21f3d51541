"""The CKAN Action API routes: ``/api/3/action/{action}`` and ``/api/action/{action}``.

One route per prefix takes GET and POST. Parameters come from a JSON body, form fields
(multipart too: ``resource_create`` takes its file as ``upload``, after its
``package_id``, which is checked before the file is read), or, for actions
that only read, the query string. The answer is CKAN's envelope
(:mod:`.envelope`); a refused request is written to the audit log as on the native
routes. Writing actions need POST, as in CKAN.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cityshare.access import Actor
from cityshare.api.ckan import datastore, reads, search, writes
from cityshare.api.ckan.models import CkanAnswer, CkanFailure
from cityshare.api.ckan.params import CkanCall, Upload
from cityshare.audit.events import refused
from cityshare.audit.writer import AuditWriter
from cityshare.errors import CityshareError, NotFound, Unauthorized
from cityshare.http.ckan_envelope import (
    BadCkanRequest,
    UnknownAction,
    ckan_error_response,
    ckan_success_response,
    invalid,
)
from cityshare.http.middleware import actor_of
from cityshare.http.multipart import FormRules, receive_form
from cityshare.http.problems import REFUSALS
from cityshare.http.upload import check_may_upload, upload_guard
from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.sql.pool import client_address

PREFIXES = ("/api/3/action", "/api/action")
HELP_ACTION = "help_show"
UPLOAD_FIELD = "upload"
MAX_FORM_FIELDS = 200
MAX_FIELD_BYTES = 64 * 1024
UPLOAD_RULES = FormRules(
    file_field=UPLOAD_FIELD, max_fields=MAX_FORM_FIELDS, max_field_bytes=MAX_FIELD_BYTES
)


@dataclass(frozen=True)
class Action:
    """One CKAN action: the function that answers it, and whether it only reads (and
    so may be called with GET)."""

    run: Callable[[CkanCall], Any]
    reads_only: bool = True
    takes_upload: bool = False
    runs_sql: bool = False


ACTIONS: dict[str, Action] = {
    "status_show": Action(reads.status_show),
    "site_read": Action(reads.site_read),
    "package_list": Action(reads.package_list),
    "package_search": Action(search.package_search),
    "package_show": Action(reads.package_show),
    "current_package_list_with_resources": Action(reads.current_package_list_with_resources),
    "organization_list": Action(reads.organization_list),
    "organization_show": Action(reads.organization_show),
    "group_list": Action(reads.group_list),
    "tag_list": Action(reads.tag_list),
    "resource_show": Action(reads.resource_show),
    "datastore_search": Action(datastore.datastore_search),
    "datastore_search_sql": Action(datastore.datastore_search_sql, runs_sql=True),
    "package_create": Action(writes.package_create, reads_only=False),
    "package_update": Action(writes.package_update, reads_only=False),
    "package_patch": Action(writes.package_patch, reads_only=False),
    # Its multipart body may be as large as an upload: see UPLOAD_ACTIONS (the body limit).
    "resource_create": Action(writes.resource_create, reads_only=False, takes_upload=True),
    "datastore_create": Action(datastore.datastore_create, reads_only=False),
    "datastore_upsert": Action(datastore.datastore_upsert, reads_only=False),
    "datastore_delete": Action(datastore.datastore_delete, reads_only=False),
}


def help_show(call: CkanCall) -> str:
    """The help of the action ``name``: what it does (docs/ckan.md has its parameters)."""
    name = call.required("name")
    chosen = ACTIONS.get(name)
    if chosen is None:
        raise NotFound(f"No action named {name[:100]!r}.")
    return inspect.getdoc(chosen.run) or name


ACTIONS[HELP_ACTION] = Action(help_show)
router = APIRouter(tags=["ckan"])


async def ckan_action(action: str, request: Request) -> Response:
    """Run one CKAN action (see docs/ckan.md for the actions and their parameters)."""
    runtime: Runtime = request.app.state.runtime
    site = runtime.site
    actor = actor_of(request.state)
    base_url = str(request.base_url)
    path = request.url.path
    upload: Upload | None = None
    try:
        chosen = _action(action, request.method)
        if chosen.takes_upload and request.method == "POST" and actor.is_anonymous:
            # Refused before the body is read: anonymous visitors never write.
            raise Unauthorized("Sign in: send your API token in the Authorization header.")
        data, upload = await _request_data(request, site, actor, chosen)
        call = CkanCall(
            reader=runtime.reader,
            actor=actor,
            data=data,
            base_url=base_url,
            path=path,
            upload=upload,
        )
        if chosen.runs_sql:  # in the SQL endpoint's own pool, under its caps
            address = client_address(request.client.host if request.client else None)
            result = await runtime.sql_pool.run(actor, address, chosen.run, call)
        else:
            result = await run_in_threadpool(chosen.run, call)
    except CityshareError as error:
        _audit_refusal(runtime.audit, actor, request, error)
        return ckan_error_response(error, path, base_url)
    finally:
        if upload is not None:
            with suppress(FileNotFoundError):
                upload.path.unlink()
    return ckan_success_response(result, path, base_url)


def _action_name(actions: list[str]) -> Any:
    """The ``action`` path parameter, naming the actions it may be (any other answers
    CKAN's ``400 Not Found Error``: the list is not checked here, so its answer stays
    CKAN's)."""
    return PathParam(
        description="The action's name (docs/ckan.md).",
        json_schema_extra={"enum": actions},
    )


READING_ACTIONS = sorted(name for name, chosen in ACTIONS.items() if chosen.reads_only)


async def ckan_get(
    action: Annotated[str, _action_name(READING_ACTIONS)], request: Request
) -> Response:
    """Run a reading action with its parameters in the query string (lists and objects
    JSON-encoded): see docs/ckan.md for the actions and their parameters."""
    return await ckan_action(action, request)


async def ckan_post(
    action: Annotated[str, _action_name(sorted(ACTIONS))], request: Request
) -> Response:
    """Run any action with its parameters as a JSON object or form fields: see
    docs/ckan.md for the actions and their parameters."""
    return await ckan_action(action, request)


# The answers, declared rather than validated: datastore_search is a hot path, and every
# result is written as it is (see cityshare.api.ckan.models). Errors keep the envelope.
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": CkanAnswer, "description": "The action's result, in CKAN's envelope."},
    "4XX": {
        "model": CkanFailure,
        "description": (
            "Refused, in CKAN's envelope: 404 Not Found Error, 403 Authorization Error, "
            "409 Validation Error, 400 an unknown action or a request CKAN cannot read, "
            "413 and 429 limits."
        ),
    },
    "5XX": {
        "model": CkanFailure,
        "description": "The store is busy or cannot be reached (503), or a failure on our side.",
    },
}
REQUEST_BODY = {
    "required": False,
    "description": (
        "The action's parameters: a JSON object, or form fields (resource_create takes its "
        "file as the multipart part upload, after package_id). Without a body, a reading "
        "action takes them from the query string."
    ),
    "content": {
        "application/json": {"schema": {"type": "object", "additionalProperties": True}},
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "package_id": {"type": "string"},
                    UPLOAD_FIELD: {"type": "string", "format": "binary"},
                },
                "additionalProperties": {"type": "string"},
            }
        },
    },
}

for _prefix in PREFIXES:
    _name = _prefix.strip("/").replace("/", "_")
    router.add_api_route(
        f"{_prefix}/{{action}}",
        ckan_get,
        methods=["GET"],
        response_model=None,
        responses=ANSWERS,
        operation_id=f"ckan_get_{_name}",
        summary="CKAN Action API v3: a reading action",
    )
    router.add_api_route(
        f"{_prefix}/{{action}}",
        ckan_post,
        methods=["POST"],
        response_model=None,
        responses=ANSWERS,
        operation_id=f"ckan_post_{_name}",
        summary="CKAN Action API v3: any action",
        openapi_extra={"requestBody": REQUEST_BODY},
    )


def _action(name: str, method: str) -> Action:
    chosen = ACTIONS.get(name)
    if chosen is None:
        raise UnknownAction(f"Action name not known: {name[:100]}")
    if method == "GET" and not chosen.reads_only:
        raise BadCkanRequest(f"Use POST for {name}: it changes data.")
    return chosen


async def _request_data(
    request: Request, site: Site, actor: Actor, action: Action
) -> tuple[dict[str, Any], Upload | None]:
    """The call's parameters, and its spooled upload if it sends one."""
    if request.method == "GET":
        return _query_data(request), None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _form_data(request, site, actor, action, media)
    body = await request.body()
    if not body.strip():
        return (_query_data(request) if action.reads_only else {}), None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadCkanRequest("JSON Error: the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadCkanRequest("JSON Error: the body must be a JSON object.")
    return data, None


def _query_data(request: Request) -> dict[str, Any]:
    """Query string parameters: one value as text, repeated ones as a list."""
    data: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        data[key] = values[0] if len(values) == 1 else values
    return data


async def _form_data(
    request: Request, site: Site, actor: Actor, action: Action, media: str
) -> tuple[dict[str, Any], Upload | None]:
    if action.takes_upload and media == "multipart/form-data":
        return await _upload_form(request, site, actor)
    try:
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            data = _form_fields(
                [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
            )
    except HTTPException as error:
        raise BadCkanRequest(f"The form could not be read: {error.detail}") from None
    return data, None


async def _upload_form(
    request: Request, site: Site, actor: Actor
) -> tuple[dict[str, Any], Upload | None]:
    """The fields and the file of an upload action's multipart body. The file is stored
    only once the fields before it name a dataset the actor may upload to
    (:mod:`cityshare.http.multipart`), so a caller without that right never makes the
    server read or store the file."""

    def may_upload(fields: dict[str, str]) -> None:
        package = _form_fields(list(fields.items())).get("package_id")
        if package in (None, ""):
            raise BadCkanRequest(
                "Send package_id before the file: the dataset is checked before the upload is read."
            )
        if not isinstance(package, str | int) or isinstance(package, bool):
            raise invalid("package_id", "Must be a string.")
        check_may_upload(site, actor, str(package))

    path = _spool_path(site)
    try:
        form = await receive_form(request, path, UPLOAD_RULES, may_upload, space=upload_guard(site))
        data = _form_fields(form.pairs)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if form.filename is None:
        path.unlink(missing_ok=True)
        return data, None
    return data, Upload(path=path, filename=form.filename, content_type=form.content_type)


def _form_fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key not in data:
            data[key] = value
        elif isinstance(data[key], list):
            data[key].append(value)
        else:
            data[key] = [data[key], value]
    # CKAN's old clients post one field whose name is the JSON of the parameters.
    if len(data) == 1:
        ((key, value),) = data.items()
        if value in ("", "1") and key.lstrip().startswith("{"):
            with suppress(orjson.JSONDecodeError):
                decoded = orjson.loads(key)
                if isinstance(decoded, dict):
                    return decoded
    return data


def _spool_path(site: Site) -> Path:
    folder = site.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"upload-{secrets.token_hex(16)}"


def _audit_refusal(
    audit: AuditWriter, actor: Actor, request: Request, error: CityshareError
) -> None:
    """Write a refused request to the audit log, as the native routes' handler does."""
    if isinstance(error, REFUSALS) and not error.audited:
        audit.submit(
            refused(
                actor,
                method=request.method,
                path=request.url.path,
                status=error.status,
                reason=error.detail,
            )
        )
