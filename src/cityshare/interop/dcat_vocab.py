"""The vocabularies of the DCAT-AP output: namespaces, the EU authority tables it uses, and
GeoJSON as the WKT literals DCAT-AP 3 expects.

The mappings are deliberately small and documented in ``docs/dcat.md``:

* a dataset's themes come from its tags (a tag's words against a short keyword list per
  theme of the EU data-theme table), and default to ``REGI`` (regions and cities);
* its update frequency maps one to one onto the EU frequency table;
* its visibility maps onto the EU access-right table;
* each query format has an IANA media type and, where the EU file-type table has one, a
  file type (NDJSON has none, so its distributions carry a media type only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rdflib import Namespace, URIRef

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
PREFIXES = {
    "dcat": DCAT,
    "dct": DCT,
    "foaf": FOAF,
    "vcard": VCARD,
    "skos": SKOS,
    "hydra": HYDRA,
    "locn": LOCN,
    "geo": GSP,
}

AUTHORITY = "http://publications.europa.eu/resource/authority/"
IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"
SPDX_LICENCES = "https://spdx.org/licenses/"
DATA_PACKAGE_SPEC = URIRef("https://specs.frictionlessdata.io/data-package/")
WKT_LITERAL = GSP.wktLiteral
GEOJSON_LITERAL = GSP.geoJSONLiteral


@dataclass(frozen=True)
class Concept:
    """One entry of an EU authority table."""

    iri: URIRef
    label: str


def _authority(table: str, code: str, label: str) -> Concept:
    return Concept(URIRef(f"{AUTHORITY}{table}/{code}"), label)


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


DATA_THEME_SCHEME = URIRef(f"{AUTHORITY}data-theme")
DATA_THEME_TITLE = "Data theme"
THEMES = {
    code: _authority("data-theme", code, label)
    for code, label in (
        ("TRAN", "Transport"),
        ("ENVI", "Environment"),
        ("ENER", "Energy"),
        ("HEAL", "Health"),
        ("EDUC", "Education, culture and sport"),
        ("SOCI", "Population and society"),
        ("ECON", "Economy and finance"),
        ("GOVE", "Government and public sector"),
        ("JUST", "Justice, legal system and public safety"),
        ("TECH", "Science and technology"),
        ("REGI", "Regions and cities"),
    )
}
DEFAULT_THEME = "REGI"
# The words of a tag that place a dataset in a theme ("air-quality" → "air" → ENVI).
THEME_WORDS: dict[str, frozenset[str]] = {
    "TRAN": _words(
        "transport traffic mobility bus buses tram trams train trains rail railway metro "
        "bike bikes bicycle bicycles cycling cycle parking road roads car cars taxi "
        "pedestrian pedestrians vehicle vehicles transit timetable junction junctions"
    ),
    "ENVI": _words(
        "environment environmental air no2 pm10 pm2 pm25 ozone pollution noise weather "
        "climate emissions co2 temperature rainfall flood floods water waste recycling "
        "trees biodiversity"
    ),
    "ENER": _words("energy electricity power solar heating charging"),
    "HEAL": _words("health hospital hospitals healthcare"),
    "EDUC": _words("education school schools library libraries culture sport museum"),
    "SOCI": _words("population census housing demographics social"),
    "ECON": _words("economy business budget finance spending tourism footfall"),
    "GOVE": _words("government council election elections procurement"),
    "JUST": _words("crime police justice safety"),
    "TECH": _words("wifi broadband iot technology science"),
}

FREQUENCIES = {
    value: _authority("frequency", code, label)
    for value, code, label in (
        ("continuous", "UPDATE_CONT", "continuously updated"),
        ("hourly", "HOURLY", "hourly"),
        ("daily", "DAILY", "daily"),
        ("weekly", "WEEKLY", "weekly"),
        ("monthly", "MONTHLY", "monthly"),
        ("quarterly", "QUARTERLY", "quarterly"),
        ("annually", "ANNUAL", "annual"),
        ("irregular", "IRREG", "irregular"),
        ("never", "NEVER", "never"),
    )
}

ACCESS_RIGHTS = {
    value: _authority("access-right", code, label)
    for value, code, label in (
        ("open", "PUBLIC", "public"),
        ("shared", "RESTRICTED", "restricted"),
        ("private", "NON_PUBLIC", "non-public"),
    )
}

# The EU file type of each query format, by its ``_format`` value.
FILE_TYPES = {
    param: _authority("file-type", code, code)
    for param, code in (("csv", "CSV"), ("json", "JSON"), ("geojson", "GEOJSON"))
}
DATA_PACKAGE_FILE_TYPE = FILE_TYPES["json"]


def media_type_iri(media_type: str) -> URIRef:
    """The IANA IRI of a media type (``text/csv`` → ``…/media-types/text/csv``)."""
    return URIRef(IANA_MEDIA_TYPES + media_type)


def themes_of(tags: Iterable[str]) -> list[Concept]:
    """The EU data themes that a dataset's tags point at; ``REGI`` when none does."""
    words = {word for tag in tags for word in _WORD.findall(tag.lower())}
    found = [THEMES[code] for code, known in THEME_WORDS.items() if words & known]
    return found or [THEMES[DEFAULT_THEME]]


# --- GeoJSON geometry as WKT -----------------------------------------------------------


def wkt(geometry: dict[str, Any]) -> str:
    """A GeoJSON geometry (already checked, WGS84) as WKT in CRS84 axis order."""
    kind = geometry["type"]
    coordinates = geometry["coordinates"]
    if kind == "Point":
        return f"POINT ({_position(coordinates)})"
    if kind == "MultiPoint":
        return f"MULTIPOINT ({', '.join(f'({_position(p)})' for p in coordinates)})"
    if kind == "LineString":
        return f"LINESTRING {_ring(coordinates)}"
    if kind == "Polygon":
        return f"POLYGON {_rings(coordinates)}"
    if kind == "MultiPolygon":
        return f"MULTIPOLYGON ({', '.join(_rings(polygon) for polygon in coordinates)})"
    raise ValueError(f"unsupported geometry type {kind!r}")


def bounding_box(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """``(min x, min y, max x, max y)`` of a GeoJSON geometry."""
    xs, ys = zip(*_positions(geometry["coordinates"]), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def bbox_wkt(box: tuple[float, float, float, float]) -> str:
    """A bounding box as a WKT polygon."""
    minx, miny, maxx, maxy = (_number(value) for value in box)
    corners = [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy), (minx, miny)]
    return "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in corners) + "))"


def centre_wkt(box: tuple[float, float, float, float]) -> str:
    """The centre of a bounding box as a WKT point."""
    minx, miny, maxx, maxy = box
    return f"POINT ({_number((minx + maxx) / 2)} {_number((miny + maxy) / 2)})"


def _positions(coordinates: Any) -> Iterator[tuple[float, float]]:
    if coordinates and isinstance(coordinates[0], int | float):
        yield float(coordinates[0]), float(coordinates[1])
        return
    for item in coordinates:
        yield from _positions(item)


def _position(position: list[float]) -> str:
    return f"{_number(position[0])} {_number(position[1])}"


def _ring(positions: list[list[float]]) -> str:
    return "(" + ", ".join(_position(position) for position in positions) + ")"


def _rings(rings: list[list[list[float]]]) -> str:
    return "(" + ", ".join(_ring(ring) for ring in rings) + ")"


def _number(value: float) -> str:
    """A coordinate in plain decimal notation (no exponent, which some WKT readers refuse)."""
    text = f"{float(value):.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
