"""User accounts and sign-in."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError

from cityshare.access import Actor, SiteResource, UserResource, allowed, ensure_allowed
from cityshare.access.actions import Role, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.passwords import MIN_PASSWORD_LENGTH, hash_password
from cityshare.accounts import second_factor
from cityshare.accounts.models import User, UserDetail
from cityshare.accounts.second_factor import SIGN_IN
from cityshare.audit.log import Event, audit, record
from cityshare.bounds.live_grants import live_grants
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound
from cityshare.names import check_length, check_username
from cityshare.site import Site
from cityshare.storage.rows import as_dict
from cityshare.storage.schema import memberships, organisations, users

# The lengths of the columns that hold them.
DISPLAY_NAME_CHARS = 200
EMAIL_CHARS = 320

_UserT = TypeVar("_UserT", bound=User)


def create_user(
    site: Site,
    actor: Actor,
    *,
    username: str,
    password: str | None = None,
    email: str | None = None,
    display_name: str = "",
    is_site_admin: bool = False,
) -> User:
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
) -> User:
    """Insert a user row; used by :func:`create_user` and by ``cityshare init``."""
    check_username(username)
    check_length(display_name, "display_name", DISPLAY_NAME_CHARS)
    if email is not None:
        check_length(email, "email", EMAIL_CHARS)
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
    return _shown(User, row)


def list_users(site: Site, actor: Actor) -> list[User]:
    """All users (site administrators only)."""
    ensure_allowed(actor, "user.list", SiteResource())
    with site.engine.connect() as connection:
        rows = connection.execute(select(users).order_by(users.c.username)).all()
    return [_shown(User, row) for row in rows]


def get_user(site: Site, actor: Actor, username: str) -> UserDetail:
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
    joined = [{"organisation": name, "role": role} for name, role in member_rows]
    return _shown(UserDetail, row, memberships=joined)


def _shown(model: type[_UserT], row: Any, **more: Any) -> _UserT:
    """A user row as ``model`` shows it: only the fields it names (never a hash or the
    second factor's secret), and whether a second factor is turned on."""
    return model.model_validate(
        {**as_dict(row), "second_factor": row.totp_enabled_at is not None, **more}
    )


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
    user = connection.execute(_USER, {"user_id": user_id}).one()
    return actor_for(
        connection,
        user_id,
        user.username,
        is_site_admin=bool(user.is_site_admin),
        scopes=scopes,
        token_id=token_id,
    )


def actor_for(
    connection: Connection,
    user_id: int,
    username: str,
    *,
    is_site_admin: bool,
    scopes: frozenset[Scope],
    token_id: int | None,
) -> Actor:
    """The Actor of a user already read: with their roles and live grants, read now."""
    roles = connection.execute(_ROLES, {"user_id": user_id}).all()
    return Actor(
        user_id=user_id,
        username=username,
        is_site_admin=is_site_admin,
        scopes=scopes,
        roles={organisation_id: Role(role) for organisation_id, role in roles},
        token_id=token_id,
        grants=live_grants(connection, user_id),
    )


# Built once with bound parameters: they run on every authenticated request.
_USER = select(users.c.username, users.c.is_site_admin).where(users.c.id == bindparam("user_id"))
_ROLES = select(memberships.c.organisation_id, memberships.c.role).where(
    memberships.c.user_id == bindparam("user_id")
)


def sign_in(site: Site, username: str, password: str, code: str | None = None) -> Actor:
    """The Actor for a correct username and password, and second-factor ``code`` (a TOTP
    code or a recovery code) when the user has one enabled; Unauthorized otherwise.

    Organisation and site administrators without a second factor are refused (Forbidden):
    they must set one up first. Every attempt is written to the audit log.
    """
    account = second_factor.check_password(site, username, password, action=SIGN_IN)
    with site.engine.connect() as connection:
        actor = load_actor(connection, account.id)
    if account.totp_enabled:
        second_factor.sign_in_with_code(site, account, code)
        return actor
    if _is_admin(actor):
        raise second_factor.refusal(
            site, _needs_second_factor(), SIGN_IN, username, "second-factor-required"
        )
    record(site, Event(SIGN_IN, actor, resource={"username": username}))
    return actor


def _is_admin(actor: Actor) -> bool:
    """Site administrators and admins of any organisation (who need a second factor)."""
    return actor.is_site_admin or Role.ADMIN in actor.roles.values()


def _needs_second_factor() -> Forbidden:
    return Forbidden(
        "Organisation and site administrators must use a second factor to sign in with a "
        f"password. Set one up first: POST {second_factor.SETUP_ROUTE} with your username and "
        f"password, then POST {second_factor.CONFIRM_ROUTE} with a code from your "
        "authenticator app.",
        second_factor="setup-required",
        setup=second_factor.SETUP_ROUTE,
    )
