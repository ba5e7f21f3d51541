"""The catalogue and its datasets as DCAT-AP 3.0.1 RDF (Turtle, JSON-LD, RDF/XML).

Only what the asker may see is described: the catalogue lists its datasets through
:func:`cityshare.catalogue.search.search_datasets` and a single dataset comes from
:func:`cityshare.catalogue.datasets.get_dataset`, which both go through the access policy.
A dataset has one distribution per format of the query API (as
:func:`cityshare.tables.data_formats.dataset_formats` lists them; per stream for sensor
datasets), and its Frictionless Data Package once it has data. The catalogue is paged with
a Hydra ``PartialCollectionView``, as DCAT-AP harvesters (data.europa.eu's piveau among
them) follow it. ``docs/dcat.md`` has the mapping of every field.

Usage::

    graph = catalogue_graph(site, actor, base_url="https://data.example.org/",
                            document_url="https://data.example.org/catalog.ttl")
    body = serialize(graph, TURTLE)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from cityshare.access import Actor
from cityshare.accounts.organisations import get_organisation
from cityshare.catalogue.datasets import get_dataset
from cityshare.catalogue.models import DatasetBase
from cityshare.catalogue.search import MAX_OFFSET, SearchQuery, search_datasets
from cityshare.catalogue.versions import get_version
from cityshare.errors import BadRequest
from cityshare.interop import dcat_vocab as vocab
from cityshare.interop.dcat_vocab import DCAT, DCT, FOAF, GSP, HYDRA, LOCN, SKOS, VCARD
from cityshare.site import Site
from cityshare.streams.datastreams import list_streams
from cityshare.streams.models import Stream
from cityshare.tables.data_formats import BY_LABEL, DataFormat, dataset_formats

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Formats whose query URL gives one page at a time: an access URL, not a download.
PAGED_FORMATS = frozenset({"json"})
# Characters XML 1.0 cannot carry; they are left out of every literal, in every syntax.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RdfFormat:
    """One RDF syntax the catalogue is served in."""

    suffix: str  # of the URL: /catalog.ttl
    media_type: str
    rdflib_name: str


TURTLE = RdfFormat("ttl", "text/turtle", "turtle")
JSON_LD = RdfFormat("jsonld", "application/ld+json", "json-ld")
RDF_XML = RdfFormat("rdf", "application/rdf+xml", "xml")
RDF_FORMATS = (TURTLE, JSON_LD, RDF_XML)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BY_MEDIA_TYPE = {
    **{rdf_format.media_type: rdf_format for rdf_format in RDF_FORMATS},
    "application/json": JSON_LD,
    "*/*": TURTLE,
    "text/*": TURTLE,
    "application/*": JSON_LD,
}


@dataclass(frozen=True)
class _Distribution:
    """One way to get a dataset's data, before it becomes triples."""

    key: str  # the fragment of its IRI, unique within the dataset
    title: str
    access_url: str
    download_url: str | None
    media_type: str
    file_type: vocab.Concept | None
    conforms_to: URIRef | None = None


@dataclass(frozen=True)
class _Urls:
    """The IRIs of the things described, all under the site's base URL."""

    base: str

    @property
    def catalogue(self) -> URIRef:
        return URIRef(f"{self.base}/catalog")

    @property
    def home(self) -> URIRef:
        return URIRef(f"{self.base}/api/v1")

    def api(self, path: str) -> str:
        return f"{self.base}/api/v1{path}"

    def dataset(self, name: str) -> URIRef:
        return URIRef(f"{self.base}/datasets/{quote(name)}")

    def organisation(self, name: str) -> URIRef:
        return URIRef(self.api(f"/organisations/{quote(name)}"))


# --- Public functions --------------------------------------------------------------------


