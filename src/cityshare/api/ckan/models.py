"""The answers of the CKAN Action API, as the OpenAPI document describes them: CKAN's
envelope (:mod:`cityshare.http.ckan_envelope` writes it). Each action's ``result`` has the
shape CKAN gives it (docs/ckan.md lists them), so the envelope names it ``Any``.

These models describe the answers; they never build one. The envelope is written by
:func:`~cityshare.http.ckan_envelope.ckan_success_response` in one ``orjson`` call, as
``datastore_search`` is a hot path (issue 18, part 3).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from cityshare.resource import Resource

HELP_URL = "The URL of the action's help_show, which describes the action."


class CkanAnswer(Resource):
    """CKAN's envelope of an action that succeeded."""

    help: str = Field(description=HELP_URL)
    success: Literal[True] = Field(description="Always true: the action succeeded.")
    result: Any = Field(
        description=(
            "What the action answers, as CKAN shapes it: a package for package_show, a list "
            "of names for package_list, {count, results, facets, search_facets} for "
            "package_search, {resource_id, fields, records, limit, offset, _links, total, …} "
            "for datastore_search, a string for help_show (docs/ckan.md has every action's)."
        )
    )


class CkanErrorDetail(Resource):
    """What went wrong, as CKAN reports it; clients such as ckanapi raise the exception
    ``__type`` names. A ``Validation Error`` names each bad field beside ``__type``, with
    a list of its messages, and may have no ``message``."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"additionalProperties": {"type": "array", "items": {"type": "string"}}},
    )

    type: str = Field(
        alias="__type",
        description=(
            "Not Found Error, Authorization Error, Validation Error, Search Query Error, "
            "Bad Request, or the title of another error (Too many requests, Store "
            "unavailable, …)."
        ),
    )
    message: str | SkipJsonSchema[None] = Field(
        None, description="What went wrong, in people's words."
    )


class CkanFailure(Resource):
    """CKAN's envelope of an action that failed (never problem+json on these routes)."""

    help: str = Field(description=HELP_URL)
    success: Literal[False] = Field(description="Always false: the action failed.")
    error: CkanErrorDetail
