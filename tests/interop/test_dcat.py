"""interop.dcat: the catalogue and its datasets as DCAT-AP graphs, describing only what
the asker may see."""

from __future__ import annotations

import pytest
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, URIRef

from cityshare.catalogue import datasets
from cityshare.errors import BadRequest, NotFound
from cityshare.interop import dcat
from cityshare.interop.dcat_vocab import DCAT, DCT, HYDRA, WKT_LITERAL
from tests.catalogue.support import actor
from tests.search.support import make_dataset
from tests.world import World

BASE = "https://data.example.org"
CATALOGUE = URIRef(f"{BASE}/catalog")
DOCUMENT = f"{BASE}/catalog.ttl"
# rdflib's own JSON-LD parser still builds a ConjunctiveGraph (rdflib 7.x); only that is let by.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


def catalogue(world: World, who: str, **paging: int) -> Graph:
    """The catalogue graph actor ``who`` gets."""
    return dcat.catalogue_graph(
        world.site, actor(world, who), base_url=BASE + "/", document_url=DOCUMENT, **paging
    )


def listed(graph: Graph) -> set[str]:
    """The names of the datasets the catalogue lists."""
    return {str(node).rsplit("/", 1)[1] for node in graph.objects(CATALOGUE, DCAT.dataset)}


def dataset_iri(name: str) -> URIRef:
    return URIRef(f"{BASE}/datasets/{name}")


def test_the_catalogue_of_an_anonymous_reader_lists_only_open_datasets(world: World) -> None:
    graph = catalogue(world, "anonymous")
    assert listed(graph) == {"open-counts", "open-air"}
    assert set(graph.subjects(RDF.type, DCAT.Dataset)) == {
        dataset_iri("open-counts"),
        dataset_iri("open-air"),
    }
    said = graph.serialize(format="nt")
    for hidden in ("private-counts", "shared-counts", "private-air", "shared-air"):
        assert hidden not in said
    assert graph.value(CATALOGUE, HYDRA.totalItems) == Literal(2, datatype=XSD.nonNegativeInteger)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("outsider", {"open-counts", "open-air", "shared-counts", "shared-air"}),
        ("member", {"open-counts", "open-air", "shared-counts", "shared-air", "private-counts",
                    "private-air"}),
    ],
)  # fmt: skip
def test_signed_in_readers_see_more(world: World, who: str, expected: set[str]) -> None:
    assert listed(catalogue(world, who)) == expected


def test_the_catalogue_is_paged_by_name(world: World) -> None:
    graph = catalogue(world, "member", page=2, page_size=4)
    assert listed(graph) == {"shared-air", "shared-counts"}  # names 5 and 6 of 6
    view = URIRef(f"{DOCUMENT}?page=2&page_size=4")
    assert graph.value(CATALOGUE, HYDRA.view) == view
    assert graph.value(view, HYDRA.previous) == URIRef(f"{DOCUMENT}?page=1&page_size=4")
    assert graph.value(view, HYDRA.next) is None
    assert graph.value(view, HYDRA.last) == view
    first = catalogue(world, "member", page=1, page_size=4)
    assert len(listed(first)) == 4 and listed(first).isdisjoint(listed(graph))


