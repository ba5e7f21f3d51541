"""The app factory: one FastAPI app, built from a Site, with no configuration read at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp

from cityshare import __version__
from cityshare.access import SiteResource, ensure_allowed
from cityshare.api.ckan.routes import router as ckan_router
from cityshare.api.routes import audit as audit_routes
from cityshare.api.routes import datasets, devices, identity, ingest, organisations, rows, streams
from cityshare.api.routes import dcat as dcat_routes
from cityshare.api.routes import second_factor as second_factor_routes
from cityshare.api.routes import sharing as sharing_routes
from cityshare.api.routes import sql as sql_routes
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.http.direct import DirectRoutes, guarded
from cityshare.http.edge import wrap_edge
from cityshare.http.jsondepth import JsonDepthMiddleware
from cityshare.http.middleware import AuthenticationMiddleware, BodyLimitMiddleware
from cityshare.http.openapi import REFUSALS, tidy_document
from cityshare.http.problems import StoreOutageMiddleware, install_problem_handlers
from cityshare.http.ratelimit import RateLimitMiddleware
from cityshare.resource import Resource
from cityshare.runtime import Runtime
from cityshare.storage.health import ping
from cityshare.web import account as web_account
from cityshare.web import organisation as web_organisation
from cityshare.web import pages as web_pages
from cityshare.web import publish as web_publish
from cityshare.web import render
from cityshare.web import sharing as web_sharing
from cityshare.web.figures import FigureCache

API_PREFIX = "/api/v1"
INGEST_PATH = f"{API_PREFIX}/ingest"


class CityshareApp(FastAPI):
    """FastAPI with the edge layers (api/edge.py: proxy headers, security headers, CORS)
    outside Starlette's error handling, so that every response, a 500 included, gets them,
    and signed ingestion sent past Starlette's and FastAPI's layers (api/direct.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack beside the direct ingest route, inside the edge layers the
        site's settings ask for."""
        runtime: Runtime = self.state.runtime
        direct = guarded(ingest.ingest_app(runtime), guards(runtime))
        routes = DirectRoutes(super().build_middleware_stack(), {("POST", INGEST_PATH): direct})
        return wrap_edge(routes, runtime.site.settings)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document with every refusal described as a problem (http/openapi)."""
        if self.openapi_schema is None:
            self.openapi_schema = tidy_document(super().openapi())
        return self.openapi_schema


def create_app(runtime: Runtime) -> FastAPI:
    """Build the HTTP app serving ``runtime``'s site with its parts."""
    site = runtime.site

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # Whatever requests queued (group commits, audit events) is stored before exit.
        await run_in_threadpool(runtime.finish_background_work)
        await site.rate_limiter.aclose()

    app = CityshareApp(
        lifespan=lifespan,
        title="cityshare",
        version=__version__,
        description="Publish, find and share city data.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.error_page = render.error_page  # for browsers, outside the pages' handling
    app.state.site = site
    # Charts drawn from published versions, by the reader's whole view (see web/figures).
    app.state.figures = FigureCache()
    app.include_router(_api_router(), prefix=API_PREFIX, responses=REFUSALS)
    # DCAT-AP at the site root, where harvesters look for /catalog.ttl.
    app.include_router(dcat_routes.router, responses=REFUSALS)
    # The CKAN Action API v3 at /api/3/action/ and /api/action/ (see docs/ckan.md).
    app.include_router(ckan_router)
    # The web catalogue's pages (see docs/web.md) and their own styles and scripts.
    app.include_router(web_pages.router)
    app.include_router(web_account.router)
    app.include_router(web_sharing.router)
    app.include_router(web_organisation.router)
    app.include_router(web_publish.router)
    app.mount("/static", web_pages.STATIC, name="static")
    # A hot path, ahead of FastAPI's router (see rows.rows_endpoint).
    app.router.routes.insert(
        0, Route(f"{API_PREFIX}/datasets/{{name}}/rows", rows.rows_endpoint, methods=["GET"])
    )
    install_problem_handlers(app)
    # The last added runs first: authentication, rate limit, body limit, JSON depth.
    app.add_middleware(
        JsonDepthMiddleware,
        max_depth=site.settings.limits.max_json_depth,
        skip=frozenset({INGEST_PATH}),  # signed; parsed after its signature
    )
    for cls, args, kwargs in reversed(guards(runtime)):
        app.add_middleware(cls, *args, **kwargs)
    return app


def guards(runtime: Runtime) -> list[Middleware]:
    """cityshare's own middleware that every route passes, outermost first: an
    unreachable store answered as 503 wherever it is met, authentication, rate limits, the
    body limit (which needs to know who is sending: only the signed-in get the upload
    limit), for the direct ingest route too (api/direct.py)."""
    site = runtime.site
    limits = site.settings.limits
    return [
        Middleware(StoreOutageMiddleware),
        Middleware(AuthenticationMiddleware, site=site, audit=runtime.audit),
        Middleware(
            RateLimitMiddleware,
            site=site,
            sign_in_prefixes=(f"{API_PREFIX}/auth/", "/sign-in", "/account/second-factor"),
        ),
        Middleware(
            BodyLimitMiddleware,
            default_limit=limits.max_json_body_bytes,
            upload_limit=limits.max_upload_bytes,
        ),
    ]


class ApiIndex(Resource):
    """What this site is and where its API lives."""

    name: str = Field(description="cityshare.")
    version: str = Field(description="The version of cityshare it runs.")
    openapi: str = Field(description="The path of the OpenAPI document.")
    datasets: str = Field(description="The path of the catalogue.")


def _api_router() -> APIRouter:
    router = APIRouter()

    @router.get("", tags=["site"], response_model=ApiIndex)
    def index(actor: ActorDep, site: SiteDep) -> ApiIndex:
        """What this site is and where its API lives; 503 while its store cannot be
        reached (a readiness check for load balancers)."""
        ensure_allowed(actor, "site.view", SiteResource())
        ping(site.engine)
        return ApiIndex(
            name="cityshare",
            version=__version__,
            openapi=f"{API_PREFIX}/openapi.json",
            datasets=f"{API_PREFIX}/datasets",
        )

    for module in (
        identity,
        second_factor_routes,
        organisations,
        datasets,
        rows,
        sql_routes,
        devices,
        streams,
        ingest,
        sharing_routes,
        audit_routes,
    ):
        router.include_router(module.router)
    return router
