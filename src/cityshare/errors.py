"""Errors raised by cityshare's core services.

Every error carries the HTTP status an adapter should answer with, a short
title and a detail a person can act on. Adapters render them as RFC 9457
``application/problem+json``; nothing else (no stack trace, no SQL) is shown.

The tree::

    CityshareError
    ├── BadRequest (400)           malformed input: a bad filter, a tampered cursor
    │   └── InvalidData (400)      an upload that does not fit its schema
    ├── Unauthorized (401)         missing, wrong, expired or revoked credentials
    ├── Forbidden (403)            visible, but the actor may not do this
    ├── NotFound (404)             absent, or invisible to the actor
    ├── Conflict (409)             a name already taken
    ├── PayloadTooLarge (413)      a body over the configured limit
    ├── UnsupportedMediaType (415) an upload format cityshare cannot read
    ├── TooManyRequests (429)      throttled; ``retry_after`` seconds
    ├── QueryTimeout (503)         a query ran past its time limit
    ├── StoreBusy (503)            the store's write lock could not be had in time
    ├── StoreUnavailable (503)     the store cannot be reached; ``retry_after`` seconds
    └── InsufficientStorage (507)  the disk of the store or the upload spool is full
"""

from __future__ import annotations

from typing import Any, ClassVar


class CityshareError(Exception):
    """Base of all errors shown to users; see the module docstring."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"
    audited: bool = False  # True when the service already wrote this refusal to the audit log

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        body: dict[str, Any] = {
            "type": f"https://cityshare.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class BadRequest(CityshareError):
    status = 400
    title = "Bad request"
    slug = "bad-request"


class InvalidData(BadRequest):
    title = "Invalid data"
    slug = "invalid-data"


class Unauthorized(CityshareError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(CityshareError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(CityshareError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(CityshareError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(CityshareError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class UnsupportedMediaType(CityshareError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class RetryLater(CityshareError):
    """An error that passes: the client may try again after ``retry_after`` seconds
    (adapters send them as ``Retry-After``)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyRequests(RetryLater):
    status = 429
    title = "Too many requests"
    slug = "too-many-requests"


class QueryTimeout(CityshareError):
    status = 503
    title = "Query took too long"
    slug = "query-timeout"


class StoreBusy(CityshareError):
    status = 503
    title = "Store busy"
    slug = "store-busy"
    retry_after = 5


class StoreUnavailable(RetryLater):
    status = 503
    title = "Store unavailable"
    slug = "store-unavailable"


class InsufficientStorage(CityshareError):
    status = 507
    title = "Insufficient storage"
    slug = "insufficient-storage"