def negotiate(accept: str | None) -> RdfFormat:
    """The RDF syntax an ``Accept`` header prefers; Turtle when it names none of them."""
    choices: list[tuple[float, int, RdfFormat]] = []
    for order, item in enumerate((accept or "").split(",")):
        media_type, *parameters = (part.strip() for part in item.split(";"))
        rdf_format = _BY_MEDIA_TYPE.get(media_type.lower())
        quality = _quality(parameters)
        if rdf_format is not None and quality > 0:
            choices.append((-quality, order, rdf_format))
    return min(choices, key=lambda choice: choice[:2])[2] if choices else TURTLE


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header prefers a web page to every RDF syntax it names (a
    browser following a dataset's IRI); wildcards count for neither."""
    best: dict[bool, tuple[float, int]] = {}
    for order, item in enumerate((accept or "").split(",")):
        media_type, *parameters = (part.strip().lower() for part in item.split(";"))
        quality = _quality(parameters)
        if quality <= 0 or "*" in media_type:
            continue
        html = media_type in _HTML_TYPES
        if html or media_type in _BY_MEDIA_TYPE:
            best[html] = min(best.get(html, (2.0, 0)), (-quality, order))
    return True in best and (False not in best or best[True] < best[False])


def serialize(graph: Graph, rdf_format: RdfFormat) -> bytes:
    """``graph`` in ``rdf_format``, as UTF-8."""
    if rdf_format is JSON_LD:
        context = {prefix: str(namespace) for prefix, namespace in vocab.PREFIXES.items()}
        return graph.serialize(format="json-ld", context=context, indent=2, encoding="utf-8")
    return graph.serialize(format=rdf_format.rdflib_name, encoding="utf-8")


def check_page(page: int, page_size: int) -> None:
    """Refuse a page number or size the catalogue cannot serve."""
    if page < 1:
        raise BadRequest("page must be 1 or more: pages are numbered from 1.", parameter="page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size must be between 1 and {MAX_PAGE_SIZE}.", parameter="page_size")
    if (page - 1) * page_size > MAX_OFFSET:
        raise BadRequest(
            f"page {page} starts past the first {MAX_OFFSET} datasets, which is as deep as "
            "the catalogue pages: use a larger page_size.",
            parameter="page",
        )


def catalogue_graph(
    site: Site,
    actor: Actor,
    *,
    base_url: str,
    document_url: str,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Graph:
    """One page of the catalogue: the datasets ``actor`` may see, by name.

    ``document_url`` is the URL the page was asked at, without its query; the Hydra links
    to other pages add ``?page=…`` to it.
    """
    check_page(page, page_size)
    query = SearchQuery(sort="name", offset=(page - 1) * page_size, limit=page_size)
    result = search_datasets(site, actor, query)
    urls = _Urls(base_url.rstrip("/"))
    graph = _new_graph()
    catalogue = _add_catalogue(graph, urls)
    publishers = _Publishers(site, actor)
    for dataset in result.datasets:
        labels = (label.lower() for label in dataset.formats)
        formats = [BY_LABEL[label] for label in labels if label in BY_LABEL]
        distributions = _distributions(site, actor, dataset, formats, urls)
        node = _add_dataset(graph, urls, dataset, publishers.title(dataset), distributions)
        graph.add((catalogue, DCAT.dataset, node))
    _add_paging(graph, catalogue, _Paging(document_url, page, page_size, result.count))
    return graph


def dataset_graph(site: Site, actor: Actor, name: str, *, base_url: str) -> Graph:
    """Dataset ``name`` with its distributions, if ``actor`` may see it (else NotFound)."""
    dataset = get_dataset(site, actor, name)
    schema = None
    if dataset.kind == "table" and dataset.current_version is not None:
        schema = get_version(site, actor, name, None).schema_.document()
    formats = list(dataset_formats(dataset.kind, schema))
    urls = _Urls(base_url.rstrip("/"))
    graph = _new_graph()
    distributions = _distributions(site, actor, dataset, formats, urls)
    title = _Publishers(site, actor).title(dataset)
    _add_dataset(graph, urls, dataset, title, distributions)
    return graph


# --- Distributions -----------------------------------------------------------------------


def _distributions(
    site: Site, actor: Actor, dataset: DatasetBase, formats: list[DataFormat], urls: _Urls
) -> list[_Distribution]:
    """The ways to read a dataset's data: none until it has some."""
    name = dataset.name
    if dataset.kind == "sensor":
        found = _stream_distributions(list_streams(site, actor, name), formats, urls)
    else:
        found = [_table_distribution(name, data_format, urls) for data_format in formats]
    return [*found, _data_package(name, urls)] if found else []


def _table_distribution(name: str, data_format: DataFormat, urls: _Urls) -> _Distribution:
    rows = urls.api(f"/datasets/{quote(name)}/rows?_format={data_format.param}")
    paged = data_format.param in PAGED_FORMATS
    return _Distribution(
        key=data_format.param,
        title=f"{data_format.label} (query API{', paged' if paged else ''})",
        access_url=rows if paged else urls.api(f"/datasets/{quote(name)}"),
        download_url=None if paged else rows,
        media_type=data_format.media_type,
        file_type=vocab.FILE_TYPES.get(data_format.param),
    )


def _stream_distributions(
    streams: list[Stream], formats: list[DataFormat], urls: _Urls
) -> list[_Distribution]:
    """One distribution per stream and format: the stream's observations."""
    found = []
    for stream in streams:
        page = urls.api(f"/streams/{stream.id}")
        for data_format in formats:
            observations = f"{page}/observations?_format={data_format.param}"
            paged = data_format.param in PAGED_FORMATS
            found.append(
                _Distribution(
                    key=f"stream-{stream.id}-{data_format.param}",
                    title=f"{stream.name} ({stream.device.uid}) as {data_format.label}",
                    access_url=observations if paged else page,
                    download_url=None if paged else observations,
                    media_type=data_format.media_type,
                    file_type=vocab.FILE_TYPES.get(data_format.param),
                )
            )
    return found


def _data_package(name: str, urls: _Urls) -> _Distribution:
    package = urls.api(f"/datasets/{quote(name)}/datapackage.json")
    return _Distribution(
        key="datapackage",
        title="Frictionless Data Package",
        access_url=package,
        download_url=package,
        media_type="application/json",
        file_type=vocab.DATA_PACKAGE_FILE_TYPE,
        conforms_to=vocab.DATA_PACKAGE_SPEC,
    )


class _Publishers:
    """Organisation titles, looked up once per organisation per graph."""

    def __init__(self, site: Site, actor: Actor) -> None:
        self.site = site
        self.actor = actor
        self.titles: dict[str, str] = {}

    def title(self, dataset: DatasetBase) -> str:
        name = dataset.organisation
        if name not in self.titles:
            organisation = get_organisation(self.site, self.actor, name)
            self.titles[name] = organisation.title or name
        return self.titles[name]


# --- Triples -------------------------------------------------------------------------------


def _new_graph() -> Graph:
    graph = Graph()
    for prefix, namespace in vocab.PREFIXES.items():
        graph.bind(prefix, namespace)
    return graph


def _text(value: str) -> Literal:
    """A plain literal, without the control characters XML cannot carry."""
    return Literal(_NOT_XML.sub("", value))


def _concept(graph: Graph, concept: vocab.Concept, *kinds: URIRef) -> URIRef:
    """An authority-table entry, typed as the shapes ask, with its label."""
    graph.add((concept.iri, RDF.type, SKOS.Concept))
    for kind in kinds:
        graph.add((concept.iri, RDF.type, kind))
    graph.add((concept.iri, SKOS.prefLabel, Literal(concept.label, lang="en")))
    return concept.iri


def _typed(graph: Graph, iri: URIRef, kind: URIRef) -> URIRef:
    graph.add((iri, RDF.type, kind))
    return iri


def _add_catalogue(graph: Graph, urls: _Urls) -> URIRef:
    host = urlsplit(urls.base).netloc or urls.base
    catalogue = urls.catalogue
    graph.add((catalogue, RDF.type, DCAT.Catalog))
    graph.add((catalogue, DCT.title, Literal(f"cityshare data catalogue of {host}")))
    graph.add(
        (
            catalogue,
            DCT.description,
            Literal(
                f"The datasets published at {urls.base} with cityshare: open data, and what "
                "the asker may also see as a member or partner of their organisation."
            ),
        )
    )
    publisher = URIRef(f"{catalogue}#publisher")
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, Literal(f"cityshare at {host}")))
    graph.add((catalogue, DCT.publisher, publisher))
    graph.add((catalogue, FOAF.homepage, _typed(graph, urls.home, FOAF.Document)))
    scheme = _typed(graph, vocab.DATA_THEME_SCHEME, SKOS.ConceptScheme)
    graph.add((scheme, DCT.title, Literal(vocab.DATA_THEME_TITLE, lang="en")))
    graph.add((catalogue, DCAT.themeTaxonomy, scheme))
    return catalogue


