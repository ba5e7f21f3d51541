"""Request bodies. ``extra="forbid"``: a field the caller may not set is refused (400)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """Base of request bodies: unknown fields are an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class SignIn(Body):
    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)
    scopes: list[str] = Field(default=["read"], description="read, write and/or admin")
    name: str = Field("", max_length=200, description="A label for the new token.")
    expires_in_days: int | None = Field(30, ge=1, le=3650)
    code: str | None = Field(
        None,
        max_length=100,
        description="With a second factor: the authenticator's current code, or a recovery code.",
    )


class Credentials(Body):
    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class CredentialsWithCode(Credentials):
    code: str = Field(
        max_length=100, description="The authenticator's current code, or a recovery code."
    )


class TokenCreate(Body):
    name: str = Field("", max_length=200)
    scopes: list[str] = Field(default=["read"], description="read, write and/or admin")
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    username: str | None = Field(None, description="Site admins: mint for another user.")


class UserCreate(Body):
    username: str = Field(max_length=64)
    password: str | None = Field(None, min_length=12, max_length=1000)
    email: str | None = Field(None, max_length=320)
    display_name: str = Field("", max_length=200)
    is_site_admin: bool = False


class OrganisationCreate(Body):
    name: str = Field(max_length=100)
    title: str = Field(max_length=200)
    description: str = Field("", max_length=100_000)


class OrganisationUpdate(Body):
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=100_000)


class MemberSet(Body):
    role: str = Field(description="member, editor or admin")


class Temporal(Body):
    start: str | None = None
    end: str | None = None


class DatasetFields(Body):
    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=100_000)
    tags: list[str] | None = None
    licence: str | None = Field(None, description="An SPDX licence id, e.g. CC-BY-4.0")
    visibility: str | None = Field(None, description="open, shared or private")
    update_frequency: str | None = None
    spatial: dict[str, Any] | None = Field(None, description="A GeoJSON geometry (WGS84)")
    temporal: Temporal | None = None
    column_classes: dict[str, str] | None = Field(
        None,
        description="Column name -> public, personal or sensitive (admins; see docs/sharing.md)",
    )

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent."""
        return self.model_dump(exclude_unset=True)


class DatasetCreate(DatasetFields):
    name: str = Field(max_length=100)
    organisation: str = Field(max_length=100)
    kind: str = Field("table", description="table (uploaded files) or sensor (live streams)")


class DeviceCreate(Body):
    name: str = Field(max_length=100)
    public_key: str = Field(
        max_length=4000, description="Ed25519 public key: PEM, or base64 of the 32 raw bytes."
    )
    location: dict[str, Any] | None = Field(None, description="A GeoJSON Point (WGS84).")
    properties: dict[str, Any] | None = Field(None, description="Free-form device metadata.")


class DeviceUpdate(Body):
    name: str | None = Field(None, max_length=100)
    location: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent."""
        return self.model_dump(exclude_unset=True)


class KeyAdd(Body):
    public_key: str = Field(max_length=4000, description="The new Ed25519 public key.")
    old_keys_valid_until: datetime | None = Field(
        None, description="Until when the device's current keys stay valid (default: now)."
    )


class StreamCreate(Body):
    device: str = Field(max_length=40, description="The feeding device's uid.")
    name: str = Field(max_length=100, description="The name readings use for this stream.")
    observed_property: str = Field(max_length=100, description="e.g. no2, vehicle_count")
    unit: str = Field("", max_length=50, description="e.g. µg/m³, vehicles/h")
    value_type: str = Field("number", description="number, string, boolean or object")
    description: str = Field("", max_length=10_000)
