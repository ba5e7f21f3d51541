"""The CKAN and DCAT readers: what a source's documents become, page by page, and which
documents are refused because reading them would fetch more than the guard allows."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import pytest

from cityshare.harvest.ckan import CkanSource, api_base
from cityshare.harvest.dcat import DcatSource
from cityshare.harvest.fetch import FetchPolicy, SafeFetcher, SourceError
from cityshare.harvest.remote import RemoteDataset, RemoteProblem, licence_id, slug
from tests.harvest.fake_sources import FakeCkan, fake_ckan, page_one, page_two

POLICY = FetchPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.fixture
def source() -> Iterator[FakeCkan]:
    with fake_ckan() as running:
        yield running


def read(
    source: FakeCkan, reader: type[CkanSource] | type[DcatSource], url: str
) -> list[RemoteDataset | RemoteProblem]:
    """Every dataset ``reader`` lists at ``url``."""
    with SafeFetcher(POLICY) as fetcher:
        return list(reader(fetcher, url).datasets())


def test_dcat_pages_are_followed_and_mapped(source: FakeCkan) -> None:
    base = source.url
    source.documents["/catalog.ttl"] = ("text/turtle", page_one(base).encode())
    source.documents["/catalog.ttl?page=2"] = ("text/turtle", page_two(base).encode())
    found = read(source, DcatSource, f"{base}/catalog.ttl")
    by_name = {item.name: item for item in found}
    assert sorted(by_name) == ["bus-stops", "salaries", "street-trees"] and len(found) == 3
    trees = by_name["street-trees"]
    assert isinstance(trees, RemoteDataset) and trees.public
    assert trees.remote_id == f"{base}/ds/trees"
    assert trees.metadata == {
        "title": "Street trees",
        "description": "Every tree the city looks after.",
        "tags": ["environment", "trees"],
        "licence": "CC-BY-4.0",
        "update_frequency": "weekly",
        "spatial": {"type": "Point", "coordinates": [-1.55, 53.8]},
        "temporal": {"start": "2020-01-01", "end": "2024-12-31"},
    }
    assert trees.data_url == f"{base}/files?name=trees"
    assert trees.modified == "2024-05-01T10:00:00+00:00"
    assert by_name["salaries"].public is False
    stops = by_name["bus-stops"]
    assert (stops.remote_id, stops.metadata["licence"], stops.data_url) == (
        "bus-stops",
        "ODbL-1.0",
        None,
    )
    assert stops.data_note.startswith("2 CSV distributions")
    assert source.seen.paths.count("/catalog.ttl?page=2") == 1  # the loop back was not followed


def test_dcat_documents_that_would_fetch_more_are_refused(source: FakeCkan) -> None:
    context = {"@context": "https://example.org/context.jsonld", "@id": "x"}
    nested = {"@context": [{"@import": "http://169.254.169.254/ctx"}], "@graph": []}
    xml = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r/>'
    source.documents["/remote.jsonld"] = ("application/ld+json", json.dumps(context).encode())
    source.documents["/import.jsonld"] = ("application/ld+json", json.dumps(nested).encode())
    source.documents["/entities.rdf"] = ("application/rdf+xml", xml)
    source.documents["/broken.ttl"] = ("text/turtle", b"this is not turtle .")
    for path, reason in (
        ("/remote.jsonld", "names a remote JSON-LD @context"),
        ("/import.jsonld", "names a remote JSON-LD @context"),
        ("/entities.rdf", "has a DOCTYPE"),
        ("/broken.ttl", "could not be read as turtle"),
    ):
        with pytest.raises(SourceError) as refused:
            read(source, DcatSource, f"{source.url}{path}")
        assert reason in refused.value.detail and path in refused.value.detail


def test_ckan_packages_are_mapped(source: FakeCkan) -> None:
    source.add("Wind_Speeds", csv="a\n1\n", license_id="odc-odbl")
    source.add("hidden", private=True)
    found = read(source, CkanSource, f"{source.url}/api/3/action/")
    wind, hidden = found
    assert isinstance(wind, RemoteDataset) and isinstance(hidden, RemoteDataset)
    assert (wind.name, wind.remote_id, wind.public) == ("wind-speeds", "id-Wind_Speeds", True)
    assert wind.metadata["licence"] == "ODbL-1.0"
    assert wind.data_url == source.file_url("Wind_Speeds")
    assert hidden.public is False


def test_ckan_pages_through_the_search(source: FakeCkan) -> None:
    for number in range(230):
        source.add(f"set-{number:03d}")
    found = read(source, CkanSource, source.url)
    assert len(found) == 230 and all(isinstance(item, RemoteDataset) for item in found)
    searches = [path for path in source.seen.paths if "package_search" in path]
    assert len(searches) == 3 and "start=200" in searches[-1]


def test_a_problem_with_one_package_is_reported_not_raised(source: FakeCkan) -> None:
    source.packages["bad"] = {"name": "x" * 20, "id": "i" * 600}
    (problem,) = read(source, CkanSource, source.url)
    assert isinstance(problem, RemoteProblem) and "no usable id" in problem.reason


def test_names_and_licences() -> None:
    assert api_base("https://ckan.example.org/data/api/3") == "https://ckan.example.org/data"
    assert api_base("http://[::1]:5000/api/action") == "http://[::1]:5000"
    assert slug("--Ünïcode & Spaces__2024--") == "n-code-spaces-2024"
    assert slug("!!!") == ""
    assert licence_id("cc-zero") == "CC0-1.0" and licence_id("notspecified") is None
    assert licence_id("https://spdx.org/licenses/MIT.html") == "MIT"