def _add_dataset(
    graph: Graph,
    urls: _Urls,
    dataset: DatasetBase,
    publisher_title: str,
    distributions: list[_Distribution],
) -> URIRef:
    """A dataset's triples; returns its IRI."""
    node = _typed(graph, urls.dataset(dataset.name), DCAT.Dataset)
    _add_description(graph, urls, node, dataset)
    _add_parties(graph, urls, node, dataset.organisation, publisher_title)
    licence = _add_terms(graph, node, dataset)
    _add_coverage(graph, node, dataset)
    for distribution in distributions:
        added = _add_distribution(graph, node, distribution, licence)
        graph.add((node, DCAT.distribution, added))
    return node


def _add_description(graph: Graph, urls: _Urls, node: URIRef, dataset: DatasetBase) -> None:
    name = dataset.name
    title = dataset.title or name
    graph.add((node, DCT.identifier, _text(name)))
    graph.add((node, DCT.title, _text(title)))
    graph.add((node, DCT.description, _text(dataset.description or title)))
    for tag in dataset.tags:
        graph.add((node, DCAT.keyword, _text(tag)))
    for theme in vocab.themes_of(dataset.tags):
        graph.add((node, DCAT.theme, _concept(graph, theme)))
        graph.add((theme.iri, SKOS.inScheme, vocab.DATA_THEME_SCHEME))
    landing = URIRef(urls.api(f"/datasets/{quote(name)}"))
    graph.add((node, DCAT.landingPage, _typed(graph, landing, FOAF.Document)))
    for stamp, term in ((dataset.created_at, DCT.issued), (dataset.modified_at, DCT.modified)):
        if stamp:
            graph.add((node, term, Literal(stamp, datatype=XSD.dateTime)))
    if dataset.current_version is not None:
        graph.add((node, DCAT.version, Literal(str(dataset.current_version))))


