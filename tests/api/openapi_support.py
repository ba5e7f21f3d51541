"""Checking answers against the app's OpenAPI document with schemathesis's own checks
(issue 18): an answer's status, media type and body must be the ones the document says."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

OPENAPI_PATH = "/api/v1/openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def openapi_schema(client: TestClient) -> BaseSchema:
    """The app's OpenAPI document, loaded by schemathesis."""
    return schemathesis.openapi.from_dict(client.get(OPENAPI_PATH).json())


def documented(schema: BaseSchema, method: str, path: str) -> bool:
    """Whether the document has the operation ``method path``."""
    return method.lower() in schema.raw_schema["paths"].get(path, {})


def assert_conforms(schema: BaseSchema, method: str, path: str, response: Any) -> None:
    """Fail, with schemathesis's explanation, unless ``response`` is an answer the
    document allows for ``method path``."""
    case = schema[path][method.upper()].Case(path_parameters=path_parameters(path, response))
    case.validate_response(response, checks=CHECKS)


def path_parameters(template: str, response: Any) -> dict[str, str]:
    """The values the request of ``response`` gave the parameters of path ``template``."""
    pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
    found = re.fullmatch(pattern, response.request.url.path)
    assert found, (template, response.request.url.path)
    return {name: unquote(value) for name, value in found.groupdict().items()}
