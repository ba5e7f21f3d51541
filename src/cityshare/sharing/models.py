"""The resources the sharing services answer with: grants and access requests, each listing
the fields that are shown (issue 18, part 3: the routes declare them as ``response_model``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cityshare.resource import Resource


class GranteeUser(Resource):
    """A grant's grantee when it is a user."""

    user: str = Field(description="The grantee's username.")


class GranteeOrganisation(Resource):
    """A grant's grantee when it is an organisation (every member reads under it)."""

    organisation: str = Field(description="The grantee organisation's slug.")


class Grant(Resource):
    """A data sharing agreement: one dataset, to one grantee, for a purpose, until an expiry,
    within bounds (see docs/sharing.md)."""

    id: int
    grantee: GranteeUser | GranteeOrganisation = Field(
        description="Exactly one of 'user' or 'organisation'."
    )
    purpose: str = Field(description="What the data may be used for.")
    terms: str = Field(description="Licence text or a link to the terms; may be empty.")
    expires_at: str = Field(description="When the grant ends: RFC 3339, UTC.")
    permissions: list[str] = Field(description="read, and write for data providers.")
    columns: list[str] | None = Field(
        description="The columns the grantee reads; null: every public column."
    )
    row_filter: dict[str, Any] | None = Field(
        description="Filters in the query language bounding every query of the grantee."
    )
    min_group_size: int | None = Field(
        description="Aggregates return no group of fewer rows than this."
    )
    pseudonymised: list[str] | None = Field(
        description="Granted columns delivered as keyed hashes specific to this grant."
    )
    status: str = Field(description="active, expired or revoked.")
    created_at: str = Field(description="RFC 3339, UTC.")
    created_by: str | None = Field(description="The username of the admin who granted it.")
    revoked_at: str | None = Field(description="RFC 3339, UTC; null while not revoked.")
    request_id: int | None = Field(description="The access request it approved, if any.")

    @property
    def grantee_name(self) -> str:
        """The grantee's username or organisation slug (for pages; not a field)."""
        grantee = self.grantee
        return grantee.user if isinstance(grantee, GranteeUser) else grantee.organisation


class AccessRequest(Resource):
    """A request for access to a dataset, and its outcome."""

    id: int
    dataset: str = Field(description="The dataset's name.")
    requester: str = Field(description="The username of who asked.")
    organisation: str | None = Field(
        description="The organisation asked for, when on its behalf; null: for the requester."
    )
    purpose: str = Field(description="What the requester will use the data for.")
    status: str = Field(description="pending, approved, declined or withdrawn.")
    reason: str | None = Field(description="Why it was declined; null otherwise.")
    grant_id: int | None = Field(description="The grant its approval made.")
    created_at: str = Field(description="RFC 3339, UTC.")
    decided_at: str | None = Field(
        description="When it was approved, declined or withdrawn: RFC 3339, UTC."
    )