def _add_parties(graph: Graph, urls: _Urls, node: URIRef, organisation: str, title: str) -> None:
    """The publishing organisation, as publisher (foaf:Agent) and contact point (vCard)."""
    publisher = urls.organisation(organisation)
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, RDF.type, FOAF.Organization))
    graph.add((publisher, FOAF.name, _text(title)))
    graph.add((node, DCT.publisher, publisher))
    contact = URIRef(f"{publisher}#contact")
    graph.add((contact, RDF.type, VCARD.Kind))
    graph.add((contact, RDF.type, VCARD.Organization))
    graph.add((contact, VCARD.fn, _text(title)))
    graph.add((contact, VCARD.hasURL, publisher))
    graph.add((node, DCAT.contactPoint, contact))


def _add_terms(graph: Graph, node: URIRef, dataset: DatasetBase) -> Node | None:
    """Licence, access rights and update frequency; returns the licence node."""
    access = vocab.ACCESS_RIGHTS.get(dataset.visibility or "")
    if access is not None:
        graph.add((node, DCT.accessRights, _concept(graph, access, DCT.RightsStatement)))
    frequency = vocab.FREQUENCIES.get(dataset.update_frequency or "")
    if frequency is not None:
        graph.add((node, DCT.accrualPeriodicity, _concept(graph, frequency, DCT.Frequency)))
    spdx = dataset.licence
    if not spdx:
        return None
    licence: Node = (
        BNode()  # a licence of one's own has no page at spdx.org
        if spdx.startswith("LicenseRef-")
        else URIRef(vocab.SPDX_LICENCES + quote(spdx))
    )
    graph.add((licence, RDF.type, DCT.LicenseDocument))
    graph.add((licence, RDFS.label, _text(spdx)))
    graph.add((node, DCT.license, licence))
    return licence


