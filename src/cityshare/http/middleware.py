"""Pure ASGI middleware: authentication, body limits and security headers.

Authentication is the only place that reads credentials: it turns the
``Authorization: Bearer`` header into an :class:`~cityshare.access.Actor` stored
in ``scope["state"]["actor"]``; nothing downstream reads headers for identity.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityshare.access import ANONYMOUS, Actor
from cityshare.accounts.tokens import authenticate_token
from cityshare.audit.events import refused
from cityshare.audit.writer import AuditWriter
from cityshare.errors import BadRequest, CityshareError, PayloadTooLarge, Unauthorized
from cityshare.http.ckan_envelope import UPLOAD_ACTIONS, is_ckan_path
from cityshare.http.ratelimit import FailedAuthentication
from cityshare.http.responses import problem_response
from cityshare.http.session import SESSION_COOKIE, session_actor
from cityshare.site import Site

PUBLISH_PATH = "/publish"  # the web page's upload (cityshare.web.publish)
# Paths where only an Authorization header authenticates (a session cookie is ignored).
API_PATHS = ("/api/",)
TOKEN_QUERY_NAMES = frozenset({"access_token", "token", "api_key", "apikey", "auth_token"})
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), microphone=(), payment=(), usb=()"),
)
_CSP = b"content-security-policy"
_CACHE = b"cache-control"
# What a shared cache may keep of an anonymous answer: public data, a minute.
PUBLIC_CACHE = b"public, max-age=60"
VARY = (b"vary", b"Authorization, Cookie")
# A request with any of these is someone's: its answers are never stored.
PRIVATE_HEADERS = frozenset({b"authorization", b"x-ckan-api-key", b"cookie"})
# Sent only over HTTPS (RFC 6797): a browser ignores it over plain HTTP.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class AuthenticationMiddleware:
    """Resolve the request's Actor once; refuse tokens anywhere but the header."""

    def __init__(self, app: ASGIApp, site: Site, audit: AuditWriter) -> None:
        self.app = app
        self.site = site
        self.audit = audit
        self.failures = FailedAuthentication(site)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        throttled = self.failures.throttled(scope) if _has_credentials(scope) else None
        if throttled is not None:  # too many failures from this address: not even checked
            await self._refuse(throttled, scope, receive, send)
            return
        try:
            actor = await self._actor(scope)
        except CityshareError as error:
            await self._refuse(await self.failures.failed(scope) or error, scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)

    async def _refuse(
        self, error: CityshareError, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer ``error``, recording it (repeats are counted: cityshare.audit.refusals)."""
        path = str(scope.get("path", ""))
        client = scope.get("client")
        self.audit.submit(
            refused(
                ANONYMOUS,
                method=str(scope.get("method", "")),
                path=path,
                status=error.status,
                reason=error.detail,
                address=str(client[0]) if client else "",
            )
        )
        await problem_response(error, path)(scope, receive, send)

    async def _actor(self, scope: Scope) -> Actor:
        if has_query_token(scope.get("query_string", b"")):
            raise BadRequest(
                "Tokens are never accepted in the query string (they would end up in logs): "
                "send 'Authorization: Bearer <token>' instead."
            )
        header = _header(scope, b"authorization")
        path = str(scope.get("path", ""))
        if is_ckan_path(path):
            token = _ckan_token(header, _header(scope, b"x-ckan-api-key"))
        elif header is None:
            session = None if path.startswith(API_PATHS) else _cookie(scope, SESSION_COOKIE)
            if session:  # a browser on the pages (never the API: no cookie reaches it)
                return await to_thread.run_sync(session_actor, self.site, session)
            token = None
        else:
            token = _bearer_token(header)
        if token is None:
            return ANONYMOUS
        return await to_thread.run_sync(authenticate_token, self.site, token)


def has_query_token(raw_query: bytes) -> bool:
    """Whether a query string names a token parameter, however the name is written:
    percent-encoded (``tok%65n``), in any case, with spaces (``+``) around it, or with a
    hyphen for the underscore (``api-key``). Names are decoded as every parser decodes
    them (:func:`~urllib.parse.parse_qsl`) before they are compared."""
    lowered = raw_query.lower()
    # Every refused name contains "token" or "api" once decoded; a name can only hide
    # them behind a "%". Most queries have none of the three and are not parsed here.
    if b"token" not in lowered and b"api" not in lowered and b"%" not in lowered:
        return False
    names = (key for key, _ in parse_qsl(raw_query.decode("latin-1")))
    return any(_token_name(name) in TOKEN_QUERY_NAMES for name in names)


def _token_name(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _has_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"x-ckan-api-key") for name, _ in scope["headers"])


def _bearer_token(header: str) -> str:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.")
    return credentials.strip()


def _ckan_token(header: str | None, api_key: str | None) -> str | None:
    """The token of a CKAN Action API request: ``Authorization: Bearer <token>``, or
    CKAN's ``Authorization: <token>`` and ``X-CKAN-API-Key: <token>`` (ckanapi sends
    both). Only on the CKAN routes: the native API keeps its one documented form, so a
    header with a scheme cityshare does not use (``Basic …``) is refused there rather
    than read as a token. Two headers with different tokens are refused, never chosen
    between."""
    token = None
    if header is not None:
        text = header.strip()
        if text and " " not in text:
            token = text
        elif text.lower().startswith("bearer "):
            token = _bearer_token(text)
        else:
            raise Unauthorized("Use 'Authorization: <token>' (or 'Authorization: Bearer <token>').")
    key = (api_key or "").strip() or None
    if token is not None and key is not None and key != token:
        raise Unauthorized("Authorization and X-CKAN-API-Key carry different tokens.")
    return token or key


class BodyLimitMiddleware:
    """Refuse bodies over the limit before reading them, and stop streams that exceed it.

    It runs after authentication: the upload limit applies only to an upload route
    (:func:`is_upload`) called by someone signed in (a token or a session); anyone else,
    whatever the route, gets the small limit, so an anonymous upload is refused before
    more than ``max_json_body_bytes`` of it is read.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, upload_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            # No route reads a body on these methods, so there is nothing to count.
            await self.app(scope, receive, send)
            return
        actor: Actor = scope.get("state", {}).get("actor", ANONYMOUS)
        uploader = not actor.is_anonymous and is_upload(scope)
        limit = self.upload_limit if uploader else self.default_limit
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            error = PayloadTooLarge(f"The body is over the limit of {limit} bytes.", limit=limit)
            await problem_response(error, scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)


