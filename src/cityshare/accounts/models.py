"""The resources the accounts services answer with, as the API describes them: each lists
the fields that are shown, and nothing else is (issue 18, part 3: the routes declare them
as ``response_model``; the services return them next)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Resource(BaseModel):
    """An answer: frozen, its fields described in the OpenAPI document."""

    model_config = ConfigDict(frozen=True)


class Organisation(Resource):
    """An organisation (their existence is public)."""

    id: int
    name: str = Field(description="Its slug, as in URLs.")
    title: str
    description: str
    created_at: str = Field(description="RFC 3339, UTC.")


class Member(Resource):
    """A member of an organisation, as its members see them."""

    username: str
    display_name: str
    role: str = Field(description="member, editor or admin.")


class Membership(Resource):
    """A member's role, as set."""

    username: str
    role: str = Field(description="member, editor or admin.")
