"""DCAT-AP 3.0.1 output: every syntax conforms to the official SHACL shapes, describes what
the asker may see and nothing else, and pages with Hydra."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyshacl import validate
from rdflib import RDF, RDFS, XSD, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.term import Node
from starlette.testclient import TestClient

from cityshare.accounts.console import console_actor
from cityshare.catalogue import datasets, versions
from cityshare.interop.dcat import JSON_LD, RDF_XML, TURTLE, negotiate
from cityshare.interop.dcat_vocab import DCAT, DCT, FOAF, GSP, HYDRA, LOCN, VCARD
from cityshare.site import Site
from tests.sensors import add_sensor_dataset
from tests.world import OWNER, World

# rdflib's own JSON-LD parser still builds a ConjunctiveGraph (rdflib 7.x); only that is let by.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
# The official shapes, copied into the repository from ../shared/standards (SOURCE.md there).
SHAPES_FILE = Path("dcat-ap-3.0.1") / "dcat-ap-SHACL.ttl"
SHAPES = Path(__file__).resolve().parents[1] / "standards" / SHAPES_FILE
SHARED_SHAPES = Path(__file__).resolve().parents[2].parent / "shared" / "standards" / SHAPES_FILE
SYNTAXES = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}
MEDIA_TYPES = {
    "ttl": "text/turtle; charset=utf-8",
    "jsonld": "application/ld+json; charset=utf-8",
    "rdf": "application/rdf+xml; charset=utf-8",
}
BASE = "http://testserver"
THEME = "http://publications.europa.eu/resource/authority/data-theme/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "http://www.iana.org/assignments/media-types/"
STOPS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-1.61, 54.97]},
            "properties": {"stop_code": "NC01"},
        }
    ],
}


@pytest.fixture(scope="module")
def shapes() -> Graph:
    """The DCAT-AP 3.0.1 SHACL shapes, as published."""
    return Graph().parse(SHAPES, format="turtle")


def test_the_shapes_are_the_official_ones() -> None:
    """The copy in the repository is the shared conformance material, byte for byte."""
    if not SHARED_SHAPES.is_file():
        pytest.skip(f"no shared conformance material at {SHARED_SHAPES} to compare with")
    assert SHAPES.read_bytes() == SHARED_SHAPES.read_bytes()


def fetch(client: TestClient, url: str, headers: dict[str, str] | None = None) -> Graph:
    """The RDF at ``url``, parsed back in the syntax its suffix names."""
    response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text
    suffix = url.split("?")[0].rsplit(".", 1)[1]
    assert response.headers["content-type"] == MEDIA_TYPES[suffix]
    return Graph().parse(data=response.content, format=SYNTAXES[suffix])


def assert_conforms(graph: Graph, shapes: Graph) -> None:
    conforms, _report, text = validate(graph, shacl_graph=shapes)
    assert conforms, text


def without_paging(graph: Graph) -> Graph:
    """``graph`` without its Hydra view, whose links name the syntax of the document."""
    view = graph.value(URIRef(f"{BASE}/catalog"), HYDRA.view)
    kept = Graph()
    for triple in graph:
        if view not in (triple[0], triple[2]):
            kept.add(triple)
    return kept


def dataset_iri(name: str) -> URIRef:
    return URIRef(f"{BASE}/datasets/{name}")


def described(graph: Graph) -> set[str]:
    """The names of the datasets a graph describes."""
    return {
        str(graph.value(node, DCT.identifier)) for node in graph.subjects(RDF.type, DCAT.Dataset)
    }


def distributions(graph: Graph, name: str) -> dict[str, dict[str, Node | None]]:
    """Each distribution of dataset ``name`` by its IRI's fragment, with its main terms."""
    found = {}
    for node in graph.objects(dataset_iri(name), DCAT.distribution):
        found[str(node).rsplit("#", 1)[1]] = {
            "access": graph.value(node, DCAT.accessURL),
            "download": graph.value(node, DCAT.downloadURL),
            "media_type": graph.value(node, DCAT.mediaType),
            "format": graph.value(node, DCT["format"]),
            "licence": graph.value(node, DCT.license),
        }
    return found


