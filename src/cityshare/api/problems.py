"""Exception handlers: every error leaves as RFC 9457 problem+json, never a stack trace."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cityshare.api.middleware import actor_of
from cityshare.api.responses import problem_response
from cityshare.audit.events import refused
from cityshare.errors import (
    BadRequest,
    CityshareError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    StoreBusy,
    Unauthorized,
    UnsupportedMediaType,
)
from cityshare.site import Site
from cityshare.storage.engine import is_busy_error

log = logging.getLogger("cityshare.api")

_HTTP_ERRORS: dict[int, type[CityshareError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


# Refused access decisions, which the audit log records. (Refused sensor batches are
# counted per device and reason instead: see cityshare.streams.refusals.)
REFUSALS = (Unauthorized, Forbidden, NotFound)


class MethodNotAllowed(CityshareError):
    status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into problem+json."""
    app.add_exception_handler(CityshareError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _store_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _service_error(request: Request, error: CityshareError) -> Response:
    if isinstance(error, REFUSALS) and not error.audited:
        site: Site = request.app.state.site
        event = refused(
            actor_of(request.state),
            method=request.method,
            path=request.url.path,
            status=error.status,
            reason=error.detail,
        )
        site.audit_writer.submit(event)
    return problem_response(error, request.url.path)


async def _validation_error(request: Request, error: RequestValidationError) -> Response:
    problems = []
    for item in error.errors()[:20]:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append({"field": location, "message": item.get("msg", "invalid")})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return problem_response(
        BadRequest(f"The request is invalid: {summary}.", errors=problems), request.url.path
    )


async def _http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 405:
        return problem_response(
            MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}."),
            request.url.path,
        )
    kind = _HTTP_ERRORS.get(error.status_code, BadRequest)
    detail = error.detail if isinstance(error.detail, str) else kind.title
    if error.status_code == 404:
        detail = f"Nothing at {request.url.path}: see /api/v1/openapi.json for the routes."
    return problem_response(kind(detail), request.url.path)


async def _store_error(request: Request, error: OperationalError) -> Response:
    return store_error_response(error, request.method, request.url.path)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    return unexpected_error_response(request.method, request.url.path)


def store_error_response(error: OperationalError, method: str, path: str) -> Response:
    """``503`` with Retry-After when the store is busy with another write; else a 500.
    Call it from the ``except`` block that caught ``error``."""
    if is_busy_error(error):
        busy = StoreBusy(
            "The store is busy with another write (for example a large upload); "
            "try again in a few seconds."
        )
        return problem_response(busy, path)
    return unexpected_error_response(method, path)


def unexpected_error_response(method: str, path: str) -> Response:
    """A 500 naming a reference that the log has with the traceback (never the client).
    Call it from the ``except`` block that caught the error."""
    reference = secrets.token_hex(8)
    log.exception("unexpected error %s on %s %s", reference, method, path)
    failure = CityshareError(
        f"Something went wrong on our side. Quote reference {reference} to the site's "
        "administrators.",
        reference=reference,
    )
    return problem_response(failure, path)
