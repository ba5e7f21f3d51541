"""Organisations and their members."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from cityshare.access import Actor, OrganisationResource, SiteResource, allowed, ensure_allowed
from cityshare.access.actions import Role
from cityshare.accounts.models import Member, Membership, Organisation
from cityshare.accounts.users import user_id_for
from cityshare.audit.log import audit
from cityshare.clock import utcnow
from cityshare.errors import BadRequest, Conflict, NotFound
from cityshare.names import check_length, check_slug
from cityshare.search.index import reindex_organisation
from cityshare.site import Site
from cityshare.storage.rows import as_dict
from cityshare.storage.schema import memberships, organisations, users

TITLE_CHARS = 200  # the length of its column


def create_organisation(
    site: Site, actor: Actor, *, name: str, title: str, description: str = ""
) -> Organisation:
    """Create an organisation (site administrators)."""
    ensure_allowed(actor, "organisation.create", SiteResource())
    with site.writer.begin() as connection:
        created = insert_organisation(connection, name=name, title=title, description=description)
        audit(connection, actor, "organisation.create", organisation=name)
        return created


def insert_organisation(
    connection: Connection, *, name: str, title: str, description: str
) -> Organisation:
    """Insert an organisation row; used by the service and by the demo loader."""
    check_slug(name, "organisation")
    values = {
        "name": name,
        "title": check_length(title.strip() or name, "title", TITLE_CHARS),
        "description": description,
        "created_at": utcnow(),
    }
    try:
        with connection.begin_nested():
            row = connection.execute(
                organisations.insert().values(values).returning(organisations)
            ).one()
    except IntegrityError:
        raise Conflict(f"The organisation name {name!r} is taken.") from None
    return _organisation(row)


def list_organisations(site: Site, actor: Actor) -> list[Organisation]:
    """All organisations (their existence is public)."""
    ensure_allowed(actor, "organisation.list", SiteResource())
    with site.engine.connect() as connection:
        rows = connection.execute(select(organisations).order_by(organisations.c.name)).all()
    return [_organisation(row) for row in rows]


def get_organisation(site: Site, actor: Actor, name: str) -> Organisation:
    """One organisation."""
    with site.engine.connect() as connection:
        row = _organisation_row(connection, name)
    ensure_allowed(actor, "organisation.view", _resource(row))
    return _organisation(row)


def get_organisations(site: Site, actor: Actor, names: Iterable[str]) -> dict[str, Organisation]:
    """The organisations called ``names`` that ``actor`` may view, by name, in one read."""
    with site.engine.connect() as connection:
        rows = connection.execute(
            select(organisations).where(organisations.c.name.in_(sorted(set(names))))
        ).all()
    return {
        row.name: _organisation(row)
        for row in rows
        if allowed(actor, "organisation.view", _resource(row))
    }


def update_organisation(
    site: Site, actor: Actor, name: str, changes: dict[str, Any]
) -> Organisation:
    """Change an organisation's title or description (its admins)."""
    unknown = set(changes) - {"title", "description"}
    if unknown:
        raise BadRequest(f"Cannot change {sorted(unknown)}: only title and description.")
    for field in ("title", "description"):
        if changes.get(field) is not None and not isinstance(changes[field], str):
            raise BadRequest(f"{field} must be a text.", parameter=field)
    if "title" in changes and not (changes["title"] or "").strip():
        raise BadRequest("title cannot be empty.", parameter="title")
    if "title" in changes:
        check_length(changes["title"], "title", TITLE_CHARS)
    if "description" in changes and changes["description"] is None:
        changes = {**changes, "description": ""}
    with site.writer.begin() as connection:
        row = _organisation_row(connection, name)
        ensure_allowed(actor, "organisation.update", _resource(row))
        if changes:
            connection.execute(
                update(organisations).where(organisations.c.id == row.id).values(changes)
            )
            audit(connection, actor, "organisation.update", organisation=name, detail=changes)
            reindex_organisation(connection, row.id)
        return _organisation(_organisation_row(connection, name))


