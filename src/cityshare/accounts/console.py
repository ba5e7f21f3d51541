"""The console as a user: the actor a local command runs as, and the first site
administrator that ``cityshare init`` (and the demo) creates."""

from __future__ import annotations

from cityshare.access import Actor
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts.tokens import insert_token
from cityshare.accounts.users import insert_user, load_actor, user_id_for
from cityshare.errors import NotFound
from cityshare.site import Site


def console_actor(site: Site, username: str) -> Actor:
    """The Actor for a local CLI user: the console is a user too, with its full rights."""
    with site.engine.connect() as connection:
        user_id = user_id_for(connection, username)
        if user_id is None:
            raise NotFound(
                f"No user named {username!r}: run `cityshare init` first, or pass --as USER."
            )
        return load_actor(connection, user_id, scopes=ALL_SCOPES)


def initialise(site: Site, username: str) -> str:
    """Create the site administrator (first run) and return a new admin token."""
    with site.writer.begin() as connection:
        user_id = user_id_for(connection, username)
        if user_id is None:
            user_id = insert_user(
                connection,
                username=username,
                password=None,
                email=None,
                display_name="Site administrator",
                is_site_admin=True,
            ).id
        created = insert_token(connection, user_id, "init", ALL_SCOPES, None)
    return created.token
