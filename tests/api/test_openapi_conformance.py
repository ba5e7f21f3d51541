"""Schemathesis against the OpenAPI document (issue 18): requests generated from the
document, for every operation, get answers the document describes, and never a 500.

The access matrix (``test_access_matrix.py``) checks the answer of every route for every
kind of actor against the same document, which is where the 2xx answers are reached;
generated requests mostly reach the refusals (unknown names, bad values), and check those.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema
from starlette.testclient import TestClient

from tests.api.openapi_support import CHECKS, assert_conforms, openapi_schema, path_parameters
from tests.api.test_access_matrix import ROUTES
from tests.world import World, populated_client

# The operations the document must have: every API route of the access matrix (the
# document itself aside).
OPERATIONS = sorted(
    (method, path)
    for method, path in ROUTES
    if path.startswith(("/api/", "/catalog", "/datasets/{name}."))
    or (method, path) == ("GET", "/datasets/{name}")
    if path != "/api/v1/openapi.json"
)
EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, TestClient, BaseSchema]]:
    """A populated SQLite site, its client and its document (generated requests may
    change the site: it is this module's own)."""
    folder: Path = tmp_path_factory.mktemp("conformance")
    with populated_client("sqlite", folder, None) as (world, client):
        yield world, client, openapi_schema(client)


def test_the_document_has_every_api_route(fuzzed: tuple[World, TestClient, BaseSchema]) -> None:
    _world, _client, schema = fuzzed
    documented = {
        (method.upper(), path)
        for path, operations in schema.raw_schema["paths"].items()
        for method in operations
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(o) for o in OPERATIONS])
def test_generated_requests_get_documented_answers(
    fuzzed: tuple[World, TestClient, BaseSchema], method: str, path: str
) -> None:
    world, client, schema = fuzzed
    operation = schema[path][method]
    headers = world.headers("siteadmin")

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy())
    def answers_conform(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
        response = client.request(**_for_client(kwargs))
        response.request.read()  # a multipart body is streamed; the checks read it
        case.validate_response(response, checks=CHECKS)

    answers_conform()


def _for_client(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis's request arguments (for ``requests``) as the test client takes them."""
    kwargs = dict(kwargs)
    if "data" in kwargs and not isinstance(kwargs["data"], dict | list):
        kwargs["content"] = kwargs.pop("data")
    kwargs.pop("allow_redirects", None)
    if kwargs.get("files"):
        kwargs["files"] = [(name, _file(value)) for name, value in kwargs["files"]]
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        kwargs["headers"] = {**kwargs.get("headers", {}), "Cookie": cookie}
    kwargs["follow_redirects"] = False
    return kwargs


def _file(value: Any) -> Any:
    """A generated multipart part as the test client sends it (a number becomes text)."""
    if isinstance(value, tuple):
        return (value[0], _file(value[1]), *value[2:])
    return value if isinstance(value, str | bytes) or hasattr(value, "read") else str(value)


def test_a_non_conforming_answer_fails(fuzzed: tuple[World, TestClient, BaseSchema]) -> None:
    """The checks can fail: an answer missing a field the document requires is caught."""
    _world, client, schema = fuzzed
    document = dict(schema.raw_schema)
    response = client.get("/api/v1/organisations")
    strict = {"type": "array", "items": {"type": "object", "required": ["no-such-field"]}}
    operation = document["paths"]["/api/v1/organisations"]["get"]
    operation["responses"]["200"]["content"]["application/json"]["schema"] = strict
    with pytest.raises(FailureGroup, match="no-such-field"):
        assert_conforms(
            schemathesis.openapi.from_dict(document), "GET", "/api/v1/organisations", response
        )
    assert path_parameters(
        "/a/{b}/c", httpx2.Response(200, request=httpx2.Request("GET", "http://x/a/x%20y/c"))
    ) == {"b": "x y"}
