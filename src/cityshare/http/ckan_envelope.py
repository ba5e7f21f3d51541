"""CKAN's response envelope and its errors, for the CKAN Action API routes only.

A CKAN answer is ``{"help": URL, "success": true, "result": …}``, or on failure
``{"help": URL, "success": false, "error": {"__type": …, …}}``. Clients such as
``ckanapi`` turn ``__type`` back into exceptions (``NotFound``, ``NotAuthorized``,
``ValidationError``), so errors on these routes never use problem+json. The mapping from
cityshare's errors (see :mod:`cityshare.errors`)::

    NotFound                       404  Not Found Error      "Not found: …"
    Unauthorized, Forbidden        403  Authorization Error  "Access denied: …"
    ValidationFailed, BadRequest,  409  Validation Error     {field: [message]}
      Conflict, InvalidData
    SearchQueryInvalid             400  Search Query Error
    UnknownAction, BadCkanRequest  400  (CKAN answers a bare string here; see UnknownAction)
    anything else                  its own status, __type its title

This module imports no FastAPI route code, so the error renderer of every layer
(:func:`cityshare.http.responses.problem_response`) can use it for CKAN paths.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from cityshare.errors import (
    BadRequest,
    CityshareError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
)

PREFIXES = ("/api/3/action/", "/api/action/")
# Actions whose multipart body carries a file, streamed under the upload size limit.
UPLOAD_ACTIONS = frozenset({"resource_create"})
HELP_ACTION = "help_show"
MEDIA_TYPE = "application/json;charset=utf-8"
# Names cityshare's services give parameters, as CKAN calls them.
CKAN_FIELD_NAMES = {
    "dataset": "name",
    "organisation": "owner_org",
    "licence": "license_id",
    "description": "notes",
    "visibility": "private",
    "_sort": "sort",
    "_fields": "fields",
    "_limit": "limit",
}


class ValidationFailed(BadRequest):
    """Input CKAN reports as a ``Validation Error``: ``fields`` maps each bad field to its
    messages, as CKAN's ``error_dict`` does."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        summary = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
        super().__init__(summary)
        self.fields = fields


def invalid(field: str, message: str) -> ValidationFailed:
    """A validation error of one field."""
    return ValidationFailed({field: [message]})


class SearchQueryInvalid(BadRequest):
    """A package_search query cityshare cannot read (CKAN's ``Search Query Error``)."""


class UnknownAction(BadRequest):
    """An action this site does not offer. CKAN answers 400 with a bare JSON string; we
    keep the 400 and send the envelope with ``Not Found Error``, so clients raise NotFound."""


class BadCkanRequest(BadRequest):
    """A request CKAN refuses before any action runs (a body that is no JSON object, a
    write action sent with GET): 400 with ``__type`` ``Bad Request``."""


def is_ckan_path(path: str | None) -> bool:
    """True for the paths of the CKAN Action API."""
    return bool(path) and str(path).startswith(PREFIXES)


def action_of(path: str) -> str:
    """The action name in a CKAN path (empty when there is none)."""
    for prefix in PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :].split("/", 1)[0]
    return ""


def help_url(path: str, base_url: str = "") -> str:
    """The URL of the help of the action in ``path`` (absolute when ``base_url`` is given)."""
    base = base_url.rstrip("/")
    return f"{base}/api/3/action/{HELP_ACTION}?name={quote(action_of(path)[:100], safe='')}"


def ckan_error(error: CityshareError) -> tuple[int, dict[str, Any]]:
    """The status and CKAN ``error`` object of a cityshare error."""
    if isinstance(error, NotFound):
        return 404, {"__type": "Not Found Error", "message": f"Not found: {error.detail}"}
    if isinstance(error, Unauthorized | Forbidden):
        return 403, {"__type": "Authorization Error", "message": f"Access denied: {error.detail}"}
    if isinstance(error, UnknownAction):
        return 400, {"__type": "Not Found Error", "message": error.detail}
    if isinstance(error, SearchQueryInvalid):
        return 400, {
            "__type": "Search Query Error",
            "message": f"Search Query is invalid: {error.detail}",
        }
    if isinstance(error, BadCkanRequest):
        return 400, {"__type": "Bad Request", "message": f"Bad request - {error.detail}"}
    if isinstance(error, ValidationFailed):
        return 409, {"__type": "Validation Error", **error.fields}
    if isinstance(error, BadRequest | Conflict) and error.status in (400, 409):
        parameter = error.extra.get("parameter")
        if isinstance(parameter, str) and parameter:
            field = CKAN_FIELD_NAMES.get(parameter, parameter)
            return 409, {"__type": "Validation Error", field: [error.detail]}
        return 409, {"__type": "Validation Error", "message": error.detail}
    return error.status, {"__type": error.title, "message": error.detail}


def ckan_error_response(error: CityshareError, path: str, base_url: str = "") -> Response:
    """The CKAN envelope of ``error`` for a request to ``path``."""
    status, body = ckan_error(error)
    headers: dict[str, str] = {}
    retry_after = getattr(error, "retry_after", None)  # 429, and 503s of the store
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    envelope = {"help": help_url(path, base_url), "success": False, "error": body}
    return Response(
        orjson.dumps(envelope), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def ckan_success_response(result: Any, path: str, base_url: str) -> Response:
    """The CKAN envelope of a successful action."""
    envelope = {"help": help_url(path, base_url), "success": True, "result": result}
    return Response(orjson.dumps(envelope, option=orjson.OPT_NON_STR_KEYS), media_type=MEDIA_TYPE)