def add_table(site: Site, folder: Path, name: str, body: str, media_type: str, **meta: Any) -> None:
    """A dataset of the owner organisation with one version of ``body``."""
    admin = console_actor(site, "admin")
    datasets.create_dataset(site, admin, organisation=OWNER, name=name, **meta)
    source = folder / f"{name}.data"
    source.write_text(body)
    versions.publish_version(site, admin, name, source=source, media_type=media_type)


# --- Conformance -----------------------------------------------------------------------------


def test_the_catalogue_conforms_and_reads_the_same_in_every_syntax(
    world: World, client: TestClient, shapes: Graph
) -> None:
    graphs = [fetch(client, f"/catalog.{suffix}", world.headers("member")) for suffix in SYNTAXES]
    for graph in graphs:
        assert_conforms(graph, shapes)
        assert described(graph) == {
            f"{visibility}-{kind}"
            for visibility in ("open", "shared", "private")
            for kind in ("counts", "air")
        }
    # The same triples in every syntax, but for the links to pages (each in its own syntax).
    same = [without_paging(graph) for graph in graphs]
    assert isomorphic(same[0], same[1]) and isomorphic(same[0], same[2])
    catalogue = URIRef(f"{BASE}/catalog")
    turtle = graphs[0]
    assert (catalogue, RDF.type, DCAT.Catalog) in turtle
    assert turtle.value(catalogue, DCT.title) is not None
    assert turtle.value(turtle.value(catalogue, DCT.publisher), FOAF.name) is not None
    assert set(turtle.objects(catalogue, DCAT.dataset)) == set(
        turtle.subjects(RDF.type, DCAT.Dataset)
    )


def test_the_shapes_catch_a_dataset_without_a_description(
    world: World, client: TestClient, shapes: Graph
) -> None:
    graph = fetch(client, "/datasets/open-counts.ttl")
    assert_conforms(graph, shapes)
    graph.remove((dataset_iri("open-counts"), DCT.description, None))
    assert not validate(graph, shacl_graph=shapes)[0]


def test_a_dataset_of_tables_maps_every_field(
    world: World, client: TestClient, shapes: Graph, site: Site
) -> None:
    polygon = {"type": "Polygon", "coordinates": [[[-1.6, 53.7], [-1.4, 53.7], [-1.4, 53.9],
                                                   [-1.6, 53.9], [-1.6, 53.7]]]}  # fmt: skip
    changes = {
        "description": "Cars counted at junctions.",
        "tags": ["traffic", "air-quality"],
        "licence": "CC-BY-4.0",
        "update_frequency": "daily",
        "spatial": polygon,
        "temporal": {"start": "2024-03-01", "end": "2024-03-31T18:00:00Z"},
    }
    datasets.update_dataset(site, console_actor(site, "admin"), "open-counts", changes)
    graph = fetch(client, "/datasets/open-counts.ttl")
    assert_conforms(graph, shapes)
    node = dataset_iri("open-counts")
    assert graph.value(node, DCT.description) == Literal("Cars counted at junctions.")
    assert set(graph.objects(node, DCAT.keyword)) == {Literal("traffic"), Literal("air-quality")}
    assert set(graph.objects(node, DCAT.theme)) == {URIRef(THEME + "TRAN"), URIRef(THEME + "ENVI")}
    publisher = graph.value(node, DCT.publisher)
    assert graph.value(publisher, FOAF.name) == Literal("City")
    contact = graph.value(node, DCAT.contactPoint)
    assert graph.value(contact, VCARD.fn) == Literal("City")
    assert graph.value(contact, VCARD.hasURL) == URIRef(f"{BASE}/api/v1/organisations/city")
    assert not list(graph.triples((None, VCARD.hasEmail, None)))  # none is stored
    licence = URIRef("https://spdx.org/licenses/CC-BY-4.0")
    assert graph.value(node, DCT.license) == licence
    assert (licence, RDF.type, DCT.LicenseDocument) in graph
    frequency = "http://publications.europa.eu/resource/authority/frequency/DAILY"
    assert graph.value(node, DCT.accrualPeriodicity) == URIRef(frequency)
    location = graph.value(node, DCT.spatial)
    bbox = graph.value(location, DCAT.bbox)
    assert bbox == Literal(
        "POLYGON ((-1.6 53.7, -1.4 53.7, -1.4 53.9, -1.6 53.9, -1.6 53.7))",
        datatype=GSP.wktLiteral,
    )
    geometry = graph.value(location, LOCN.geometry)
    assert json.loads(str(graph.value(geometry, GSP.asGeoJSON))) == polygon
    period = graph.value(node, DCT.temporal)
    assert graph.value(period, DCAT.startDate) == Literal("2024-03-01", datatype=XSD.date)
    end = Literal("2024-03-31T18:00:00+00:00", datatype=XSD.dateTime)
    assert graph.value(period, DCAT.endDate) == end
    issued = graph.value(node, DCT.issued)
    assert isinstance(issued, Literal) and issued.datatype == XSD.dateTime
    assert graph.value(node, DCAT.landingPage) == URIRef(f"{BASE}/api/v1/datasets/open-counts")


