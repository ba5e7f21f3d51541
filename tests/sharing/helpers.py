"""Actors, dates and store snapshots for the sharing services' unit tests.

The users come from :func:`tests.world.build_world`: ``admin`` (the site administrator),
``admin-user``, ``editor-user`` and ``member-user`` of the owner organisation ``city``, and
``outsider-user``, an admin of ``partner``. :func:`add_user` makes more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cityshare.access import ANONYMOUS, Actor, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts import organisations, users
from cityshare.accounts.console import console_actor
from cityshare.accounts.users import load_actor, user_id_for
from cityshare.site import Site
from cityshare.storage.schema import access_requests, audit_head, grants
from tests.world import OTHER, OWNER, World

SITE_ADMIN = "admin"
ADMIN = "admin-user"
EDITOR = "editor-user"
MEMBER = "member-user"
OUTSIDER = "outsider-user"
PURPOSE = "Traffic planning for the northern districts"
READ_ONLY = frozenset({Scope.READ})

__all__ = ["OTHER", "OWNER"]  # the organisations, for the tests that import them here


@dataclass(frozen=True)
class Unchanging:
    """A populated site with a grant of ``private-counts`` to the partner organisation and
    a pending request by ``outsider-user`` for ``shared-counts``; ``stranger`` belongs to
    no organisation."""

    world: World
    grant_id: int
    request_id: int


def actor(site: Site, username: str, scopes: frozenset[Scope] = ALL_SCOPES) -> Actor:
    """``username`` as a request would carry them now: roles and live grants read afresh."""
    with site.engine.connect() as connection:
        user_id = user_id_for(connection, username)
        assert user_id is not None, username
        return load_actor(connection, user_id, scopes=scopes)


def who(site: Site, username: str | None, scopes: frozenset[Scope] = ALL_SCOPES) -> Actor:
    """``username`` as an actor with ``scopes``, or the anonymous visitor for None."""
    return ANONYMOUS if username is None else actor(site, username, scopes)


def add_user(
    site: Site, username: str, organisation: str | None = None, role: str = "member"
) -> Actor:
    """A new user (a member of ``organisation`` when given), as an actor."""
    admin = console_actor(site, SITE_ADMIN)
    users.create_user(site, admin, username=username)
    if organisation is not None:
        organisations.set_member(site, admin, organisation, username, role)
    return actor(site, username)


def later(days: float = 30) -> datetime:
    """An aware UTC time ``days`` from now."""
    return datetime.now(UTC) + timedelta(days=days)


def spec(**changes: Any) -> dict[str, Any]:
    """A grant to the partner organisation for 30 days, read only, with ``changes``."""
    return {"organisation": OTHER, "purpose": PURPOSE, "expires_at": later(), **changes}


def snapshot(site: Site) -> tuple[Any, ...]:
    """Every grant, every access request and the audit head: equal before and after a
    refused call when the call changed nothing."""
    with site.engine.connect() as connection:
        stored_grants = connection.execute(select(grants).order_by(grants.c.id)).all()
        requests = connection.execute(select(access_requests).order_by(access_requests.c.id)).all()
        head = connection.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    return (
        [tuple(row) for row in stored_grants],
        [tuple(row) for row in requests],
        tuple(head),
    )


def grant_row(site: Site, grant_id: int) -> Any:
    """The stored grants row ``grant_id``."""
    with site.engine.connect() as connection:
        return connection.execute(select(grants).where(grants.c.id == grant_id)).one()


def request_row(site: Site, request_id: int) -> Any:
    """The stored access_requests row ``request_id``."""
    with site.engine.connect() as connection:
        return connection.execute(
            select(access_requests).where(access_requests.c.id == request_id)
        ).one()


def user_id(site: Site, username: str) -> int:
    """The id of ``username``."""
    with site.engine.connect() as connection:
        found = user_id_for(connection, username)
    assert found is not None
    return int(found)


def audit_seq(site: Site) -> int:
    """The sequence number of the newest audit entry."""
    with site.engine.connect() as connection:
        return int(connection.execute(select(audit_head.c.seq)).scalar_one())
