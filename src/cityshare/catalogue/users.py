"""User accounts and sign-in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from cityshare.access import Actor, SiteResource, UserResource, allowed, ensure_allowed
from cityshare.access.actions import Role, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from cityshare.audit.log import Event, audit, record
from cityshare.catalogue.names import check_username
from cityshare.catalogue.rows import as_dict
from cityshare.errors import BadRequest, Conflict, NotFound, Unauthorized
from cityshare.site import Site, utcnow
from cityshare.storage.schema import memberships, organisations, users

_PRIVATE = ("password_hash",)


def create_user(
    site: Site,
    actor: Actor,
    *,
    username: str,
    password: str | None = None,
    email: str | None = None,
    display_name: str = "",
    is_site_admin: bool = False,
) -> dict[str, Any]:
    """Create a user account (site administrators only)."""
    ensure_allowed(actor, "user.create", SiteResource())
    with site.writer.begin() as connection:
        created = insert_user(
            connection,
            username=username,
            password=password,
            email=email,
            display_name=display_name,
            is_site_admin=is_site_admin,
        )
        audit(connection, actor, "user.create", user=username, detail={"site_admin": is_site_admin})
        return created


def insert_user(
    connection: Connection,
    *,
    username: str,
    password: str | None,
    email: str | None,
    display_name: str,
    is_site_admin: bool,
) -> dict[str, Any]:
    """Insert a user row; used by :func:`create_user` and by ``cityshare init``."""
    check_username(username)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            parameter="password",
        )
    values = {
        "username": username,
        "email": email,
        "display_name": display_name,
        "password_hash": hash_password(password) if password else None,
        "is_site_admin": is_site_admin,
        "created_at": utcnow(),
    }
    try:
        with connection.begin_nested():
            row = connection.execute(users.insert().values(values).returning(users)).one()
    except IntegrityError:
        raise Conflict(f"The username {username!r} is taken.") from None
    return as_dict(row, exclude=_PRIVATE)


def list_users(site: Site, actor: Actor) -> list[dict[str, Any]]:
    """All users (site administrators only)."""
    ensure_allowed(actor, "user.list", SiteResource())
    with site.engine.connect() as connection:
        rows = connection.execute(select(users).order_by(users.c.username)).all()
    return [as_dict(row, exclude=_PRIVATE) for row in rows]


def get_user(site: Site, actor: Actor, username: str) -> dict[str, Any]:
    """A user's account with memberships; visible to the user and site administrators."""
    with site.engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.username == username)).first()
        if row is None or not allowed(actor, "user.view", UserResource(row.id)):
            raise NotFound(f"No user named {username[:80]!r}.")
        member_rows = connection.execute(
            select(organisations.c.name, memberships.c.role)
            .join(memberships, memberships.c.organisation_id == organisations.c.id)
            .where(memberships.c.user_id == row.id)
            .order_by(organisations.c.name)
        ).all()
    user = as_dict(row, exclude=_PRIVATE)
    user["memberships"] = [{"organisation": name, "role": role} for name, role in member_rows]
    return user


def user_id_for(connection: Connection, username: str) -> int | None:
    """The id of the user called ``username``, or None."""
    found = connection.execute(
        select(users.c.id).where(users.c.username == username)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def load_actor(
    connection: Connection,
    user_id: int,
    *,
    scopes: frozenset[Scope] = ALL_SCOPES,
    token_id: int | None = None,
) -> Actor:
    """Build the Actor for a user: site-admin flag and roles in every organisation."""
    user = connection.execute(
        select(users.c.username, users.c.is_site_admin).where(users.c.id == user_id)
    ).one()
    roles = connection.execute(
        select(memberships.c.organisation_id, memberships.c.role).where(
            memberships.c.user_id == user_id
        )
    ).all()
    return Actor(
        user_id=user_id,
        username=user.username,
        is_site_admin=bool(user.is_site_admin),
        scopes=scopes,
        roles={organisation_id: Role(role) for organisation_id, role in roles},
        token_id=token_id,
    )


def sign_in(site: Site, username: str, password: str) -> Actor:
    """The Actor for a correct username and password; Unauthorized otherwise."""
    with site.engine.connect() as connection:
        row = connection.execute(
            select(users.c.id, users.c.password_hash).where(users.c.username == username)
        ).first()
        stored = row.password_hash if row is not None else None
        if not verify_password(stored, password) or row is None:
            record(site, Event("auth.sign-in", None, "deny", resource={"username": username[:100]}))
            refusal = Unauthorized("Wrong username or password.")
            refusal.audited = True
            raise refusal
        actor = load_actor(connection, row.id)
    record(site, Event("auth.sign-in", actor, resource={"username": username}))
    return actor
