"""The outermost layers of the app, outside Starlette's error handling, so that every
response passes through them, a 500 included.

From the outside in:

1. proxy headers, only when ``CITYSHARE_TRUSTED_PROXIES`` is set: a request from one of
   those addresses takes its client address and scheme from ``X-Forwarded-For`` and
   ``X-Forwarded-Proto`` (what rate limits per address and HSTS need behind a proxy);
2. security headers on every response;
3. CORS, only when ``CITYSHARE_CORS_ORIGINS`` is set: those origins, no credentials
   (tokens travel in the ``Authorization`` header, never in cookies).
"""

from __future__ import annotations

from typing import Any, cast

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cityshare.api.middleware import SecurityHeadersMiddleware
from cityshare.config import Settings, split_list

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
    proxies = split_list(settings.trusted_proxies)
    if proxies:
        # uvicorn types ASGI apps more narrowly than Starlette; both are ASGI 3.
        wrapped = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, wrapped), trusted_hosts=proxies))
    return wrapped