def _add_coverage(graph: Graph, node: URIRef, dataset: DatasetBase) -> None:
    """Spatial coverage (bounding box, centre, geometry) and the period covered."""
    geometry = dataset.spatial
    if geometry:
        graph.add((node, DCT.spatial, _location(graph, geometry)))
    temporal = dataset.temporal
    if temporal.start or temporal.end:
        period = BNode()
        graph.add((period, RDF.type, DCT.PeriodOfTime))
        for bound, term in ((temporal.start, DCAT.startDate), (temporal.end, DCAT.endDate)):
            if bound:
                graph.add((period, term, _date(bound)))
        graph.add((node, DCT.temporal, period))


def _location(graph: Graph, geometry: dict[str, Any]) -> BNode:
    location = BNode()
    graph.add((location, RDF.type, DCT.Location))
    box = vocab.bounding_box(geometry)
    if box[0] < box[2] and box[1] < box[3]:
        graph.add((location, DCAT.bbox, Literal(vocab.bbox_wkt(box), datatype=vocab.WKT_LITERAL)))
    centre = Literal(vocab.centre_wkt(box), datatype=vocab.WKT_LITERAL)
    graph.add((location, DCAT.centroid, centre))
    shape = BNode()
    graph.add((shape, RDF.type, LOCN.Geometry))
    graph.add((shape, GSP.asWKT, Literal(vocab.wkt(geometry), datatype=vocab.WKT_LITERAL)))
    graph.add((shape, GSP.asGeoJSON, Literal(json.dumps(geometry), datatype=vocab.GEOJSON_LITERAL)))
    graph.add((location, LOCN.geometry, shape))
    return location


def _date(value: str) -> Literal:
    """A temporal bound as xsd:date, or xsd:dateTime when it has a time."""
    if _DATE.fullmatch(value):
        return Literal(value, datatype=XSD.date)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return Literal(value[:10], datatype=XSD.date)  # the metadata check read only this
    return Literal(moment.isoformat(), datatype=XSD.dateTime)


def _add_distribution(
    graph: Graph, dataset: URIRef, distribution: _Distribution, licence: Node | None
) -> URIRef:
    node = _typed(graph, URIRef(f"{dataset}#{distribution.key}"), DCAT.Distribution)
    graph.add((node, DCT.title, _text(distribution.title)))
    if licence is not None:
        graph.add((node, DCT.license, licence))
    graph.add((node, DCAT.accessURL, URIRef(distribution.access_url)))
    if distribution.download_url is not None:
        graph.add((node, DCAT.downloadURL, URIRef(distribution.download_url)))
    media_type = vocab.media_type_iri(distribution.media_type)
    graph.add((node, DCAT.mediaType, _typed(graph, media_type, DCT.MediaType)))
    if distribution.file_type is not None:
        file_type = _typed(graph, distribution.file_type.iri, DCT.MediaTypeOrExtent)
        graph.add((node, DCT["format"], file_type))
    if distribution.conforms_to is not None:
        graph.add((node, DCT.conformsTo, _typed(graph, distribution.conforms_to, DCT.Standard)))
    return node


# --- Paging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Paging:
    document_url: str
    page: int
    page_size: int
    count: int

    @property
    def last(self) -> int:
        return max(1, math.ceil(self.count / self.page_size))

    def link(self, page: int) -> URIRef:
        size = "" if self.page_size == DEFAULT_PAGE_SIZE else f"&page_size={self.page_size}"
        return URIRef(f"{self.document_url}?page={page}{size}")


def _add_paging(graph: Graph, catalogue: URIRef, paging: _Paging) -> None:
    """The Hydra view of this page: first, previous, next and last, and the total."""
    graph.add((catalogue, RDF.type, HYDRA.Collection))
    total = Literal(paging.count, datatype=XSD.nonNegativeInteger)
    graph.add((catalogue, HYDRA.totalItems, total))
    view = _typed(graph, paging.link(paging.page), HYDRA.PartialCollectionView)
    graph.add((catalogue, HYDRA.view, view))
    graph.add((view, HYDRA.first, paging.link(1)))
    graph.add((view, HYDRA.last, paging.link(paging.last)))
    if paging.page > 1:
        graph.add((view, HYDRA.previous, paging.link(min(paging.page, paging.last + 1) - 1)))
    if paging.page < paging.last:
        graph.add((view, HYDRA.next, paging.link(paging.page + 1)))


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0
