"""Exception handlers: every error leaves as RFC 9457 problem+json, never a stack trace."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityshare.audit.events import refused
from cityshare.errors import (
    BadRequest,
    CityshareError,
    Forbidden,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    StoreBusy,
    Unauthorized,
    UnsupportedMediaType,
)
from cityshare.http.middleware import actor_of
from cityshare.http.responses import problem_response
from cityshare.runtime import Runtime
from cityshare.storage.engine import is_busy_error
from cityshare.storage.health import is_unavailable_error, unavailable
from cityshare.storage.space import DISK_FULL_DETAIL, is_disk_full
from cityshare.storage.values import is_bad_value_error

# A page for a browser that meets an error outside a page's own handling (an unreachable
# store, a full disk); the web pages draw it (cityshare.web.render.error_page).
ErrorPage = Callable[[CityshareError], Response]
BAD_VALUE_DETAIL = (
    "A value you sent cannot be stored or looked up: a number out of range, a text too long "
    "for its field, or a NUL character. Check the values and send them again."
)
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
    app.add_exception_handler(DBAPIError, _store_error)  # OperationalError and the others
    app.add_exception_handler(PoolTimeout, _store_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _service_error(request: Request, error: CityshareError) -> Response:
    if isinstance(error, REFUSALS) and not error.audited:
        runtime: Runtime = request.app.state.runtime
        event = refused(
            actor_of(request.state),
            method=request.method,
            path=request.url.path,
            status=error.status,
            reason=error.detail,
        )
        runtime.audit.submit(event)
    return problem_response(error, request.url.path)


async def _validation_error(request: Request, error: RequestValidationError) -> Response:
    if _body_not_sent_as_json(request, error):
        detail = (
            "The body was not read as JSON: send it with 'Content-Type: application/json' "
            "(curl: -H 'Content-Type: application/json', or --json instead of -d)."
        )
        return problem_response(UnsupportedMediaType(detail), request.url.path)
    problems = []
    for item in error.errors()[:20]:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append({"field": location, "message": item.get("msg", "invalid")})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return problem_response(
        BadRequest(f"The request is invalid: {summary}.", errors=problems), request.url.path
    )


def _body_not_sent_as_json(request: Request, error: RequestValidationError) -> bool:
    """Whether the whole body was refused as not an object because it came without a JSON
    Content-Type (FastAPI then reads it as text)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return False
    return any(tuple(item.get("loc", ())) == ("body",) for item in error.errors())


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


async def _store_error(request: Request, error: Exception) -> Response:
    accept = request.headers.get("accept", "")
    page = error_page_of(request.app)
    return store_error_response(error, request.method, request.url.path, accept, page)


async def _unexpected_error(request: Request, error: Exception) -> Response:
    return unexpected_error_response(request.method, request.url.path)


def store_error_response(
    error: Exception, method: str, path: str, accept: str = "", page: ErrorPage | None = None
) -> Response:
    """``400`` for a value the store refused (out of range, too long); ``503`` with
    Retry-After when the store is busy with another write or cannot be reached
    (:func:`unavailable_response`); else a 500. Call it from the ``except`` block
    that caught ``error``. A full disk is a 507 (:func:`disk_full_response`)."""
    if is_bad_value_error(error):  # a value the store cannot hold: the sender's error
        return problem_response(BadRequest(BAD_VALUE_DETAIL), path)
    if is_disk_full(error):
        return disk_full_response(error, path, accept, page)
    if is_unavailable_error(error):
        return unavailable_response(path, accept, page)
    if is_busy_error(error):
        busy = StoreBusy(
            "The store is busy with another write (for example a large upload); "
            "try again in a few seconds."
        )
        return problem_response(busy, path)
    return unexpected_error_response(method, path)


def unavailable_response(path: str, accept: str = "", page: ErrorPage | None = None) -> Response:
    """``503`` with Retry-After for an unreachable store, logged once by the site's
    :class:`~cityshare.storage.health.StoreHealth`, never per request (see
    :func:`shown_error` for its form)."""
    return shown_error(unavailable(), path, accept, page)


def error_page_of(app: object) -> ErrorPage | None:
    """The error page for browsers that the app was given (``app.state.error_page``,
    set by :func:`cityshare.app.create_app` from the web pages), if any."""
    page: ErrorPage | None = getattr(getattr(app, "state", None), "error_page", None)
    return page


def shown_error(
    error: CityshareError, path: str, accept: str = "", page: ErrorPage | None = None
) -> Response:
    """``error`` as problem+json (CKAN's envelope on its paths), or as the HTML ``page``
    for a browser (``accept`` names text/html) outside the APIs."""
    if page is not None and "text/html" in accept and not path.startswith("/api/"):
        shown = page(error)
        if (retry_after := getattr(error, "retry_after", None)) is not None:
            shown.headers["Retry-After"] = str(retry_after)
        return shown
    return problem_response(error, path)


class StoreOutageMiddleware:
    """Answer an unreachable store with :func:`unavailable_response` wherever it is met:
    in cityshare's own middleware (a token or session to look up) and in routes past the
    exception handlers, which would otherwise leave as a 500 with a traceback. Every
    other error passes through unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            if started or not is_unavailable_error(error):
                raise
            accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
            page = error_page_of(scope.get("app"))
            response = unavailable_response(str(scope["path"]), accept.decode("latin-1"), page)
            await response(scope, receive, send)


def unexpected_error_response(method: str, path: str) -> Response:
    """A 500 naming a reference that the log has with the traceback (never the client).
    Call it from the ``except`` block that caught the error (a full disk is a 507)."""
    caught = sys.exc_info()[1]
    if caught is not None and is_disk_full(caught):
        return disk_full_response(caught, path)
    reference = secrets.token_hex(8)
    log.exception("unexpected error %s on %s %s", reference, method, path)
    failure = CityshareError(
        f"Something went wrong on our side. Quote reference {reference} to the site's "
        "administrators.",
        reference=reference,
    )
    return problem_response(failure, path)


def disk_full_response(
    error: BaseException, path: str, accept: str = "", page: ErrorPage | None = None
) -> Response:
    """``507 Insufficient storage`` for a write that found the disk full (the store's or
    the upload spool's): nothing was changed. One log line, no traceback; an HTML page
    for a browser (:func:`shown_error`)."""
    cause = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
    log.warning("A write to %s failed, the disk is full: %s", path, cause)
    return shown_error(InsufficientStorage(DISK_FULL_DETAIL), path, accept, page)
