"""The documents interop answers with, as the OpenAPI document describes them (issue 18,
part 3). RDF in Turtle and RDF/XML is text; JSON-LD is an object, described here. These
models describe what :func:`cityshare.interop.dcat.serialize` writes; they never build it
(rdflib does)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from cityshare.resource import Resource


class JsonLdDocument(Resource):
    """A DCAT-AP 3.0.1 graph as compacted JSON-LD: its context, and its nodes in
    ``@graph``; a graph of a single node is that node itself (its ``@id``, ``@type`` and
    properties beside ``@context``). docs/dcat.md maps every property."""

    model_config = ConfigDict(extra="allow")

    context: dict[str, str] = Field(
        alias="@context",
        description="The prefixes of the compact IRIs (dcat, dct, foaf, vcard, skos, hydra, "
        "locn, geo), each with its namespace IRI.",
    )
    graph: list[dict[str, Any]] | SkipJsonSchema[None] = Field(
        None,
        alias="@graph",
        description="The nodes: the catalogue or dataset, its distributions, publishers, "
        "contact points and paging view, each with its @id, @type and properties.",
    )
    id: str | SkipJsonSchema[None] = Field(
        None, alias="@id", description="The IRI of the only node, when there is one node."
    )
