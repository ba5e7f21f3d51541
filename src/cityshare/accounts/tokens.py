"""API tokens: create (shown once), list, revoke, and authenticate a request."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import OperationalError

from cityshare.access import Actor, UserResource, allowed, ensure_allowed, ensure_may_delegate
from cityshare.access.actions import Scope
from cityshare.access.actor import expand_scopes
from cityshare.access.tokens import digests_match, looks_like_token, mint_token, token_digest
from cityshare.accounts.models import NewToken, Token
from cityshare.accounts.users import actor_for, user_id_for
from cityshare.audit.log import audit
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, NotFound, Unauthorized
from cityshare.site import Site
from cityshare.storage.engine import impatient_writer, is_busy_error
from cityshare.storage.rows import as_dict, is_row_id, iso
from cityshare.storage.schema import tokens, users
from cityshare.storage.space import is_disk_full

# Writing last_used_at on every request would turn reads into writes; a minute is enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# The columns a listed token shows: those its model names (never the hash).
_LISTED = select(*(tokens.c[name] for name in Token.model_fields))


def parse_scopes(raw: list[str] | str) -> frozenset[Scope]:
    """Scopes from a list or comma-separated text; unknown names are a BadRequest."""
    names = raw.split(",") if isinstance(raw, str) else raw
    try:
        scopes = frozenset(Scope(name.strip()) for name in names if name.strip())
    except ValueError:
        allowed_names = ", ".join(scope.value for scope in Scope)
        raise BadRequest(
            f"Unknown token scope in {names!r}: use {allowed_names}.", parameter="scopes"
        ) from None
    if not scopes:
        raise BadRequest("A token needs at least one scope.", parameter="scopes")
    return expand_scopes(scopes)


def create_token(
    site: Site,
    actor: Actor,
    *,
    username: str | None = None,
    name: str = "",
    scopes: frozenset[Scope] = frozenset({Scope.READ}),
    expires_in_days: int | None = None,
) -> NewToken:
    """Mint a token for ``username`` (default: the actor). The secret is in the result only."""
    ensure_may_delegate(actor, scopes)
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise BadRequest("expires_in_days must be between 1 and 3650.", parameter="expires")
    with site.writer.begin() as connection:
        user_id = _user_id(connection, actor, username)
        ensure_allowed(actor, "token.manage", UserResource(user_id))
        created = insert_token(connection, user_id, name, scopes, expires_in_days)
        audit(
            connection,
            actor,
            "token.create",
            token_id=created.id,
            user_id=user_id,
            detail={"scopes": created.scopes, "expires_at": created.expires_at},
        )
        return created


def insert_token(
    connection: Connection,
    user_id: int,
    name: str,
    scopes: frozenset[Scope],
    expires_in_days: int | None,
) -> NewToken:
    """Store a new token's hash and return its description with the secret."""
    if not scopes:
        raise BadRequest(
            "A token needs at least one scope: read, write or admin.", parameter="scopes"
        )
    new = mint_token()
    now = utcnow()
    expires = now + timedelta(days=expires_in_days) if expires_in_days else None
    scope_text = ",".join(sorted(scope.value for scope in scopes))
    token_id = connection.execute(
        tokens.insert()
        .values(
            user_id=user_id,
            name=name[:200],
            prefix=new.prefix,
            token_hash=new.digest,
            scopes=scope_text,
            created_at=now,
            expires_at=expires,
        )
        .returning(tokens.c.id)
    ).scalar_one()
    return NewToken.model_validate(
        {
            "id": token_id,
            "name": name[:200],
            "prefix": new.prefix,
            "scopes": scope_text.split(","),
            "created_at": iso(now),
            "expires_at": iso(expires),
            "token": new.secret,
        }
    )


def list_tokens(site: Site, actor: Actor, username: str | None = None) -> list[Token]:
    """The tokens of ``username`` (default: the actor), without their secrets."""
    with site.engine.connect() as connection:
        user_id = _user_id(connection, actor, username)
        ensure_allowed(actor, "token.manage", UserResource(user_id))
        rows = connection.execute(
            _LISTED.where(tokens.c.user_id == user_id).order_by(tokens.c.id)
        ).all()
    return [Token.model_validate({**as_dict(row), "scopes": row.scopes.split(",")}) for row in rows]


def revoke_token(site: Site, actor: Actor, token_id: int) -> None:
    """Revoke a token at once; it is refused from the next request on."""
    if not is_row_id(token_id):
        raise NotFound(f"No token with id {token_id}.")
    with site.writer.begin() as connection:
        owner = connection.execute(
            select(tokens.c.user_id).where(tokens.c.id == token_id)
        ).scalar_one_or_none()
        if owner is None or not allowed(actor, "user.view", UserResource(owner)):
            raise NotFound(f"No token with id {token_id}.")
        ensure_allowed(actor, "token.manage", UserResource(owner))
        connection.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        audit(connection, actor, "token.revoke", token_id=token_id, user_id=owner)


def authenticate_token(site: Site, secret: str) -> Actor:
    """The Actor a bearer token stands for; Unauthorized if it is not a live token."""
    if not looks_like_token(secret):
        raise Unauthorized("Malformed API token.")
    digest = token_digest(secret)
    with site.engine.connect() as connection:
        row = connection.execute(_TOKEN_AND_USER, {"digest": digest}).first()
        if row is None or not digests_match(row.token_hash, digest):
            raise Unauthorized("Unknown API token.")
        _check_live(row.revoked_at, row.expires_at)
        actor = actor_for(
            connection,
            row.user_id,
            row.username,
            is_site_admin=bool(row.is_site_admin),
            scopes=parse_scopes(row.scopes),
            token_id=row.id,
        )
    _touch(site, row.id, row.last_used_at)
    return actor


# Built once with a bound parameter: it runs on every request with a token.
_TOKEN_AND_USER = (
    select(
        tokens.c.id,
        tokens.c.user_id,
        tokens.c.token_hash,
        tokens.c.scopes,
        tokens.c.revoked_at,
        tokens.c.expires_at,
        tokens.c.last_used_at,
        users.c.username,
        users.c.is_site_admin,
    )
    .join(users, users.c.id == tokens.c.user_id)
    .where(tokens.c.token_hash == bindparam("digest"))
)


def _check_live(revoked_at: datetime | None, expires_at: datetime | None) -> None:
    if revoked_at is not None:
        raise Unauthorized("This API token was revoked.")
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthorized("This API token has expired: create a new one.")


def _touch(site: Site, token_id: int, last_used: datetime | None) -> None:
    now = utcnow()
    if last_used is not None and now - last_used < LAST_USED_RESOLUTION:
        return
    # Bookkeeping must never hold up a request: while a long upload holds SQLite's
    # write lock, or the disk is full (the request may only read), the time is recorded
    # on a later request instead.
    try:
        with impatient_writer(site.engine, 50).begin() as connection:
            connection.execute(
                update(tokens).where(tokens.c.id == token_id).values(last_used_at=now)
            )
    except OperationalError as error:
        if not (is_busy_error(error) or is_disk_full(error)):
            raise


def _user_id(connection: Connection, actor: Actor, username: str | None) -> int:
    if username is None or username == actor.username:
        if actor.user_id is None:
            raise Unauthorized("Sign in to manage API tokens.")
        return actor.user_id
    user_id = user_id_for(connection, username)
    if user_id is None or not allowed(actor, "user.view", UserResource(user_id)):
        raise NotFound(f"No user named {username[:80]!r}.")
    return user_id
