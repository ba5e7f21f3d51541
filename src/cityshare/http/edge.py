"""The outermost layers of the app, outside Starlette's error handling, so that every
response passes through them, a 500 included.

From the outside in:

1. proxy headers, only when ``CITYSHARE_TRUSTED_PROXIES`` is set: a request from one of
   those addresses takes its client address and scheme from ``X-Forwarded-For`` and
   ``X-Forwarded-Proto`` (what rate limits per address and HSTS need behind a proxy);
2. the site's host, when ``CITYSHARE_BASE_URL`` or ``CITYSHARE_ALLOWED_HOSTS`` is set
   (:class:`SiteHostMiddleware`): a ``Host`` that is not allowed is refused with 400, and
   with a base URL the request's scheme, host and port become the base URL's, so every
   absolute URL a route builds from ``request.base_url`` or ``request.url`` (DCAT, CKAN,
   data packages, ``next`` links, pages) names the public site, never what the client
   wrote in ``Host``;
3. security headers (and the cache policy) on every response;
4. CORS, only when ``CITYSHARE_CORS_ORIGINS`` is set: those origins, no credentials
   (tokens travel in the ``Authorization`` header, never in cookies).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cityshare.config import Settings, split_list
from cityshare.errors import BadRequest
from cityshare.http.middleware import SecurityHeadersMiddleware
from cityshare.http.responses import problem_response

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_EXPOSED = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "Content-Disposition")
CORS_MAX_AGE = 600  # seconds a browser may cache a preflight's answer


def wrap_edge(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app`` inside the proxy-header, security-header and CORS layers ``settings`` ask for."""
    wrapped = app
    origins = split_list(settings.cors_origins)
    if origins:
        wrapped = CORSMiddleware(
            wrapped,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            allow_credentials=False,
            max_age=CORS_MAX_AGE,
        )
    wrapped = SecurityHeadersMiddleware(wrapped)
    if settings.base_url or settings.allowed_hosts:
        wrapped = SiteHostMiddleware(
            wrapped, base_url=settings.base_url, allowed=split_list(settings.allowed_hosts)
        )
    proxies = split_list(settings.trusted_proxies)
    if proxies:
        # uvicorn types ASGI apps more narrowly than Starlette; both are ASGI 3.
        wrapped = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, wrapped), trusted_hosts=proxies))
    return wrapped


class SiteHostMiddleware:
    """Refuse requests for hosts that are not this site's; with a base URL, make every
    request look as if it came to that URL (scheme, host and port)."""

    def __init__(self, app: ASGIApp, *, base_url: str | None, allowed: list[str]) -> None:
        self.app = app
        self.patterns = list(allowed)
        self.base: tuple[str, bytes, tuple[str, int]] | None = None
        if base_url:
            parts = urlsplit(base_url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            self.base = (parts.scheme, parts.netloc.encode("latin-1"), (host, port))
            self.patterns.append(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _host_name(scope)
        if self.patterns and not any(_matches(host, pattern) for pattern in self.patterns):
            error = BadRequest(
                f"This site does not answer for the host {host[:100]!r}: use its own address."
            )
            refusal = SecurityHeadersMiddleware(problem_response(error, scope.get("path")))
            await refusal(scope, receive, send)
            return
        if self.base is not None:
            scheme, netloc, server = self.base
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope = {**scope, "scheme": scheme, "server": server,
                     "headers": [(b"host", netloc), *headers]}  # fmt: skip
        await self.app(scope, receive, send)


def _host_name(scope: Scope) -> str:
    """The host name the request's ``Host`` header names (no port), lower case."""
    for key, value in scope["headers"]:
        if key == b"host":
            text = bytes(value).decode("latin-1").strip().lower()
            if text.startswith("["):  # an IPv6 address: [::1]:8000
                return text[1:].partition("]")[0]
            return text.rpartition(":")[0] if ":" in text else text
    return ""


def _matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def host_warning(settings: Settings) -> str | None:
    """The one-line warning ``cityshare serve`` logs while the site does not know its own
    address (the ``Host`` header then names it in absolute URLs)."""
    if settings.base_url or settings.allowed_hosts:
        return None
    return (
        "CITYSHARE_BASE_URL and CITYSHARE_ALLOWED_HOSTS are unset: absolute URLs (DCAT, "
        "CKAN, next links) follow each request's Host header; set them in production "
        "(docs/deployment.md)."
    )