def test_tables_have_one_distribution_per_query_format_and_the_urls_work(
    world: World, client: TestClient
) -> None:
    graph = fetch(client, "/datasets/open-counts.rdf")
    found = distributions(graph, "open-counts")
    assert set(found) == {"csv", "json", "ndjson", "datapackage"}
    rows = f"{BASE}/api/v1/datasets/open-counts/rows"
    assert found["csv"]["download"] == URIRef(f"{rows}?_format=csv")
    assert found["csv"]["media_type"] == URIRef(IANA + "text/csv")
    assert found["csv"]["format"] == URIRef(FILE_TYPE + "CSV")
    assert found["ndjson"]["media_type"] == URIRef(IANA + "application/x-ndjson")
    # JSON is paged: an access URL, not a download.
    assert found["json"]["access"] == URIRef(f"{rows}?_format=json")
    assert found["json"]["download"] is None
    assert found["datapackage"]["download"] == URIRef(
        f"{BASE}/api/v1/datasets/open-counts/datapackage.json"
    )
    for distribution in found.values():
        url = distribution["download"] or distribution["access"]
        response = client.get(str(url))
        assert response.status_code == 200, url
    csv = client.get(str(found["csv"]["download"]))
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("junction,counted_at")


def test_a_geometry_column_adds_a_geojson_distribution(
    world: World, client: TestClient, shapes: Graph, site: Site, tmp_path: Path
) -> None:
    add_table(site, tmp_path, "stops", json.dumps(STOPS), "application/geo+json",
              visibility="open", title="Bus stops", tags=["bus"])  # fmt: skip
    graph = fetch(client, "/datasets/stops.jsonld")
    assert_conforms(graph, shapes)
    found = distributions(graph, "stops")
    assert set(found) == {"csv", "json", "ndjson", "geojson", "datapackage"}
    assert found["geojson"]["media_type"] == URIRef(IANA + "application/geo+json")
    assert found["geojson"]["format"] == URIRef(FILE_TYPE + "GEOJSON")
    geojson = client.get(str(found["geojson"]["download"]))
    assert geojson.status_code == 200
    assert geojson.json()["features"][0]["properties"]["stop_code"] == "NC01"
    # The catalogue lists the same distributions as the dataset's own document.
    catalogue = fetch(client, "/catalog.ttl")
    assert distributions(catalogue, "stops") == distributions(graph, "stops")


