"""Reading a DCAT catalogue (DCAT-AP, as cityshare and most open-data portals publish it),
in Turtle, JSON-LD or RDF/XML, page after page along ``hydra:next``.

Each ``dcat:Dataset`` gives a title, description, keywords, licence, update frequency,
temporal coverage and, when it is GeoJSON, its spatial coverage. A dataset whose
``dct:accessRights`` is anything but the EU table's ``PUBLIC`` is not harvested. Its data
is its one CSV distribution with a ``dcat:downloadURL``.

Nothing in a document makes the harvester fetch anything else: a JSON-LD document that
names a remote ``@context`` is refused (rdflib would fetch it, outside the guard), and so
is an RDF/XML document with a DOCTYPE (entities).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from rdflib import RDF, RDFS, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from cityshare.harvest.fetch import Credential, Fetched, SafeFetcher, SourceError, origin_of
from cityshare.harvest.fetch import parse_url as checked_url
from cityshare.harvest.remote import (
    MAX_REMOTE_ID_CHARS,
    RemoteDataset,
    RemoteProblem,
    checked_metadata,
    frequency,
    licence_id,
    slug,
    spatial,
)
from cityshare.harvest.text import plain, shown_url
from cityshare.interop.dcat_vocab import DCAT, DCT, GSP, HYDRA, LOCN

PUBLIC = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"

ACCEPT = "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8"
MAX_PAGES = 10_000
FORMATS = {
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/json": "json-ld",
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/n-triples": "nt",
}
SUFFIXES = {".ttl": "turtle", ".jsonld": "json-ld", ".json": "json-ld", ".rdf": "xml"}


class DcatSource:
    """A DCAT catalogue, read page by page."""

    kind = "dcat"

    def __init__(self, fetcher: SafeFetcher, url: str, token: str | None = None) -> None:
        parsed = checked_url(url)
        self.url = str(parsed.copy_with(fragment=None))
        self.key = self.url  # what harvest records name the source by
        self.total: int | None = None
        self._fetcher = fetcher
        self._credential = (
            Credential(origin_of(self.url), "Authorization", f"Bearer {token}") if token else None
        )

    def check(self) -> None:
        """Nothing to check before reading: the first page shows what the URL is."""

    def datasets(self) -> Iterator[RemoteDataset | RemoteProblem]:
        """Every dataset of every page, following ``hydra:next`` (``total`` once known)."""
        seen = {self.url}
        listed: set[str] = set()  # pages that overlap (a catalogue changing) list twice
        page_url = self.url
        for _page in range(MAX_PAGES):
            graph = self.page(page_url)
            total = next(iter(graph.objects(None, HYDRA.totalItems)), None)
            if isinstance(total, Literal) and str(total).isdigit():
                self.total = int(str(total))
            for subject in datasets_in(graph):
                if str(subject) not in listed or isinstance(subject, BNode):
                    listed.add(str(subject))
                    yield read_dataset(graph, subject)
            following = next_page(graph)
            if following is None or following in seen:
                return
            seen.add(following)
            page_url = following

    def page(self, url: str) -> Graph:
        """One page of the catalogue, parsed."""
        fetched = self._fetcher.get(url, accept=ACCEPT, credential=self._credential)
        return parse_document(fetched)


def parse_document(fetched: Fetched) -> Graph:
    """The RDF graph of an answer, in the syntax its media type (or suffix) names."""
    syntax = FORMATS.get(fetched.content_type) or _syntax_by_suffix(fetched.url)
    _refuse_fetching_documents(fetched, syntax)
    graph = Graph()
    try:
        graph.parse(data=fetched.body, format=syntax, publicID=fetched.url)
    except Exception as error:  # rdflib raises many kinds, all meaning "not readable"
        raise SourceError(
            f"{shown_url(fetched.url)} could not be read as {syntax}: "
            f"{plain(error, 160) or type(error).__name__}."
        ) from None
    return graph


def _syntax_by_suffix(url: str) -> str:
    path = checked_url(url).path.lower()
    for suffix, syntax in SUFFIXES.items():
        if path.endswith(suffix):
            return syntax
    return "turtle"


def _refuse_fetching_documents(fetched: Fetched, syntax: str) -> None:
    """Refuse what would make the RDF parser fetch: remote JSON-LD contexts, DTDs."""
    if syntax == "xml" and b"<!doctype" in fetched.body[:65536].lower():
        raise SourceError(f"{shown_url(fetched.url)} has a DOCTYPE; it is not read.")
    if syntax != "json-ld":
        return
    try:
        document = orjson.loads(fetched.body)
    except orjson.JSONDecodeError:
        raise SourceError(f"{shown_url(fetched.url)} is not JSON.") from None
    if _names_remote_context(document):
        raise SourceError(
            f"{shown_url(fetched.url)} names a remote JSON-LD @context, which is not fetched."
        )


def _names_remote_context(document: Any) -> bool:
    """Whether a JSON-LD document refers to a context by URL (``@context`` or
    ``@import`` with a string), anywhere in it."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key in ("@context", "@import") and _has_string(value):
                    return True
                pending.append(value)
    return False


def _has_string(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and any(isinstance(item, str) for item in value)
    )


