"""Routes answered past Starlette's and FastAPI's own layers: the hottest path only.

For a single signed reading, Starlette's error middleware, FastAPI's app, body-limit and
exception layers, its router and the request/response wrapping cost more than verifying
and parsing the batch (about 15 % more requests a second without them; see
``benchmarks/RESULTS.md``). ``POST /api/v1/ingest`` needs none of what they add: it takes
no parameters to validate and answers its own errors (``routes.ingest.ingest_app``). So
it is sent past them, still through cityshare's guards — the body limit, authentication
(which refuses tokens in a query string) and rate limits, the same classes with the same
settings as every other route — and inside the edge layers (security headers, CORS,
proxy headers) like everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send


class DirectRoutes:
    """Requests for the given (method, path) pairs go to their own app; the rest to ``app``."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], ASGIApp]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            direct = self.routes.get((scope["method"], scope["path"]))
            if direct is not None:
                await direct(scope, receive, send)
                return
        await self.app(scope, receive, send)


def guarded(app: ASGIApp, guards: Sequence[Middleware]) -> ASGIApp:
    """``app`` inside ``guards`` (outermost first), as Starlette would stack them."""
    for cls, args, kwargs in reversed(guards):
        app = cls(app, *args, **kwargs)
    return app