def test_a_sensor_dataset_has_a_distribution_per_stream_and_format(
    world: World, client: TestClient, shapes: Graph
) -> None:
    name = world.sensor_datasets["open"]
    stream = world.streams["open"]
    for suffix in SYNTAXES:
        graph = fetch(client, f"/datasets/{name}.{suffix}")
        assert_conforms(graph, shapes)
    found = distributions(graph, name)
    prefix = f"stream-{stream}-"
    assert set(found) == {f"{prefix}csv", f"{prefix}json", f"{prefix}ndjson", "datapackage"}
    observations = f"{BASE}/api/v1/streams/{stream}/observations"
    assert found[f"{prefix}csv"]["download"] == URIRef(f"{observations}?_format=csv")
    assert found[f"{prefix}ndjson"]["download"] == URIRef(f"{observations}?_format=ndjson")
    assert found[f"{prefix}json"]["access"] == URIRef(f"{observations}?_format=json")
    for distribution in found.values():
        url = distribution["download"] or distribution["access"]
        assert client.get(str(url)).status_code == 200, url


def test_datasets_without_data_have_no_distributions_and_still_conform(
    world: World, client: TestClient, shapes: Graph, site: Site
) -> None:
    admin = console_actor(site, "admin")
    datasets.create_dataset(site, admin, organisation=OWNER, name="empty", visibility="open")
    add_sensor_dataset(site, "no-streams", visibility="open")
    catalogue = fetch(client, "/catalog.ttl")
    assert_conforms(catalogue, shapes)
    for name in ("empty", "no-streams"):
        assert name in described(catalogue)
        assert distributions(catalogue, name) == {}
        graph = fetch(client, f"/datasets/{name}.ttl")
        assert_conforms(graph, shapes)
        assert distributions(graph, name) == {}
        assert graph.value(dataset_iri(name), DCT.description) == Literal(name)  # the title


HOSTILE_TITLE = '<script>alert("x")</script> "> . <http://evil.example/x> a dcat:Dataset . #'
HOSTILE_DESCRIPTION = 'Quotes \' " """ \\ ]]></rdf:RDF> {"@id": "http://evil.example/"}\nbell\x07'
HOSTILE_TAGS = ["</dcat:keyword>", 'a"b', "@context", "<b>bold</b>"]


def test_hostile_text_stays_literal_in_every_syntax(
    world: World, client: TestClient, shapes: Graph, site: Site
) -> None:
    admin = console_actor(site, "admin")
    datasets.create_dataset(
        site, admin, organisation=OWNER, name="hostile", visibility="open",
        title=HOSTILE_TITLE, description=HOSTILE_DESCRIPTION, tags=HOSTILE_TAGS,
    )  # fmt: skip
    for suffix in SYNTAXES:
        for url in (f"/datasets/hostile.{suffix}", f"/catalog.{suffix}"):
            graph = fetch(client, url)
            assert_conforms(graph, shapes)
            node = dataset_iri("hostile")
            assert graph.value(node, DCT.title) == Literal(HOSTILE_TITLE)
            # XML cannot carry a bell character: it is left out, in every syntax alike.
            expected = HOSTILE_DESCRIPTION.replace("\x07", "")
            assert graph.value(node, DCT.description) == Literal(expected)
            assert set(graph.objects(node, DCAT.keyword)) == {Literal(tag) for tag in HOSTILE_TAGS}
            assert not list(graph.triples((URIRef("http://evil.example/x"), None, None)))
            assert not list(graph.triples((None, None, URIRef("http://evil.example/"))))


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "visible"),
    [
        ("anonymous", {"open-counts", "open-air"}),
        ("outsider", {"open-counts", "open-air", "shared-counts", "shared-air"}),
        ("member", {f"{v}-{k}" for v in ("open", "shared", "private") for k in ("counts", "air")}),
    ],
)
def test_the_catalogue_lists_only_what_the_asker_may_see(
    world: World, client: TestClient, actor: str, visible: set[str]
) -> None:
    response = client.get("/catalog.ttl", headers=world.headers(actor))
    graph = Graph().parse(data=response.content, format="turtle")
    assert described(graph) == visible
    total = graph.value(URIRef(f"{BASE}/catalog"), HYDRA.totalItems)
    assert total == Literal(len(visible), datatype=XSD.nonNegativeInteger)
    hidden = {"open-counts", "open-air", "shared-counts", "shared-air"} | {
        "private-counts",
        "private-air",
    }
    for name in hidden - visible:
        assert name not in response.text  # no trace: no IRI, URL or label


