"""Routes for the DCAT-AP catalogue, at the site root: ``/catalog.ttl|.jsonld|.rdf`` and
``/datasets/{name}.ttl|.jsonld|.rdf``, and ``/catalog`` and ``/datasets/{name}`` choosing
the syntax by the ``Accept`` header (Turtle by default). See ``docs/dcat.md``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from rdflib import Graph
from starlette.responses import RedirectResponse, Response

from cityshare.access import Actor
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.interop import dcat
from cityshare.interop.models import JsonLdDocument
from cityshare.site import Site

router = APIRouter(tags=["dcat"])

# The bounds are declared, not enforced here: dcat.check_page refuses a page out of them
# with its own problem (which names the parameter), as it refuses one past the deepest.
_PAGE = Query(1, description="The page of the catalogue, from 1.", json_schema_extra={"minimum": 1})
_PAGE_SIZE = Query(
    dcat.DEFAULT_PAGE_SIZE,
    description=f"Datasets per page, 1 to {dcat.MAX_PAGE_SIZE}.",
    json_schema_extra={"minimum": 1, "maximum": dcat.MAX_PAGE_SIZE},
)
# What each syntax's answer is: RDF text, or a JSON-LD object.
_SCHEMAS: dict[str, dict[str, Any]] = {
    dcat.TURTLE.media_type: {"type": "string", "description": "Turtle (UTF-8)."},
    dcat.RDF_XML.media_type: {"type": "string", "description": "RDF/XML (UTF-8)."},
    dcat.JSON_LD.media_type: JsonLdDocument.model_json_schema(by_alias=True),
}
_HEADER = {"schema": {"type": "string"}, "required": True}
# A negotiated answer names its syntax's own URL; a browser is sent to the web page.
_NEGOTIATED_HEADERS = {
    "Vary": {**_HEADER, "description": "Accept: the answer depends on it."},
    "Content-Location": {
        **_HEADER,
        "description": "The URL of this syntax's document (/catalog.ttl?page=2).",
    },
}
# Caches must not give a browser's redirect to an RDF client, nor the other way round.
_VARY = {"Vary": "Accept"}
_SEE_OTHER: dict[int | str, dict[str, Any]] = {
    303: {
        "description": "A browser (whose Accept prefers text/html to every RDF syntax it "
        "names) is sent to the web page.",
        "headers": {
            "Location": {**_HEADER, "description": "The web page's path."},
            "Vary": {**_HEADER, "description": "Accept: the answer depends on it."},
        },
    }
}


def _content(
    *rdf_formats: dcat.RdfFormat, headers: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a 200 answer in these syntaxes."""
    content = {
        rdf_format.media_type: {"schema": _SCHEMAS[rdf_format.media_type]}
        for rdf_format in rdf_formats
    }
    answer: dict[str, Any] = {"description": "DCAT-AP 3.0.1 RDF", "content": content}
    if headers:
        answer["headers"] = headers
    return {200: answer}


Endpoint = Callable[..., Response]
_NEGOTIATED: dict[int | str, dict[str, Any]] = {
    **_content(*dcat.RDF_FORMATS, headers=_NEGOTIATED_HEADERS),
    **_SEE_OTHER,
}


def _rdf(graph: Graph, rdf_format: dcat.RdfFormat, negotiated: Request | None = None) -> Response:
    """The graph in ``rdf_format``; a negotiated answer names the URL of its syntax."""
    headers: dict[str, str] = {}
    if negotiated is not None:
        query = f"?{negotiated.url.query}" if negotiated.url.query else ""
        location = f"{negotiated.url.path}.{rdf_format.suffix}{query}"
        headers = {"Vary": "Accept", "Content-Location": location}
    media_type = f"{rdf_format.media_type}; charset=utf-8"
    return Response(dcat.serialize(graph, rdf_format), media_type=media_type, headers=headers)


def _catalogue(
    request: Request, site: Site, actor: Actor, page: int, page_size: int, path: str
) -> Graph:
    base = str(request.base_url).rstrip("/")
    return dcat.catalogue_graph(
        site, actor, base_url=base, document_url=base + path, page=page, page_size=page_size
    )


def _catalogue_endpoint(rdf_format: dcat.RdfFormat) -> Endpoint:
    path = f"/catalog.{rdf_format.suffix}"

    def catalogue(
        request: Request,
        site: SiteDep,
        actor: ActorDep,
        page: int = _PAGE,
        page_size: int = _PAGE_SIZE,
    ) -> Response:
        graph = _catalogue(request, site, actor, page, page_size, path)
        return _rdf(graph, rdf_format)

    catalogue.__doc__ = f"The catalogue as DCAT-AP ({rdf_format.media_type}), paged with Hydra."
    catalogue.__name__ = f"catalogue_{rdf_format.suffix}"
    return catalogue


def _dataset_endpoint(rdf_format: dcat.RdfFormat) -> Endpoint:
    def dataset(name: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
        graph = dcat.dataset_graph(site, actor, name, base_url=str(request.base_url))
        return _rdf(graph, rdf_format)

    dataset.__doc__ = f"One dataset as DCAT-AP ({rdf_format.media_type})."
    dataset.__name__ = f"dataset_{rdf_format.suffix}"
    return dataset


# The suffixed routes come first: "/datasets/{name}" would also match "open-counts.ttl".
for _format in dcat.RDF_FORMATS:
    router.add_api_route(
        f"/catalog.{_format.suffix}",
        _catalogue_endpoint(_format),
        methods=["GET"],
        response_class=Response,
        responses=_content(_format),
    )
    router.add_api_route(
        f"/datasets/{{name}}.{_format.suffix}",
        _dataset_endpoint(_format),
        methods=["GET"],
        response_class=Response,
        responses=_content(_format),
    )


@router.get("/catalog", response_class=Response, responses=_NEGOTIATED)
def negotiated_catalogue(
    request: Request,
    site: SiteDep,
    actor: ActorDep,
    page: int = _PAGE,
    page_size: int = _PAGE_SIZE,
) -> Response:
    """The catalogue in the RDF syntax the ``Accept`` header asks for (Turtle by default);
    a browser is sent to the catalogue's web page."""
    if dcat.prefers_html(request.headers.get("accept")):
        return RedirectResponse("/", status_code=303, headers=_VARY)
    rdf_format = dcat.negotiate(request.headers.get("accept"))
    graph = _catalogue(request, site, actor, page, page_size, "/catalog")
    return _rdf(graph, rdf_format, negotiated=request)


@router.get("/datasets/{name}", response_class=Response, responses=_NEGOTIATED)
def negotiated_dataset(name: str, request: Request, site: SiteDep, actor: ActorDep) -> Response:
    """A dataset in the RDF syntax the ``Accept`` header asks for (Turtle by default):
    the IRI that names the dataset in the catalogue. A browser is sent to its web page."""
    if dcat.prefers_html(request.headers.get("accept")):
        return RedirectResponse(f"/dataset/{quote(name, safe='')}", status_code=303, headers=_VARY)
    rdf_format = dcat.negotiate(request.headers.get("accept"))
    graph = dcat.dataset_graph(site, actor, name, base_url=str(request.base_url))
    return _rdf(graph, rdf_format, negotiated=request)