def datasets_in(graph: Graph) -> list[Node]:
    """The datasets a page describes, in a stable order."""
    found = set(graph.subjects(RDF.type, DCAT.Dataset)) | set(graph.objects(None, DCAT.dataset))
    return sorted((node for node in found if isinstance(node, URIRef | BNode)), key=str)


def next_page(graph: Graph) -> str | None:
    """The next page's URL (``hydra:next``, or the older ``hydra:nextPage``)."""
    for term in (HYDRA.next, HYDRA.nextPage):
        pages = sorted(str(node) for node in graph.objects(None, term) if isinstance(node, URIRef))
        if pages:
            return pages[0]
    return None


def read_dataset(graph: Graph, subject: Node) -> RemoteDataset | RemoteProblem:
    """One ``dcat:Dataset`` as a :class:`RemoteDataset` (or why it cannot be one)."""
    identifier = _literal(graph, subject, DCT.identifier)
    remote_id = str(subject) if isinstance(subject, URIRef) else identifier or ""
    title = _literal(graph, subject, DCT.title)
    label = plain(identifier or title or remote_id or "(unnamed dataset)", 100)
    if not remote_id or len(remote_id) > MAX_REMOTE_ID_CHARS:
        return RemoteProblem(label, "the dataset has neither an IRI nor an identifier")
    metadata, dropped = checked_metadata(
        {
            "title": title or identifier,
            "description": _literal(graph, subject, DCT.description) or "",
            "tags": sorted({str(word) for word in graph.objects(subject, DCAT.keyword)}),
            "licence": _licence(graph, subject),
            "update_frequency": frequency(_text(graph.value(subject, DCT.accrualPeriodicity))),
            "spatial": _spatial(graph, subject),
            "temporal": _temporal(graph, subject),
        }
    )
    data_url, note = _csv_download(graph, subject)
    path_name = remote_id.rstrip("/").rsplit("/", 1)[-1] if isinstance(subject, URIRef) else ""
    return RemoteDataset(
        remote_id=remote_id,
        name=slug(identifier or "") or slug(path_name) or slug(title or ""),
        public=_is_public(graph, subject),
        metadata=metadata,
        data_url=data_url,
        data_note=note,
        modified=_literal(graph, subject, DCT.modified),
        dropped=dropped,
    )


def _is_public(graph: Graph, subject: Node) -> bool:
    rights = list(graph.objects(subject, DCT.accessRights))
    return all(str(right) == PUBLIC for right in rights)


def _literal(graph: Graph, subject: Node, predicate: URIRef) -> str | None:
    """The value of a literal property: untagged first, then English, then any."""
    values = [node for node in graph.objects(subject, predicate) if isinstance(node, Literal)]
    if not values:
        return None
    values.sort(key=lambda node: (node.language not in (None, "en"), node.language or "", node))
    return str(values[0])


def _text(node: Node | None) -> str | None:
    return None if node is None else str(node)


def _licence(graph: Graph, subject: Node) -> str | None:
    """The dataset's licence, or its distributions' one when it names none."""
    candidates = list(graph.objects(subject, DCT.license))
    for distribution in graph.objects(subject, DCAT.distribution):
        candidates.extend(graph.objects(distribution, DCT.license))
    for node in candidates:
        if isinstance(node, URIRef):
            return licence_id(str(node))
        label = _literal(graph, node, RDFS.label)
        if label:
            return licence_id(label)
    return None


def _spatial(graph: Graph, subject: Node) -> dict[str, Any] | None:
    """The GeoJSON of ``dct:spatial`` (``locn:geometry`` as a literal, or its
    ``geo:asGeoJSON``); WKT and place names are not read."""
    for place in graph.objects(subject, DCT.spatial):
        for geometry in graph.objects(place, LOCN.geometry):
            if isinstance(geometry, Literal):
                found = spatial(str(geometry))
            else:
                found = spatial(_text(graph.value(geometry, GSP.asGeoJSON)))
            if found is not None:
                return found
    return None


def _temporal(graph: Graph, subject: Node) -> dict[str, str | None] | None:
    for period in graph.objects(subject, DCT.temporal):
        start = _text(graph.value(period, DCAT.startDate))
        end = _text(graph.value(period, DCAT.endDate))
        if start or end:
            return {"start": start, "end": end}
    return None


def _csv_download(graph: Graph, subject: Node) -> tuple[str | None, str]:
    """The download URL of the dataset's one CSV distribution, or None and why not."""
    found: set[str] = set()
    for distribution in graph.objects(subject, DCAT.distribution):
        download = graph.value(distribution, DCAT.downloadURL)
        if isinstance(download, URIRef) and _is_csv(graph, distribution):
            found.add(str(download))
    if not found:
        return None, "no CSV distribution with a download URL"
    if len(found) > 1:
        return None, f"{len(found)} CSV distributions: which one is the data is not guessed"
    return found.pop(), ""


def _is_csv(graph: Graph, distribution: Node) -> bool:
    kinds = [
        str(node).rstrip("/").lower()
        for predicate in (DCAT.mediaType, DCT["format"])
        for node in graph.objects(distribution, predicate)
    ]
    return any(kind.endswith(("text/csv", "/csv")) or kind == "csv" for kind in kinds)