@pytest.mark.parametrize(
    ("page", "page_size", "parameter"),
    [(0, 10, "page"), (1, 0, "page_size"), (1, 1001, "page_size"), (1_000_002, 1, "page")],
)
def test_a_page_that_cannot_be_served_is_refused(
    world: World, page: int, page_size: int, parameter: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        catalogue(world, "anonymous", page=page, page_size=page_size)
    assert refused.value.extra["parameter"] == parameter


def test_a_dataset_graph_describes_its_metadata_and_distributions(world: World) -> None:
    admin = actor(world, "admin")
    changes = {"licence": "CC-BY-4.0", "tags": ["traffic"], "update_frequency": "daily"}
    datasets.update_dataset(world.site, admin, "open-counts", changes)
    graph = dcat.dataset_graph(world.site, actor(world, "anonymous"), "open-counts", base_url=BASE)
    node = dataset_iri("open-counts")
    assert graph.value(node, DCT.identifier) == Literal("open-counts")
    assert graph.value(node, DCAT.keyword) == Literal("traffic")
    assert graph.value(node, DCAT.version) == Literal("1")
    licence = URIRef("https://spdx.org/licenses/CC-BY-4.0")
    assert graph.value(node, DCT.license) == licence
    assert graph.value(licence, RDFS.label) == Literal("CC-BY-4.0")
    keys = {str(d).rsplit("#", 1)[1] for d in graph.objects(node, DCAT.distribution)}
    assert keys == {"csv", "json", "ndjson", "datapackage"}
    csv = URIRef(f"{node}#csv")
    rows = URIRef(f"{BASE}/api/v1/datasets/open-counts/rows?_format=csv")
    assert graph.value(csv, DCAT.downloadURL) == rows
    assert graph.value(csv, DCT.license) == licence  # repeated on every distribution


def test_spatial_and_temporal_coverage(world: World) -> None:
    ring = [[-1.6, 53.7], [-1.5, 53.7], [-1.5, 53.8], [-1.6, 53.7]]
    changes = {
        "spatial": {"type": "Polygon", "coordinates": [ring]},
        "temporal": {"start": "2024-01-01", "end": "2024-06-30T12:00:00Z"},
    }
    datasets.update_dataset(world.site, actor(world, "admin"), "open-counts", changes)
    graph = dcat.dataset_graph(world.site, actor(world, "anonymous"), "open-counts", base_url=BASE)
    location = graph.value(dataset_iri("open-counts"), DCT.spatial)
    box = "POLYGON ((-1.6 53.7, -1.5 53.7, -1.5 53.8, -1.6 53.8, -1.6 53.7))"
    assert graph.value(location, DCAT.bbox) == Literal(box, datatype=WKT_LITERAL)
    centre = Literal("POINT (-1.55 53.75)", datatype=WKT_LITERAL)
    assert graph.value(location, DCAT.centroid) == centre
    period = graph.value(dataset_iri("open-counts"), DCT.temporal)
    assert graph.value(period, DCAT.startDate) == Literal("2024-01-01", datatype=XSD.date)
    end = Literal("2024-06-30T12:00:00+00:00", datatype=XSD.dateTime)
    assert graph.value(period, DCAT.endDate) == end


def test_a_licence_of_ones_own_is_a_blank_node(world: World) -> None:
    admin = actor(world, "admin")
    datasets.update_dataset(world.site, admin, "open-counts", {"licence": "LicenseRef-city-1"})
    graph = dcat.dataset_graph(world.site, admin, "open-counts", base_url=BASE)
    licence = graph.value(dataset_iri("open-counts"), DCT.license)
    assert isinstance(licence, BNode)
    assert graph.value(licence, RDFS.label) == Literal("LicenseRef-city-1")


def test_a_dataset_without_data_has_no_distributions(world: World) -> None:
    make_dataset(world, "empty-table", visibility="open")
    graph = dcat.dataset_graph(world.site, actor(world, "anonymous"), "empty-table", base_url=BASE)
    assert (dataset_iri("empty-table"), RDF.type, DCAT.Dataset) in graph
    assert list(graph.objects(dataset_iri("empty-table"), DCAT.distribution)) == []


def test_a_sensor_dataset_has_a_distribution_per_stream_and_format(world: World) -> None:
    graph = dcat.dataset_graph(world.site, actor(world, "anonymous"), "open-air", base_url=BASE)
    stream = world.streams["open"]
    keys = {
        str(d).rsplit("#", 1)[1] for d in graph.objects(dataset_iri("open-air"), DCAT.distribution)
    }
    assert keys == {f"stream-{stream}-{f}" for f in ("csv", "json", "ndjson")} | {"datapackage"}


@pytest.mark.parametrize(
    ("who", "name"), [("anonymous", "shared-counts"), ("outsider", "private-counts")]
)
def test_a_dataset_the_reader_may_not_see_is_not_found(world: World, who: str, name: str) -> None:
    with pytest.raises(NotFound):
        dcat.dataset_graph(world.site, actor(world, who), name, base_url=BASE)


def test_control_characters_are_left_out_of_literals(world: World) -> None:
    make_dataset(world, "odd-title", visibility="open", title="Bus\x0b stops\x1f")
    graph = dcat.dataset_graph(world.site, actor(world, "anonymous"), "odd-title", base_url=BASE)
    assert graph.value(dataset_iri("odd-title"), DCT.title) == Literal("Bus stops")
    parsed = Graph().parse(data=dcat.serialize(graph, dcat.RDF_XML), format="xml")
    assert len(parsed) == len(graph)


@pytest.mark.parametrize("rdf_format", dcat.RDF_FORMATS, ids=lambda f: f.suffix)
def test_every_syntax_parses_back_to_the_same_graph(
    world: World, rdf_format: dcat.RdfFormat
) -> None:
    graph = catalogue(world, "anonymous")
    parsed = Graph().parse(data=dcat.serialize(graph, rdf_format), format=rdf_format.rdflib_name)
    assert len(parsed) == len(graph)
    assert set(parsed.objects(CATALOGUE, DCAT.dataset)) == set(
        graph.objects(CATALOGUE, DCAT.dataset)
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, dcat.TURTLE),
        ("application/ld+json", dcat.JSON_LD),
        ("text/turtle;q=0.5, application/rdf+xml", dcat.RDF_XML),
        ("application/rdf+xml;q=0, text/html", dcat.TURTLE),
        ("application/json", dcat.JSON_LD),
        ("image/png", dcat.TURTLE),
    ],
)
def test_negotiate_picks_the_preferred_syntax(accept: str | None, expected: dcat.RdfFormat) -> None:
    assert dcat.negotiate(accept) is expected


def test_prefers_html_only_when_a_page_is_asked_for_first() -> None:
    assert dcat.prefers_html("text/html,application/xhtml+xml,*/*;q=0.8")
    assert not dcat.prefers_html("text/turtle, text/html;q=0.5")
    assert not dcat.prefers_html("*/*")
    assert not dcat.prefers_html(None)