@pytest.mark.parametrize("suffix", list(SYNTAXES))
def test_a_dataset_the_asker_may_not_see_is_a_404_problem(
    world: World, client: TestClient, suffix: str
) -> None:
    for actor, name in (
        ("anonymous", "private-counts"),
        ("outsider", "private-counts"),
        ("anonymous", "shared-counts"),
        ("outsider", "private-air"),
    ):
        response = client.get(f"/datasets/{name}.{suffix}", headers=world.headers(actor))
        assert response.status_code == 404, (actor, name)
        assert response.headers["content-type"] == "application/problem+json"
        missing = client.get(f"/datasets/{name}-gone.{suffix}", headers=world.headers(actor))
        # Answered exactly as a dataset that does not exist.
        assert response.json()["detail"] == missing.json()["detail"].replace(f"{name}-gone", name)
    member = client.get(f"/datasets/private-counts.{suffix}", headers=world.headers("member"))
    assert member.status_code == 200
    outsider = client.get(f"/datasets/shared-counts.{suffix}", headers=world.headers("outsider"))
    assert outsider.status_code == 200


# --- Paging -----------------------------------------------------------------------------------


def test_paging_walks_every_visible_dataset_exactly_once(
    world: World, client: TestClient, shapes: Graph, site: Site
) -> None:
    admin = console_actor(site, "admin")
    for index in range(7):
        visibility = "private" if index == 3 else "open"
        datasets.create_dataset(
            site, admin, organisation=OWNER, name=f"paged-{index}", visibility=visibility
        )
    expected = {"open-counts", "open-air"} | {f"paged-{i}" for i in range(7) if i != 3}
    seen: list[str] = []
    url: str | None = f"{BASE}/catalog.ttl?page_size=3"
    pages = 0
    catalogue = URIRef(f"{BASE}/catalog")
    while url is not None:
        graph = fetch(client, url)
        assert_conforms(graph, shapes)
        pages += 1
        total = graph.value(catalogue, HYDRA.totalItems)
        assert total == Literal(len(expected), datatype=XSD.nonNegativeInteger)
        view = graph.value(catalogue, HYDRA.view)
        assert (view, RDF.type, HYDRA.PartialCollectionView) in graph
        assert graph.value(view, HYDRA.first) == URIRef(f"{BASE}/catalog.ttl?page=1&page_size=3")
        assert graph.value(view, HYDRA.last) == URIRef(f"{BASE}/catalog.ttl?page=3&page_size=3")
        assert (graph.value(view, HYDRA.previous) is None) == (pages == 1)
        page_names = sorted(described(graph))
        assert len(page_names) <= 3
        seen.extend(page_names)
        following = graph.value(view, HYDRA.next)
        url = str(following) if following is not None else None
    assert pages == 3
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    assert seen == sorted(seen)  # pages follow each other in name order


def test_a_page_past_the_end_is_empty_and_points_back(world: World, client: TestClient) -> None:
    graph = fetch(client, "/catalog.jsonld?page=5")
    assert described(graph) == set()
    view = graph.value(URIRef(f"{BASE}/catalog"), HYDRA.view)
    assert graph.value(view, HYDRA.next) is None
    assert graph.value(view, HYDRA.previous) == URIRef(f"{BASE}/catalog.jsonld?page=1")


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/catalog.ttl?page=0", "page"),
        ("/catalog.rdf?page=-1", "page"),
        ("/catalog.ttl?page=abc", None),
        ("/catalog.jsonld?page_size=100000", "page_size"),
        ("/catalog.ttl?page_size=0", "page_size"),
        ("/catalog.ttl?page=100000&page_size=1000", "page"),
        ("/catalog?page_size=x", None),
    ],
)
def test_bad_paging_is_a_400_problem(
    world: World, client: TestClient, url: str, parameter: str | None
) -> None:
    response = client.get(url)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    if parameter is not None:
        assert problem["parameter"] == parameter


