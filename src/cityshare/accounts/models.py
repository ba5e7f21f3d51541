"""The resources the accounts services answer with, as the API describes them: each lists
the fields that are shown, and nothing else is (issue 18, part 3: the routes declare them
as ``response_model``; the services return them next)."""

from __future__ import annotations

from pydantic import Field

from cityshare.resource import Resource


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


class User(Resource):
    """A user account as shown: never its password hash or second-factor secret."""

    id: int
    username: str
    email: str | None
    display_name: str
    is_site_admin: bool
    created_at: str = Field(description="RFC 3339, UTC.")
    second_factor: bool = Field(description="Whether a second factor is turned on.")


class UserMembership(Resource):
    """An organisation a user belongs to, and their role there."""

    organisation: str
    role: str = Field(description="member, editor or admin.")


class UserDetail(User):
    """A user account with its memberships."""

    memberships: list[UserMembership]


class Me(UserDetail):
    """The signed-in caller: their account, memberships and their token's scopes."""

    scopes: list[str]


class AnonymousVisitor(Resource):
    """The caller sent no token."""

    anonymous: bool = True


class Token(Resource):
    """An API token as listed: never its secret."""

    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it by.")
    scopes: list[str]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class NewToken(Resource):
    """A token just created: its secret is shown here, once."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    expires_at: str | None
    token: str = Field(description="The secret: send it as 'Authorization: Bearer <token>'.")


class SecondFactorSetup(Resource):
    """A second factor being set up: its secret, shown this once, to enter in an app."""

    secret: str = Field(description="The TOTP secret, base32.")
    otpauth_uri: str = Field(description="The otpauth:// URI an authenticator app reads.")
    qr_svg: str = Field(description="That URI as a QR code, an SVG image.")


class RecoveryCodes(Resource):
    """Codes that each stand in for a second-factor code once; shown this once."""

    recovery_codes: list[str]
