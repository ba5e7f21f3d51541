"""Request bodies of the sharing routes: grants and access requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from cityshare.api.models import Body

FilterValue = str | int | float | bool

_COLUMNS = "Columns the grantee reads; absent: every public column. Personal and "
_COLUMNS += "sensitive columns are reached only when named here."
_ROW_FILTER = "Filters in the query language every query of the grantee is bounded by, "
_ROW_FILTER += 'e.g. {"district": "north", "counted_at__gte": "2024-01-01"}.'


class GrantBounds(Body):
    terms: str = Field("", max_length=5000, description="Licence text or a link to the terms.")
    permissions: list[Literal["read", "write"]] = Field(
        default=["read"], description="read, and write for data providers"
    )
    columns: list[str] | None = Field(None, max_length=1000, description=_COLUMNS)
    row_filter: dict[str, FilterValue] | None = Field(None, description=_ROW_FILTER)
    min_group_size: int | None = Field(
        None, description="Aggregates return no group of fewer rows (2 or more)."
    )
    pseudonymised: list[str] | None = Field(
        None,
        max_length=1000,
        description="Granted columns delivered as keyed hashes specific to this grant.",
    )


class GrantCreate(GrantBounds):
    organisation: str | None = Field(None, max_length=100, description="The grantee organisation.")
    user: str | None = Field(None, max_length=100, description="Or the grantee user.")
    purpose: str = Field(max_length=2000, description="What the data may be used for.")
    expires_at: datetime = Field(description="When the grant ends (RFC 3339).")


class GrantUpdate(Body):
    purpose: str | None = Field(None, max_length=2000)
    terms: str | None = Field(None, max_length=5000)
    expires_at: datetime | None = None
    permissions: list[Literal["read", "write"]] | None = None
    columns: list[str] | None = Field(None, max_length=1000)
    row_filter: dict[str, FilterValue] | None = None
    min_group_size: int | None = None
    pseudonymised: list[str] | None = Field(None, max_length=1000)

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent."""
        return self.model_dump(exclude_unset=True)


class AccessRequestCreate(Body):
    purpose: str = Field(max_length=2000, description="What you will use the data for.")
    organisation: str | None = Field(
        None, max_length=100, description="Ask on behalf of an organisation you are an admin of."
    )


class AccessRequestApprove(GrantBounds):
    expires_at: datetime = Field(description="When the grant ends (RFC 3339).")
    purpose: str | None = Field(
        None, max_length=2000, description="Default: the purpose the requester stated."
    )


class AccessRequestDecline(Body):
    reason: str = Field(max_length=2000, description="Why; the requester sees it.")
