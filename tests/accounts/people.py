"""A small site of people for the accounts services' unit tests, and ways to look at it.

Two organisations: ``city`` (a member, an editor and an admin) and ``partner`` (its
admin), a user in no organisation, and the site administrator ``admin``. Everyone but
``admin`` has the password :data:`PASSWORD`. Actors are built as the services meet them: through
:func:`cityshare.accounts.users.load_actor`, or a real token for a read-only one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import select, update

from cityshare.access import Actor, Scope
from cityshare.access.actor import ALL_SCOPES
from cityshare.access.passwords import hash_password
from cityshare.accounts import organisations, tokens, users
from cityshare.accounts.console import console_actor, initialise
from cityshare.accounts.users import load_actor, user_id_for
from cityshare.site import Site
from cityshare.storage.schema import audit_log, memberships, recovery_codes
from cityshare.storage.schema import organisations as organisations_table
from cityshare.storage.schema import tokens as tokens_table
from cityshare.storage.schema import users as users_table

PASSWORD = "correct horse battery staple"
CITY = "city"
PARTNER = "partner"
# Username -> (organisation, role); "loner" belongs nowhere.
MEMBERS = {
    "city-member": (CITY, "member"),
    "city-editor": (CITY, "editor"),
    "city-admin": (CITY, "admin"),
    "partner-admin": (PARTNER, "admin"),
}
LONER = "loner"
READ_ONLY = frozenset({Scope.READ})
READ_WRITE = frozenset({Scope.READ, Scope.WRITE})


@dataclass(frozen=True)
class People:
    """The populated site and its site administrator (all scopes, as the console)."""

    site: Site
    admin: Actor

    def actor(self, username: str, scopes: frozenset[Scope] = ALL_SCOPES) -> Actor:
        """``username`` as the services see them now, with ``scopes``."""
        return actor_of(self.site, username, scopes)

    def token_actor(self, username: str, scopes: frozenset[Scope]) -> Actor:
        """``username`` behind a real new token with ``scopes`` (made by the site admin)."""
        secret = tokens.create_token(self.site, self.admin, username=username, scopes=scopes)
        return tokens.authenticate_token(self.site, secret.token)


def build_people(site: Site) -> People:
    """Populate ``site`` with the organisations and users above."""
    initialise(site, "admin")
    admin = console_actor(site, "admin")
    for name in (CITY, PARTNER):
        organisations.create_organisation(site, admin, name=name, title=name.title())
    for username in (*MEMBERS, LONER):
        users.create_user(site, admin, username=username, display_name=username.title())
    for username, (organisation, role) in MEMBERS.items():
        organisations.set_member(site, admin, organisation, username, role)
    give_password(site, *MEMBERS, LONER)
    return People(site=site, admin=admin)


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def give_password(site: Site, *usernames: str) -> None:
    """Set :data:`PASSWORD` for ``usernames``: one argon2 hash for the whole test run
    (create_user's own hashing is tested with it; a hash takes a second on a busy machine)."""
    with site.writer.begin() as connection:
        connection.execute(
            update(users_table)
            .where(users_table.c.username.in_(usernames))
            .values(password_hash=_password_hash())
        )


def actor_of(site: Site, username: str, scopes: frozenset[Scope] = ALL_SCOPES) -> Actor:
    """The Actor of ``username`` read from the store now."""
    with site.engine.connect() as connection:
        user_id = user_id_for(connection, username)
        assert user_id is not None, username
        return load_actor(connection, user_id, scopes=scopes)


ACCOUNT_TABLES = (organisations_table, users_table, memberships, tokens_table, recovery_codes)


def account_state(site: Site) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the accounts' tables, in a stable order: to show nothing changed."""
    state = {}
    with site.engine.connect() as connection:
        for table in ACCOUNT_TABLES:
            order = list(table.primary_key.columns)
            rows = connection.execute(select(table).order_by(*order)).all()
            state[table.name] = [tuple(row) for row in rows]
    return state


def user_row(site: Site, username: str) -> Any:
    """The stored row of ``username``."""
    with site.engine.connect() as connection:
        return connection.execute(
            select(users_table).where(users_table.c.username == username)
        ).one()


def last_audit_seq(site: Site) -> int:
    """The sequence number of the newest audit entry (0 for none)."""
    with site.engine.connect() as connection:
        newest = connection.execute(
            select(audit_log.c.seq).order_by(audit_log.c.seq.desc())
        ).first()
    return 0 if newest is None else int(newest.seq)
