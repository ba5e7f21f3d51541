"""A plain CKAN site and a DCAT catalogue, served from memory on 127.0.0.1, for the core
harvest tests: packages and files can be changed between runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.harvest.servers import Seen, serve


@dataclass
class FakeCkan:
    """A CKAN Action API whose packages and CSV files a test edits."""

    url: str = ""
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    file_types: dict[str, str] = field(default_factory=dict)  # default: text/csv
    # Served as they are: path (with its query, if any) -> (media type, body).
    documents: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    seen: Seen = field(default_factory=Seen)
    fail_from: int | None = None  # package_search answers 500 from this offset on

    def file_url(self, name: str) -> str:
        """The URL the server answers ``files[name]`` at."""
        return f"{self.url}/files?name={name}"

    def add(
        self, name: str, *, private: bool = False, csv: str | None = None, **extra: Any
    ) -> None:
        """A package called ``name``, with one CSV resource when ``csv`` is given."""
        resources = []
        if csv is not None:
            self.files[name] = csv.encode()
            resources.append({"id": f"{name}-r1", "format": "CSV", "url": self.file_url(name)})
        self.packages[name] = {
            "id": f"id-{name}",
            "name": name,
            "title": name.replace("-", " ").title(),
            "notes": f"About {name}.",
            "private": private,
            "state": "active",
            "license_id": "cc-by",
            "metadata_modified": "2024-05-01T10:00:00.000000",
            "tags": [{"name": "roads"}, {"name": "city"}],
            "extras": [],
            "resources": resources,
            **extra,
        }

    def routes(self) -> dict[str, Any]:
        """The server's routes: status_show, package_search, files, documents."""
        table: dict[str, Any] = {
            "/api/3/action/status_show": self._status,
            "/api/3/action/package_search": self._search,
            "/files": self._file,
        }
        for path in self.documents:
            table[path.split("?")[0]] = self._document
        return table

    def _status(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        _json(handler, {"success": True, "result": {"ckan_version": "2.10.4"}})

    def _search(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        rows, start = int(query["rows"][0]), int(query["start"][0])
        if self.fail_from is not None and start >= self.fail_from:
            _answer(handler, 500, "text/plain", b"Solr is down")
            return
        names = sorted(self.packages)
        page = [self.packages[name] for name in names[start : start + rows]]
        _json(handler, {"success": True, "result": {"count": len(names), "results": page}})

    def _file(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        body = self.files.get(query["name"][0])
        if body is None:
            _answer(handler, 404, "text/plain", b"gone")
            return
        media_type = self.file_types.get(query["name"][0], "text/csv; charset=utf-8")
        _answer(handler, 200, media_type, body)

    def _document(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        path = handler.path if handler.path in self.documents else handler.path.split("?")[0]
        media_type, body = self.documents[path]
        _answer(handler, 200, media_type, body)


def _json(handler: BaseHTTPRequestHandler, document: Any) -> None:
    _answer(handler, 200, "application/json", json.dumps(document).encode())


def _answer(handler: BaseHTTPRequestHandler, status: int, media_type: str, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", media_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Routes(dict[str, Any]):
    """The routes of a :class:`FakeCkan` as they are at each request."""

    def __init__(self, ckan: FakeCkan) -> None:
        super().__init__()
        self._ckan = ckan

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._ckan.routes().get(key, default)


@contextmanager
def fake_ckan() -> Iterator[FakeCkan]:
    """A running :class:`FakeCkan`."""
    ckan = FakeCkan()
    with serve("127.0.0.1", routes=_Routes(ckan)) as running:
        ckan.url = running.url
        ckan.seen = running.seen
        yield ckan


# --- a DCAT catalogue of two pages ------------------------------------------------------

PREFIXES = """
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
@prefix locn: <http://www.w3.org/ns/locn#> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""
ACCESS = "http://publications.europa.eu/resource/authority/access-right/"


def page_one(base: str) -> str:
    """A first catalogue page: two datasets, one of them restricted, and a next page."""
    return (
        PREFIXES
        + f"""
<{base}/catalog> a dcat:Catalog, hydra:Collection ;
    dcat:dataset <{base}/ds/trees>, <{base}/ds/salaries> ;
    hydra:totalItems "3"^^xsd:nonNegativeInteger ;
    hydra:view <{base}/catalog.ttl?page=1> .
<{base}/catalog.ttl?page=1> a hydra:PartialCollectionView ;
    hydra:next <{base}/catalog.ttl?page=2> .
<{base}/ds/trees> a dcat:Dataset ;
    dct:identifier "Street_Trees" ;
    dct:title "Street trees"@en, "Straßenbäume"@de ;
    dct:description "Every tree the city looks after." ;
    dcat:keyword "trees", "environment" ;
    dct:license <https://spdx.org/licenses/CC-BY-4.0> ;
    dct:accessRights <{ACCESS}PUBLIC> ;
    dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/WEEKLY> ;
    dct:modified "2024-05-01T10:00:00+00:00"^^xsd:dateTime ;
    dct:temporal [ a dct:PeriodOfTime ; dcat:startDate "2020-01-01"^^xsd:date ;
                   dcat:endDate "2024-12-31"^^xsd:date ] ;
    dct:spatial [ a dct:Location ; locn:geometry [ geo:asGeoJSON
        "{{\\"type\\": \\"Point\\", \\"coordinates\\": [-1.55, 53.8]}}" ] ] ;
    dcat:distribution <{base}/ds/trees#csv>, <{base}/ds/trees#json> .
<{base}/ds/trees#csv> a dcat:Distribution ;
    dcat:mediaType <http://www.iana.org/assignments/media-types/text/csv> ;
    dcat:downloadURL <{base}/files?name=trees> .
<{base}/ds/trees#json> a dcat:Distribution ;
    dcat:mediaType <http://www.iana.org/assignments/media-types/application/json> ;
    dcat:downloadURL <{base}/files?name=trees-json> .
<{base}/ds/salaries> a dcat:Dataset ;
    dct:title "Salaries" ;
    dct:accessRights <{ACCESS}NON_PUBLIC> .
"""
    )


def page_two(base: str) -> str:
    """The last page: a blank-node dataset with two CSV files; a link back to page 1."""
    return (
        PREFIXES
        + f"""
<{base}/catalog.ttl?page=2> a hydra:PartialCollectionView ;
    hydra:previous <{base}/catalog.ttl?page=1> ;
    hydra:next <{base}/catalog.ttl?page=1> .
[] a dcat:Dataset ;
    dct:identifier "bus-stops" ;
    dct:title "Bus stops" ;
    dct:license [ a dct:LicenseDocument ; rdfs:label "ODbL-1.0" ] ;
    dcat:distribution [ dct:format "CSV" ; dcat:downloadURL <{base}/files?name=a> ],
        [ dct:format <http://publications.europa.eu/resource/authority/file-type/CSV> ;
          dcat:downloadURL <{base}/files?name=b> ] .
"""
    )
