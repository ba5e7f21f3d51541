"""Routes for sign-in, the current user, users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from cityshare.access import Actor
from cityshare.accounts import tokens as token_service
from cityshare.accounts import users as user_service
from cityshare.accounts.models import AnonymousVisitor, Me, NewToken, Token, User, UserDetail
from cityshare.api.models import SignIn, TokenCreate, UserCreate
from cityshare.http.deps import ActorDep, SiteDep
from cityshare.http.responses import JSON

router = APIRouter(tags=["identity"])


@router.post("/auth/token", status_code=201, responses={201: {"model": NewToken}})
async def sign_in(body: SignIn, site: SiteDep) -> JSON:
    """Exchange a username and password (and a second-factor code, if the user has one)
    for a new API token (shown once)."""
    actor: Actor = await run_in_threadpool(
        user_service.sign_in, site, body.username, body.password, body.code
    )
    created = await run_in_threadpool(
        token_service.create_token,
        site,
        actor,
        name=body.name or "sign-in",
        scopes=token_service.parse_scopes(body.scopes),
        expires_in_days=body.expires_in_days,
    )
    return JSON(created.model_dump(), status_code=201)


@router.get("/me", response_model=Me | AnonymousVisitor)
def me(site: SiteDep, actor: ActorDep) -> Me | AnonymousVisitor:
    """Who you are: your account, memberships and your token's scopes."""
    if actor.username is None:
        return AnonymousVisitor()
    user = user_service.get_user(site, actor, actor.username)
    return Me(**dict(user), scopes=sorted(scope.value for scope in actor.scopes))


@router.get("/users", response_model=list[User])
def list_users(site: SiteDep, actor: ActorDep) -> list[User]:
    """All users (site administrators)."""
    return user_service.list_users(site, actor)


@router.post("/users", status_code=201, response_model=User)
def create_user(body: UserCreate, site: SiteDep, actor: ActorDep) -> User:
    """Create a user (site administrators)."""
    return user_service.create_user(site, actor, **body.model_dump())


@router.get("/users/{username}", response_model=UserDetail)
def get_user(username: str, site: SiteDep, actor: ActorDep) -> UserDetail:
    """A user's account (the user themself and site administrators)."""
    return user_service.get_user(site, actor, username)


@router.get("/tokens", response_model=list[Token])
def list_tokens(site: SiteDep, actor: ActorDep, username: str | None = None) -> list[Token]:
    """Your API tokens (site administrators: anyone's with ``?username=``), without secrets."""
    return token_service.list_tokens(site, actor, username)


@router.post("/tokens", status_code=201, response_model=NewToken)
def create_token(body: TokenCreate, site: SiteDep, actor: ActorDep) -> NewToken:
    """Create an API token; its secret is in this response only."""
    return token_service.create_token(
        site,
        actor,
        username=body.username,
        name=body.name,
        scopes=token_service.parse_scopes(body.scopes),
        expires_in_days=body.expires_in_days,
    )


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: int, site: SiteDep, actor: ActorDep) -> None:
    """Revoke a token; it stops working at once."""
    token_service.revoke_token(site, actor, token_id)