@pytest.mark.parametrize("url", ["/datasets/nothing-here.ttl", "/datasets/nothing-here",
                                 "/catalog.xml", "/datasets/open-counts.n3"])  # fmt: skip
def test_unknown_documents_are_a_404_problem(world: World, client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# --- Content negotiation ----------------------------------------------------------------------


def test_the_iris_answer_in_the_syntax_asked_for(
    world: World, client: TestClient, shapes: Graph
) -> None:
    response = client.get("/catalog?page_size=5", headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"] == MEDIA_TYPES["jsonld"]
    assert "Accept" in response.headers["vary"]
    assert response.headers["content-location"] == "/catalog.jsonld?page_size=5"
    graph = Graph().parse(data=response.content, format="json-ld")
    assert_conforms(graph, shapes)
    view = graph.value(URIRef(f"{BASE}/catalog"), HYDRA.view)
    assert view == URIRef(f"{BASE}/catalog?page=1&page_size=5")
    anything = client.get("/datasets/open-counts", headers={"Accept": "text/plain,*/*;q=0.8"})
    assert anything.headers["content-type"] == MEDIA_TYPES["ttl"]
    browser = client.get(
        "/datasets/open-counts", headers={"Accept": "text/html,*/*;q=0.8"}, follow_redirects=False
    )
    assert (browser.status_code, browser.headers["location"]) == (303, "/dataset/open-counts")
    assert "Accept" in browser.headers["vary"]  # a cache must not give it to an RDF client
    home = client.get("/catalog", headers={"Accept": "text/html"}, follow_redirects=False)
    assert home.status_code == 303 and "Accept" in home.headers["vary"]
    xml = client.get("/datasets/open-counts", headers={"Accept": "application/rdf+xml"})
    assert xml.headers["content-location"] == "/datasets/open-counts.rdf"
    graph = Graph().parse(data=xml.content, format="xml")
    assert_conforms(graph, shapes)
    # The dataset's IRI is where its description lives.
    assert (dataset_iri("open-counts"), RDF.type, DCAT.Dataset) in graph
    hidden = client.get("/datasets/private-counts", headers={"Accept": "text/turtle"})
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TURTLE),
        ("", TURTLE),
        ("text/html", TURTLE),
        ("application/rdf+xml", RDF_XML),
        ("application/json", JSON_LD),
        ("application/rdf+xml;q=0.5, application/ld+json;q=0.9", JSON_LD),
        ("application/ld+json;q=0, text/turtle;q=0.1", TURTLE),
        ("TEXT/TURTLE", TURTLE),
        ("application/rdf+xml;q=oops, application/ld+json", JSON_LD),
    ],
)
def test_negotiate_picks_the_preferred_syntax(accept: str | None, expected: object) -> None:
    assert negotiate(accept) is expected


def test_a_licence_of_ones_own_is_described_without_a_spdx_page(
    world: World, client: TestClient, shapes: Graph, site: Site
) -> None:
    changes = {"licence": "LicenseRef-city-terms"}
    datasets.update_dataset(site, console_actor(site, "admin"), "open-counts", changes)
    graph = fetch(client, "/datasets/open-counts.ttl")
    assert_conforms(graph, shapes)
    licence = graph.value(dataset_iri("open-counts"), DCT.license)
    assert graph.value(licence, RDFS.label) == Literal("LicenseRef-city-terms")
    assert not str(licence).startswith("https://spdx.org/")
    for distribution in distributions(graph, "open-counts").values():
        assert distribution["licence"] == licence