def list_members(site: Site, actor: Actor, name: str) -> list[Member]:
    """An organisation's members and roles (visible to its members)."""
    with site.engine.connect() as connection:
        organisation = _organisation_row(connection, name)
        ensure_allowed(actor, "organisation.members.view", _resource(organisation))
        rows = connection.execute(
            select(users.c.username, users.c.display_name, memberships.c.role)
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.organisation_id == organisation.id)
            .order_by(users.c.username)
        ).all()
    return [Member.model_validate(dict(row._mapping)) for row in rows]


def set_member(site: Site, actor: Actor, name: str, username: str, role: str) -> Membership:
    """Add ``username`` to the organisation or change their role (its admins)."""
    member_role = _role(role)
    with site.writer.begin() as connection:
        organisation = _organisation_row(connection, name)
        ensure_allowed(actor, "organisation.members.manage", _resource(organisation))
        user_id = _user_id(connection, username)
        if member_role is not Role.ADMIN:
            _keep_an_admin(connection, organisation.id, user_id)
        set_membership(connection, organisation.id, user_id, member_role)
        audit(
            connection,
            actor,
            "organisation.members.manage",
            organisation=name,
            user=username,
            detail={"role": member_role.value},
        )
    return Membership(username=username, role=member_role.value)


def set_membership(connection: Connection, organisation_id: int, user_id: int, role: Role) -> None:
    """Insert or update one membership row."""
    key = (memberships.c.organisation_id == organisation_id) & (memberships.c.user_id == user_id)
    changed = connection.execute(update(memberships).where(key).values(role=role.value))
    if changed.rowcount == 0:
        connection.execute(
            memberships.insert().values(
                organisation_id=organisation_id,
                user_id=user_id,
                role=role.value,
                created_at=utcnow(),
            )
        )


def remove_member(site: Site, actor: Actor, name: str, username: str) -> None:
    """Remove ``username`` from the organisation (its admins)."""
    with site.writer.begin() as connection:
        organisation = _organisation_row(connection, name)
        ensure_allowed(actor, "organisation.members.manage", _resource(organisation))
        user_id = _user_id(connection, username)
        _keep_an_admin(connection, organisation.id, user_id)
        removed = connection.execute(
            delete(memberships).where(
                memberships.c.organisation_id == organisation.id,
                memberships.c.user_id == user_id,
            )
        )
        if removed.rowcount == 0:
            raise NotFound(f"{username!r} is not a member of {name!r}.")
        audit(
            connection,
            actor,
            "organisation.members.manage",
            organisation=name,
            user=username,
            detail={"role": None},
        )


def _keep_an_admin(connection: Connection, organisation_id: int, user_id: int) -> None:
    """Refuse a change that would leave the organisation without any admin."""
    admins = set(
        connection.execute(
            select(memberships.c.user_id).where(
                memberships.c.organisation_id == organisation_id,
                memberships.c.role == Role.ADMIN.value,
            )
        ).scalars()
    )
    if admins == {user_id}:
        raise Conflict("This is the organisation's last admin: make someone else admin first.")


def organisation_id(connection: Connection, name: str) -> int:
    """The id of the organisation called ``name``; NotFound otherwise."""
    return int(_organisation_row(connection, name).id)


def _organisation(row: Any) -> Organisation:
    """An organisation row as shown."""
    return Organisation.model_validate(as_dict(row))


def _organisation_row(connection: Connection, name: str) -> Any:
    row = connection.execute(select(organisations).where(organisations.c.name == name)).first()
    if row is None:
        raise NotFound(f"No organisation named {name[:80]!r}.")
    return row


def _user_id(connection: Connection, username: str) -> int:
    user_id = user_id_for(connection, username)
    if user_id is None:
        raise NotFound(f"No user named {username[:80]!r}.")
    return user_id


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadRequest(
            f"Unknown role {role[:40]!r}: use member, editor or admin.", parameter="role"
        ) from None


def _resource(row: Row[Any]) -> OrganisationResource:
    """The access-policy view of an organisation (its name is what refusals call it)."""
    return OrganisationResource(row.id, row.name)
