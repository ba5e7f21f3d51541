"""The web catalogue's routes: thin adapters from HTTP to the page views.

Every page reads through the core services with the request's Actor; an error is a
page with the service's own explanation and status (a hidden dataset is a 404 page,
exactly as the API answers 404).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from cityshare.access import Actor
from cityshare.catalogue.datasets import get_dataset
from cityshare.catalogue.reader import Reader
from cityshare.catalogue.versions import get_version
from cityshare.errors import CityshareError, NotFound
from cityshare.http.deps import ActorDep, ReaderDep, SiteDep
from cityshare.http.responses import JSON
from cityshare.http.session import Visit
from cityshare.site import Site
from cityshare.streams import observations
from cityshare.web import figures
from cityshare.web.dataset_view import dataset_page
from cityshare.web.figures import FigureCache
from cityshare.web.render import page, svg
from cityshare.web.search_view import search_page
from cityshare.web.visits import remember, visit_of

router = APIRouter(include_in_schema=False)
STATIC = StaticFiles(directory=str(files("cityshare.web") / "static"))


@router.get("/")
async def home(request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """Search the catalogue: words, facets, order, pages."""
    params = request.query_params.multi_items()
    seen = visit_of(request, site, actor)
    answer = await _rendered(
        seen, lambda: page("home.html", visit=seen, error=None, **search_page(site, actor, params))
    )
    return remember(answer, request, seen)


@router.get("/dataset/{name}")
async def dataset(
    name: str, request: Request, site: SiteDep, reader: ReaderDep, actor: ActorDep
) -> Response:
    """One dataset: what it is, its columns, a preview, downloads, versions."""
    params = request.query_params.multi_items()
    base_url = str(request.base_url)
    seen = visit_of(request, site, actor)
    answer = await _rendered(
        seen,
        lambda: page(
            "dataset.html", visit=seen, **dataset_page(reader, actor, name, params, base_url)
        ),
    )
    return remember(answer, request, seen)


@router.get("/dataset/{name}/latest.json")
async def latest(name: str, reader: ReaderDep, actor: ActorDep) -> Response:
    """The latest reading of each stream of a sensor dataset, for the page's live table
    (the API's ``/latest`` for a browser session, which the API itself never reads)."""
    found = await run_in_threadpool(observations.latest, reader, actor, name)
    return JSON(found.model_dump(mode="json"))


@router.get("/dataset/{name}/chart.svg")
async def chart(
    name: str, request: Request, reader: ReaderDep, actor: ActorDep, stream: int | None = None
) -> Response:
    """The dataset's chart (or a stream's, with ``stream``), as an SVG image."""
    drawn: FigureCache = request.app.state.figures
    return await run_in_threadpool(_chart, reader, drawn, actor, name, stream)


@router.get("/dataset/{name}/map.svg")
async def point_map(name: str, reader: ReaderDep, actor: ActorDep) -> Response:
    """Where the dataset's rows (or sensors) are, as an SVG image."""
    return await run_in_threadpool(_map, reader, actor, name)


def _chart(
    reader: Reader, drawn: FigureCache, actor: Actor, name: str, stream: int | None
) -> Response:
    if stream is not None:
        return svg("chart.svg", c=figures.stream_chart(reader, actor, name, stream))
    schema = _table_schema(reader.site, actor, name)
    return svg("chart.svg", c=figures.table_chart(reader, drawn, actor, name, schema))


def _map(reader: Reader, actor: Actor, name: str) -> Response:
    site = reader.site
    if get_dataset(site, actor, name).kind == "sensor":
        return svg("map.svg", m=figures.sensor_map(reader, actor, name))
    schema = _table_schema(site, actor, name)
    return svg("map.svg", m=figures.table_map(reader, actor, name, schema))


def _table_schema(site: Site, actor: Actor, name: str) -> dict[str, Any]:
    """The current version's schema as ``actor`` sees it; NotFound without data."""
    found = get_dataset(site, actor, name)
    if found.kind != "table" or found.current_version is None:
        raise NotFound(f"Dataset {name!r} has no table to draw.")
    return get_version(site, actor, name, None).schema_.document()


async def _rendered(seen: Visit, build: Callable[[], Response]) -> Response:
    """The page ``build`` makes, or an error page with the service's explanation."""
    try:
        return await run_in_threadpool(build)
    except CityshareError as error:
        return page(
            "error.html", status=error.status, visit=seen, title=error.title, detail=error.detail
        )
