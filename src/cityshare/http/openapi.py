"""The OpenAPI document's refusals: what every operation may answer besides its own
answer, and the tidying of what FastAPI adds on its own.

Every refusal is an RFC 9457 problem (``errors.CityshareError.problem``); FastAPI's own
422 answer is never sent (``problems._validation_error`` answers 400 with the fields that
were wrong), so it is taken out of the document, for clients not to expect it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_REF = "#/components/schemas/Problem"
# 500: an unexpected error; 503: the store unreachable, busy, or a query past its limit;
# 507: the disk of the store or of the upload spool full.
REFUSAL_STATUSES = (400, 401, 403, 404, 409, 413, 415, 429, 500, 503, 507)
_UNSENT = {"422": "#/components/schemas/HTTPValidationError"}
_UNSENT_SCHEMAS = ("HTTPValidationError", "ValidationError")


class FieldProblem(BaseModel):
    """One wrong field of a request."""

    field: str = Field(description="Where: a body field or a query parameter, dotted.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, in words a person can act on. Some problems
    carry more members (e.g. ``errors``, ``retry_after``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int = Field(description="The HTTP status, repeated.")
    detail: str = Field(description="What happened and what to do about it.")
    instance: str | None = Field(None, description="The path that was asked for.")
    errors: list[FieldProblem] | None = Field(None, description="Bad requests: each wrong field.")


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": "An RFC 9457 problem",
        "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}},
    }
    for status in REFUSAL_STATUSES
}


BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API token (POST /api/v1/auth/token, or the account page), sent as "
    "'Authorization: Bearer <token>'. Without one, a call is anonymous: it sees open data.",
}


def tidy_document(document: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Problem`` schema the refusals name and the bearer-token scheme (optional
    on every operation: anonymous callers read open data), and take out the answers never
    sent."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = {"bearerToken": BEARER}
    document["security"] = [{}, {"bearerToken": []}]
    schemas = components.setdefault("schemas", {})
    definitions = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(definitions.pop("$defs", {}))
    schemas["Problem"] = definitions
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _drop_unsent(operation.get("responses", {}))
    for name in _UNSENT_SCHEMAS:
        schemas.pop(name, None)
    return document


def _drop_unsent(responses: dict[str, Any]) -> None:
    for status, reference in _UNSENT.items():
        content = responses.get(status, {}).get("content", {})
        if content.get("application/json", {}).get("schema", {}).get("$ref") == reference:
            del responses[status]
