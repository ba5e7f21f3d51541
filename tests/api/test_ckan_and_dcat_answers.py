"""The OpenAPI document describes what the CKAN Action API and the DCAT-AP routes send:
CKAN's envelope in both its forms, and every RDF syntax (a JSON-LD object, Turtle and
RDF/XML text) with the 303 that sends a browser to the web page (issue 18, part 3).
Answers are checked against the document as schemathesis checks them."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from httpx2 import Response
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.testclient import TestClient

from cityshare.api.ckan.routes import ACTIONS
from tests.api.ckan_support import call, ckan_headers, failure, result
from tests.world import World

CKAN = "/api/3/action/{action}"
CKAN_PATHS = (CKAN, "/api/action/{action}")
Described = tuple[World, TestClient]
# rdflib's own JSON-LD parser still builds a ConjunctiveGraph (rdflib 7.x); only that is let by.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def document(ckan: Described) -> dict[str, Any]:
    """The site's OpenAPI document."""
    answer: dict[str, Any] = ckan[1].get("/api/v1/openapi.json").json()
    return answer


@pytest.fixture(scope="module")
def schema(document: dict[str, Any]) -> OpenApiSchema:
    """The document, as schemathesis reads it."""
    return schemathesis.openapi.from_dict(document)


def conforms(schema: OpenApiSchema, method: str, path: str, response: Response) -> None:
    """``response`` is what the document describes for its status (it raises otherwise)."""
    assert response.status_code in (200, 303, 400, 403, 404, 409), response.text[:300]
    schema[path][method].validate_response(response)


def test_the_ckan_operations_describe_the_envelope(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    assert set(components["CkanAnswer"]["properties"]) == {"help", "success", "result"}
    assert set(components["CkanFailure"]["properties"]) == {"help", "success", "error"}
    assert "__type" in components["CkanErrorDetail"]["properties"]
    for path in CKAN_PATHS:
        for method in ("get", "post"):
            operation = document["paths"][path][method]
            answers = operation["responses"]
            assert answers["200"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/CkanAnswer"
            }
            for errors in ("4XX", "5XX"):  # CKAN's envelope, never problem+json
                assert set(answers[errors]["content"]) == {"application/json"}
            assert "422" not in answers  # the action is any text: nothing answers 422
            (action,) = operation["parameters"]
            named = set(action["schema"]["enum"])
            if method == "get":
                assert named == {name for name, chosen in ACTIONS.items() if chosen.reads_only}
            else:
                assert named == set(ACTIONS)
                assert "application/json" in operation["requestBody"]["content"]


@pytest.mark.parametrize("path", CKAN_PATHS)
def test_ckan_answers_are_the_envelope_described(
    ckan: Described, schema: OpenApiSchema, path: str
) -> None:
    world, client = ckan
    prefix = path.removesuffix("/{action}")
    member = ckan_headers(world, "member")
    reads: list[tuple[str, dict[str, Any]]] = [
        ("status_show", {}),
        ("package_list", {}),
        ("package_show", {"id": "open-counts"}),
        ("package_search", {"q": "traffic", "facet.field": ["tags"]}),
        ("organization_list", {"all_fields": "true"}),
        ("resource_show", {"id": "open-counts.csv"}),
        ("datastore_search", {"resource_id": "shared-counts", "limit": 2}),
        ("help_show", {"name": "package_show"}),
    ]
    for action, params in reads:
        for method in ("GET", "POST"):
            response = call(client, action, params, headers=member, method=method, prefix=prefix)
            result(response)
            assert set(response.json()) == {"help", "success", "result"}
            conforms(schema, method, path, response)


@pytest.mark.parametrize(
    ("action", "params", "method", "status", "kind"),
    [
        ("package_show", {"id": "private-counts"}, "GET", 404, "Not Found Error"),
        ("package_show", {}, "GET", 409, "Validation Error"),
        ("package_create", {"name": "x"}, "POST", 409, "Validation Error"),  # owner_org: [...]
        ("package_patch", {"id": "open-counts", "notes": "x"}, "POST", 403, "Authorization Error"),
        ("package_create", {}, "GET", 400, "Bad Request"),
        ("no_such_action", {}, "GET", 400, "Not Found Error"),  # the enum is not enforced
        ("no_such_action", {}, "POST", 400, "Not Found Error"),
    ],
)
def test_ckan_failures_are_the_envelope_described(
    ckan: Described,
    schema: OpenApiSchema,
    action: str,
    params: dict[str, Any],
    method: str,
    status: int,
    kind: str,
) -> None:
    response = call(ckan[1], action, params, method=method)
    failure(response, status, kind)
    conforms(schema, method, CKAN, response)


SYNTAXES = {
    "ttl": "text/turtle",
    "jsonld": "application/ld+json",
    "rdf": "application/rdf+xml",
}


@pytest.mark.parametrize("suffix", SYNTAXES)
def test_dcat_answers_are_described_in_every_syntax(
    ckan: Described, schema: OpenApiSchema, document: dict[str, Any], suffix: str
) -> None:
    client = ckan[1]
    media_type = SYNTAXES[suffix]
    for template, url, accept_url in [
        ("/catalog", "/catalog.{s}?page_size=2", "/catalog?page_size=2"),
        ("/datasets/{name}", "/datasets/open-counts.{s}", "/datasets/open-counts"),
    ]:
        suffixed = f"{template}.{suffix}"
        answer = document["paths"][suffixed]["get"]["responses"]["200"]
        assert set(answer["content"]) == {media_type}
        response = client.get(url.format(s=suffix))
        assert response.headers["content-type"].startswith(media_type)
        conforms(schema, "GET", suffixed, response)
        negotiated = client.get(accept_url, headers={"Accept": media_type})
        assert negotiated.headers["content-type"].startswith(media_type)
        assert {"vary", "content-location"} <= set(negotiated.headers)
        conforms(schema, "GET", template, negotiated)
        if suffix == "jsonld":
            body = response.json()
            assert "@context" in body and ("@graph" in body or "@id" in body)


@pytest.mark.parametrize(
    ("template", "url", "location"),
    [
        ("/catalog", "/catalog", "/"),
        ("/datasets/{name}", "/datasets/open-counts", "/dataset/open-counts"),
    ],
)
def test_a_browser_is_sent_to_the_page_as_described(
    ckan: Described,
    schema: OpenApiSchema,
    document: dict[str, Any],
    template: str,
    url: str,
    location: str,
) -> None:
    response = ckan[1].get(url, headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == location
    answers = document["paths"][template]["get"]["responses"]
    assert set(answers["200"]["content"]) == set(SYNTAXES.values())
    assert "Location" in answers["303"]["headers"]
    conforms(schema, "GET", template, response)