class SecurityHeadersMiddleware:
    """Add security headers to every response (HSTS over HTTPS) and its cache policy. The
    app puts it outside Starlette's error handling, so 500s get them too.

    The cache policy: ``no-store`` for every answer to a request with credentials (a token,
    or any cookie: a session, or the CSRF nonce its forms are tied to); for anonymous
    requests, :data:`PUBLIC_CACHE` on a successful ``GET``/``HEAD`` that sets no cookie and
    no policy of its own, ``no-store`` on everything else (errors, writes). Answers vary
    by ``Authorization`` and ``Cookie``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = any(name in PRIVATE_HEADERS for name, _ in scope["headers"])
        readable = scope["method"] in ("GET", "HEAD")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A web page sets its own, looser policy (its styles, images and scripts).
                has_policy = any(name.lower() == _CSP for name, _ in headers)
                headers.extend(h for h in SECURITY_HEADERS if not (has_policy and h[0] == _CSP))
                if https:
                    headers.append(HSTS)
                headers.append(VARY)
                public = readable and not private and message["status"] == 200
                _set_cache_policy(headers, public=public)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _set_cache_policy(headers: list[tuple[bytes, bytes]], *, public: bool) -> None:
    """``no-store`` unless ``public`` (then :data:`PUBLIC_CACHE`, or the answer's own
    policy); an answer that sets a cookie is never public."""
    names = [name.lower() for name, _ in headers]
    if public and b"set-cookie" not in names:
        if _CACHE not in names:
            headers.append((_CACHE, PUBLIC_CACHE))
        return
    headers[:] = [h for h, name in zip(headers, names, strict=True) if name != _CACHE]
    headers.append((_CACHE, b"no-store"))


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
        return message

    return counted


def is_upload(scope: Scope) -> bool:
    """True for ``PUT …/data``, the upload route, whose body is streamed to disk, for
    a multipart POST to a CKAN action that takes a file (``resource_create``), and for the
    publish page's upload (``POST /publish``)."""
    path = str(scope["path"])
    if scope["method"] == "PUT":
        return path.endswith("/data")
    if scope["method"] == "POST" and path == PUBLISH_PATH:
        return True
    if scope["method"] != "POST" or not is_ckan_path(path):
        return False
    media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return media == "multipart/form-data" and path.rsplit("/", 1)[-1] in UPLOAD_ACTIONS


def _cookie(scope: Scope, name: str) -> str | None:
    """One cookie of the request, if sent."""
    header = _header(scope, b"cookie")
    if header is None:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def actor_of(state: Any) -> Actor:
    """The Actor the authentication middleware attached to a request's state."""
    actor = getattr(state, "actor", None)
    return actor if isinstance(actor, Actor) else ANONYMOUS
