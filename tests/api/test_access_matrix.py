"""The access matrix: every route × every kind of actor × every dataset visibility.

Every answer must also be one the OpenAPI document allows: its status, media type and body
(schemathesis's conformance checks, see ``openapi_support``).

Each route of the app must appear in ROUTES with the status every actor gets; a new
route without a row here fails ``test_every_route_is_in_the_matrix``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from schemathesis.schemas import BaseSchema
from sqlalchemy import select
from starlette.testclient import TestClient

from cityshare import keys
from cityshare.accounts import organisations, tokens, users
from cityshare.accounts.console import console_actor
from cityshare.http.session import CSRF_COOKIE
from cityshare.sharing import grants
from cityshare.storage.rows import inserted_id
from cityshare.storage.schema import access_requests, datasets
from cityshare.storage.schema import users as users_table
from tests.api.openapi_support import assert_conforms, documented, openapi_schema
from tests.conftest import ENGINES
from tests.sensors import add_device
from tests.world import (
    OTHER,
    OWNER,
    SAMPLE_CSV,
    VISIBILITIES,
    World,
    add_dataset,
    populated_client,
)

# A browser's CSRF nonce cookie (any 43 characters: the token is derived from it).
BROWSER_COOKIE = f"{CSRF_COOKIE}={'n' * 43}"
ACTORS = ("anonymous", "outsider", "member", "editor", "admin", "readonly", "siteadmin")
OWNER_MEMBERS = frozenset({"member", "editor", "admin", "readonly"})


Expect = Callable[[str, str | None], int]
Prepare = Callable[["World", str | None], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    """How to call one route and what each actor gets."""

    expect: Callable[[str, str | None], int]
    prepare: Callable[[World, str | None], tuple[str, dict[str, Any]]]
    by_visibility: bool = False


def sees(actor: str, visibility: str | None) -> bool:
    """Whether ``actor`` may see a dataset's metadata."""
    if visibility == "open" or actor == "siteadmin":
        return True
    if visibility == "shared":
        return actor != "anonymous"
    return actor in OWNER_MEMBERS


def denied(actor: str) -> int:
    """The status of a visible-but-refused request."""
    return 401 if actor == "anonymous" else 403


def allow_if(allowed: frozenset[str], ok: int) -> Callable[[str, str | None], int]:
    """Expect ``ok`` for these actors, 401/403 for the rest."""
    return lambda actor, _v: ok if actor in allowed else denied(actor)


def dataset_rule(allowed: frozenset[str], ok: int) -> Callable[[str, str | None], int]:
    """404 when invisible; ``ok`` for these actors; 401/403 otherwise."""
    return lambda actor, v: (ok if actor in allowed else denied(actor)) if sees(actor, v) else 404


def read_rule(actor: str, visibility: str | None) -> int:
    """Reading rows: anyone on open data, the owner's members otherwise."""
    if not sees(actor, visibility):
        return 404
    if visibility == "open" or actor in OWNER_MEMBERS or actor == "siteadmin":
        return 200
    return denied(actor)


def device_rule(allowed: frozenset[str], ok: int) -> Callable[[str, str | None], int]:
    """Devices exist only for their organisation's members (and site admins)."""

    def expect(actor: str, _v: str | None) -> int:
        if actor not in OWNER_MEMBERS | {"siteadmin"}:
            return 404
        return ok if actor in allowed else denied(actor)

    return expect


def everyone(status: int) -> Callable[[str, str | None], int]:
    """The same status for every actor."""
    return lambda _a, _v: status


def fixed(path: str, **kwargs: Any) -> Callable[[World, str | None], tuple[str, dict[str, Any]]]:
    """A request that needs nothing prepared (a fresh copy of its arguments each time: the
    test pops the headers from them)."""
    return lambda _w, _v: (path, dict(kwargs))


def on_dataset(
    suffix: str, **kwargs: Any
) -> Callable[[World, str | None], tuple[str, dict[str, Any]]]:
    """A request on the world's dataset of the case's visibility."""
    return lambda w, v: (f"/api/v1/datasets/{w.datasets[str(v)]}{suffix}", dict(kwargs))


def throwaway_dataset(world: World, visibility: str | None) -> tuple[str, dict[str, Any]]:
    """A fresh dataset to delete."""
    name = f"gone-{secrets.token_hex(4)}"
    add_dataset(world.site, world.site.settings.data_dir, name, str(visibility))
    return f"/api/v1/datasets/{name}", {}


def throwaway_user(world: World, organisation: str = OWNER) -> str:
    """A fresh user who is a member of ``organisation`` (default: the owner)."""
    admin = console_actor(world.site, "admin")
    username = f"temp-{secrets.token_hex(4)}"
    users.create_user(world.site, admin, username=username)
    organisations.set_member(world.site, admin, organisation, username, "member")
    return username


def throwaway_token(world: World, _v: str | None) -> tuple[str, dict[str, Any]]:
    """A fresh token of member-user, to revoke."""
    admin = console_actor(world.site, "admin")
    created = tokens.create_token(world.site, admin, username="member-user")
    return f"/api/v1/tokens/{created.id}", {}


def on_sensor_dataset(
    suffix: str, **kwargs: Any
) -> Callable[[World, str | None], tuple[str, dict[str, Any]]]:
    """A request on the world's sensor dataset of the case's visibility."""
    return lambda w, v: (f"/api/v1/datasets/{w.sensor_datasets[str(v)]}{suffix}", dict(kwargs))


def on_stream(suffix: str) -> Callable[[World, str | None], tuple[str, dict[str, Any]]]:
    """A request on the world's stream of the case's visibility."""
    return lambda w, v: (f"/api/v1/streams/{w.streams[str(v)]}{suffix}", {})


def new_stream(world: World, visibility: str | None) -> tuple[str, dict[str, Any]]:
    """A new stream of the world's station in the sensor dataset of ``visibility``."""
    assert world.station is not None
    body = {
        "device": world.station.uid,
        "name": f"pm10-{secrets.token_hex(4)}",
        "observed_property": "pm10",
        "unit": "µg/m³",
    }
    return f"/api/v1/datasets/{world.sensor_datasets[str(visibility)]}/streams", {"json": body}


def on_station(
    suffix: str, **kwargs: Any
) -> Callable[[World, str | None], tuple[str, dict[str, Any]]]:
    """A request on the world's device."""

    def prepare(world: World, _v: str | None) -> tuple[str, dict[str, Any]]:
        assert world.station is not None
        return f"/api/v1/devices/{world.station.uid}{suffix}", dict(kwargs)

    return prepare


def on_throwaway_device(
    suffix: str, **kwargs: Any
) -> Callable[[World, str | None], tuple[str, dict[str, Any]]]:
    """A request on a freshly registered device (to revoke or rekey)."""

    def prepare(world: World, _v: str | None) -> tuple[str, dict[str, Any]]:
        device = add_device(world.site, f"spare-{secrets.token_hex(4)}")
        path = suffix.replace("{key_id}", keys.key_id(keys.public_key_text(device.key)))
        return f"/api/v1/devices/{device.uid}{path}", dict(kwargs)

    return prepare


def new_device(_w: World, _v: str | None) -> tuple[str, dict[str, Any]]:
    """A device registration body with a fresh key."""
    key = keys.public_key_text(keys.generate_private_key())
    body = {"name": f"new-{secrets.token_hex(4)}", "public_key": key}
    return f"/api/v1/organisations/{OWNER}/devices", {"json": body}


def signed_batch(world: World, _v: str | None) -> tuple[str, dict[str, Any]]:
    """A fresh signed batch from the world's device (bearer tokens play no part)."""
    assert world.station is not None
    body, headers = world.station.signed([("no2-open", datetime.now(UTC), 12.5)])
    return "/api/v1/ingest", {"content": body, "headers": headers}


SITE_ADMIN = frozenset({"siteadmin"})
ORG_ADMINS = frozenset({"admin", "siteadmin"})
EDITORS = frozenset({"editor", "admin", "siteadmin"})
FULL_TOKENS = frozenset(ACTORS) - {"anonymous", "readonly"}
CSV_UPLOAD = {"content": SAMPLE_CSV.encode(), "headers": {"Content-Type": "text/csv"}}

ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/openapi.json"): Case(everyone(200), fixed("/api/v1/openapi.json")),
    ("GET", "/api/v1"): Case(everyone(200), fixed("/api/v1")),
    ("POST", "/api/v1/auth/token"): Case(
        everyone(401),
        fixed("/api/v1/auth/token", json={"username": "member-user", "password": "x" * 12}),
    ),
    # Password-authenticated (no token): a wrong password is 401 for everyone.
    **{
        ("POST", f"/api/v1/auth/second-factor/{step}"): Case(
            everyone(401),
            fixed(
                f"/api/v1/auth/second-factor/{step}",
                json={"username": "member-user", "password": "x" * 12, **extra},
            ),
        )
        for step, extra in (
            ("setup", {}),
            ("confirm", {"code": "123456"}),
            ("disable", {"code": "123456"}),
            ("recovery-codes", {"code": "123456"}),
        )
    },
    ("GET", "/api/v1/me"): Case(everyone(200), fixed("/api/v1/me")),
    ("GET", "/api/v1/users"): Case(allow_if(SITE_ADMIN, 200), fixed("/api/v1/users")),
    ("POST", "/api/v1/users"): Case(
        allow_if(SITE_ADMIN, 201),
        lambda _w, _v: ("/api/v1/users", {"json": {"username": f"u{secrets.token_hex(4)}"}}),
    ),
    ("GET", "/api/v1/users/{username}"): Case(
        lambda actor, _v: 200 if actor in {"member", "siteadmin"} else 404,
        fixed("/api/v1/users/member-user"),
    ),
    ("GET", "/api/v1/tokens"): Case(allow_if(FULL_TOKENS, 200), fixed("/api/v1/tokens")),
    ("POST", "/api/v1/tokens"): Case(
        allow_if(FULL_TOKENS, 201), fixed("/api/v1/tokens", json={"scopes": ["read"]})
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Case(
        lambda actor, _v: 204 if actor in {"member", "siteadmin"} else 404, throwaway_token
    ),
    ("GET", "/api/v1/organisations"): Case(everyone(200), fixed("/api/v1/organisations")),
    ("POST", "/api/v1/organisations"): Case(
        allow_if(SITE_ADMIN, 201),
        lambda _w, _v: (
            "/api/v1/organisations",
            {"json": {"name": f"org-{secrets.token_hex(4)}", "title": "New"}},
        ),
    ),
    ("GET", "/api/v1/organisations/{name}"): Case(
        everyone(200), fixed(f"/api/v1/organisations/{OWNER}")
    ),
    ("PATCH", "/api/v1/organisations/{name}"): Case(
        allow_if(frozenset({"admin", "siteadmin"}), 200),
        fixed(f"/api/v1/organisations/{OWNER}", json={"title": "City"}),
    ),
    ("GET", "/api/v1/organisations/{name}/members"): Case(
        allow_if(OWNER_MEMBERS | SITE_ADMIN, 200), fixed(f"/api/v1/organisations/{OWNER}/members")
    ),
    ("PUT", "/api/v1/organisations/{name}/members/{username}"): Case(
        allow_if(ORG_ADMINS, 200),
        lambda w, _v: (
            f"/api/v1/organisations/{OWNER}/members/{throwaway_user(w)}",
            {"json": {"role": "editor"}},
        ),
    ),
    ("DELETE", "/api/v1/organisations/{name}/members/{username}"): Case(
        allow_if(ORG_ADMINS, 204),
        lambda w, _v: (f"/api/v1/organisations/{OWNER}/members/{throwaway_user(w)}", {}),
    ),
    ("GET", "/api/v1/datasets"): Case(everyone(200), fixed("/api/v1/datasets")),
    ("POST", "/api/v1/datasets"): Case(
        allow_if(EDITORS, 201),
        lambda _w, _v: (
            "/api/v1/datasets",
            {"json": {"name": f"new-{secrets.token_hex(4)}", "organisation": OWNER}},
        ),
    ),
    ("GET", "/api/v1/datasets/{name}"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_dataset(""), by_visibility=True
    ),
    ("PATCH", "/api/v1/datasets/{name}"): Case(
        dataset_rule(EDITORS, 200), on_dataset("", json={"title": "Renamed"}), by_visibility=True
    ),
    ("DELETE", "/api/v1/datasets/{name}"): Case(
        dataset_rule(ORG_ADMINS, 204), throwaway_dataset, by_visibility=True
    ),
    ("GET", "/api/v1/datasets/{name}/versions"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_dataset("/versions"), by_visibility=True
    ),
    ("GET", "/api/v1/datasets/{name}/versions/{number}"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_dataset("/versions/1"), by_visibility=True
    ),
    ("GET", "/api/v1/datasets/{name}/schema"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_dataset("/schema"), by_visibility=True
    ),
    ("GET", "/api/v1/datasets/{name}/datapackage.json"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_dataset("/datapackage.json"), by_visibility=True
    ),
    ("PUT", "/api/v1/datasets/{name}/data"): Case(
        dataset_rule(EDITORS, 201), on_dataset("/data", **CSV_UPLOAD), by_visibility=True
    ),
    ("GET", "/api/v1/datasets/{name}/rows"): Case(
        read_rule, on_dataset("/rows"), by_visibility=True
    ),
    ("GET", "/api/v1/organisations/{name}/devices"): Case(
        allow_if(OWNER_MEMBERS | SITE_ADMIN, 200), fixed(f"/api/v1/organisations/{OWNER}/devices")
    ),
    ("POST", "/api/v1/organisations/{name}/devices"): Case(allow_if(EDITORS, 201), new_device),
    ("GET", "/api/v1/devices/{uid}"): Case(
        device_rule(OWNER_MEMBERS | SITE_ADMIN, 200), on_station("")
    ),
    ("PATCH", "/api/v1/devices/{uid}"): Case(
        device_rule(EDITORS, 200), on_station("", json={"properties": {"mast": "A"}})
    ),
    ("POST", "/api/v1/devices/{uid}/keys"): Case(
        device_rule(EDITORS, 201),
        on_throwaway_device(
            "/keys", json={"public_key": keys.public_key_text(keys.generate_private_key())}
        ),
    ),
    ("DELETE", "/api/v1/devices/{uid}/keys/{key_id}"): Case(
        device_rule(EDITORS, 200), on_throwaway_device("/keys/{key_id}")
    ),
    ("POST", "/api/v1/devices/{uid}/revoke"): Case(
        device_rule(EDITORS, 200), on_throwaway_device("/revoke")
    ),
    ("POST", "/api/v1/devices/{uid}/mqtt-password"): Case(
        device_rule(EDITORS, 200), on_throwaway_device("/mqtt-password")
    ),
    ("GET", "/api/v1/datasets/{name}/streams"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_sensor_dataset("/streams"), by_visibility=True
    ),
    ("POST", "/api/v1/datasets/{name}/streams"): Case(
        dataset_rule(EDITORS, 201), new_stream, by_visibility=True
    ),
    ("GET", "/api/v1/datasets/{name}/latest"): Case(
        read_rule, on_sensor_dataset("/latest"), by_visibility=True
    ),
    ("GET", "/api/v1/streams/{stream_id}"): Case(
        dataset_rule(frozenset(ACTORS), 200), on_stream(""), by_visibility=True
    ),
    ("GET", "/api/v1/streams/{stream_id}/observations"): Case(
        read_rule, on_stream("/observations"), by_visibility=True
    ),
    ("POST", "/api/v1/ingest"): Case(everyone(201), signed_batch),
}


# --- Sharing: grants, access requests, access log and the audit export.
ORG_ADMIN_READERS = frozenset({"admin", "readonly", "siteadmin"})
IN_A_DAY = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def new_grant(world: World, visibility: str | None) -> tuple[str, dict[str, Any]]:
    """A grant body for a throwaway user (a grant to an actor of the matrix would change
    what it may see in later cases)."""
    body = {"user": throwaway_user(world, OTHER), "purpose": "matrix", "expires_at": IN_A_DAY}
    return f"/api/v1/datasets/{world.datasets[str(visibility)]}/grants", {"json": body}


def throwaway_grant(suffix: str, **kwargs: Any) -> Prepare:
    """A fresh grant to a throwaway user (no actor of the matrix holds it)."""

    def prepare(world: World, visibility: str | None) -> tuple[str, dict[str, Any]]:
        name = world.datasets[str(visibility)]
        grantee = throwaway_user(world, OTHER)
        spec = {
            "user": grantee,
            "purpose": "matrix",
            "expires_at": datetime.now(UTC) + timedelta(days=1),
        }
        created = grants.create_grant(world.site, console_actor(world.site, "admin"), name, spec)
        return f"/api/v1/datasets/{name}/grants/{created.id}{suffix}", dict(kwargs)

    return prepare


def throwaway_request(suffix: str, **kwargs: Any) -> Prepare:
    """A fresh pending access request by a throwaway user, stored directly (that user
    could not see a private dataset to ask through the API)."""

    def prepare(world: World, visibility: str | None) -> tuple[str, dict[str, Any]]:
        name = world.datasets[str(visibility)]
        requester = throwaway_user(world, OTHER)
        with world.site.writer.begin() as connection:
            dataset_id = connection.execute(
                select(datasets.c.id).where(datasets.c.name == name)
            ).scalar_one()
            user_id = connection.execute(
                select(users_table.c.id).where(users_table.c.username == requester)
            ).scalar_one()
            request_id = inserted_id(
                connection.execute(
                    access_requests.insert().values(
                        dataset_id=dataset_id,
                        requester_id=user_id,
                        purpose="matrix",
                        status="pending",
                        reason="",
                        created_at=datetime.now(UTC).replace(tzinfo=None),
                    )
                )
            )
        return f"/api/v1/datasets/{name}/access-requests/{request_id}{suffix}", dict(kwargs)

    return prepare


def request_rule(actor: str, visibility: str | None) -> int:
    """Asking for access: signed-in non-members who see the dataset, with a write scope."""
    if not sees(actor, visibility):
        return 404
    if actor == "anonymous":
        return 401
    if actor == "readonly":
        return 403
    return 409 if actor in OWNER_MEMBERS else 201


def withdraw_rule(actor: str, visibility: str | None) -> int:
    """Only the requester withdraws, which takes the right to ask: anonymous visitors sign
    in first (401), admins see the request (403), others do not (404)."""
    if actor == "anonymous" and sees(actor, visibility):
        return 401
    return 403 if sees(actor, visibility) and actor in ORG_ADMIN_READERS else 404


def own_only(allowed: frozenset[str], ok: int) -> Expect:
    """404 for anyone but ``allowed`` (who get ``ok``): a thing only some may even see."""
    return lambda actor, v: ok if sees(actor, v) and actor in allowed else 404


ROUTES.update(
    {
        ("GET", "/api/v1/datasets/{name}/grants"): Case(
            dataset_rule(frozenset(ACTORS), 200), on_dataset("/grants"), by_visibility=True
        ),
        ("POST", "/api/v1/datasets/{name}/grants"): Case(
            dataset_rule(ORG_ADMINS, 201), new_grant, by_visibility=True
        ),
        ("GET", "/api/v1/datasets/{name}/grants/{grant_id}"): Case(
            own_only(ORG_ADMIN_READERS, 200), throwaway_grant(""), by_visibility=True
        ),
        ("PATCH", "/api/v1/datasets/{name}/grants/{grant_id}"): Case(
            dataset_rule(ORG_ADMINS, 200),
            throwaway_grant("", json={"purpose": "changed"}),
            by_visibility=True,
        ),
        ("DELETE", "/api/v1/datasets/{name}/grants/{grant_id}"): Case(
            dataset_rule(ORG_ADMINS, 200), throwaway_grant(""), by_visibility=True
        ),
        ("GET", "/api/v1/datasets/{name}/access-requests"): Case(
            dataset_rule(frozenset(ACTORS), 200),
            on_dataset("/access-requests"),
            by_visibility=True,
        ),
        ("POST", "/api/v1/datasets/{name}/access-requests"): Case(
            request_rule,
            on_dataset("/access-requests", json={"purpose": "a study of traffic"}),
            by_visibility=True,
        ),
        ("GET", "/api/v1/datasets/{name}/access-requests/{request_id}"): Case(
            own_only(ORG_ADMIN_READERS, 200), throwaway_request(""), by_visibility=True
        ),
        ("POST", "/api/v1/datasets/{name}/access-requests/{request_id}/approve"): Case(
            dataset_rule(ORG_ADMINS, 200),
            throwaway_request("/approve", json={"expires_at": IN_A_DAY}),
            by_visibility=True,
        ),
        ("POST", "/api/v1/datasets/{name}/access-requests/{request_id}/decline"): Case(
            dataset_rule(ORG_ADMINS, 200),
            throwaway_request("/decline", json={"reason": "not now"}),
            by_visibility=True,
        ),
        ("DELETE", "/api/v1/datasets/{name}/access-requests/{request_id}"): Case(
            withdraw_rule,
            throwaway_request(""),
            by_visibility=True,
        ),
        ("GET", "/api/v1/me/access-requests"): Case(
            everyone(200), fixed("/api/v1/me/access-requests")
        ),
        ("GET", "/api/v1/datasets/{name}/access-log"): Case(
            dataset_rule(ORG_ADMIN_READERS, 200), on_dataset("/access-log"), by_visibility=True
        ),
        ("GET", "/api/v1/audit/export"): Case(
            allow_if(SITE_ADMIN, 200), fixed("/api/v1/audit/export")
        ),
        ("GET", "/api/v1/sql"): Case(
            read_rule,
            lambda w, v: (
                "/api/v1/sql",
                {"params": {"q": f'SELECT count(*) FROM "{w.datasets[str(v)]}"'}},  # noqa: S608
            ),
            by_visibility=True,
        ),
    }
)


# --- DCAT-AP at the site root: the catalogue lists what each actor may see (open to all);
# a dataset's document follows the dataset's visibility.
ROUTES.update(
    {
        **{
            ("GET", path): Case(everyone(200), fixed(path))
            for path in ("/catalog", "/catalog.ttl", "/catalog.jsonld", "/catalog.rdf")
        },
        **{
            ("GET", f"/datasets/{{name}}{suffix}"): Case(
                dataset_rule(frozenset(ACTORS), 200),
                lambda w, v, suffix=suffix: (f"/datasets/{w.datasets[str(v)]}{suffix}", {}),
                by_visibility=True,
            )
            for suffix in ("", ".ttl", ".jsonld", ".rdf")
        },
    }
)


# --- The CKAN Action API: one route per prefix for every action, answered in CKAN's
# envelope (not problem+json); status_show is open to all. Every action × actor ×
# visibility is checked in tests/api/test_ckan_access.py.
ROUTES.update(
    {
        (method, f"{prefix}/{{action}}"): Case(
            everyone(200),
            fixed(f"{prefix}/status_show", **({"json": {}} if method == "POST" else {})),
        )
        for prefix in ("/api/3/action", "/api/action")
        for method in ("GET", "POST")
    }
)


# Forms that change something: without the form's CSRF token, refused (403) before anything
# is looked up, whoever asks (tests/web checks each with its token).
WEB_FORMS = (
    "/dataset/{name}/request-access",
    "/dataset/{name}/access-requests/{request_id}/approve",
    "/dataset/{name}/access-requests/{request_id}/decline",
    "/dataset/{name}/grants/{grant_id}/revoke",
    "/organisation/{name}/members",
    "/organisation/{name}/members/{username}/remove",
    "/account/tokens",
    "/account/tokens/{token_id}/revoke",
)

# --- The web catalogue's pages: a page shows what the API would (a hidden dataset is a 404
# page); its chart and map read data, as the query API does.
WEB_PAGES = frozenset(
    {
        "/",
        "/dataset/{name}",
        "/sign-in",
        "/sign-out",
        "/account",
        "/account/second-factor",
        "/account/second-factor/confirm",
        "/dataset/{name}/sharing",
        "/organisation/{name}",
        "/publish",
        "/publish/{staged_id}",
        *WEB_FORMS,
    }
)
ROUTES.update(
    {
        ("GET", "/"): Case(everyone(200), fixed("/?q=counts")),
        ("GET", "/dataset/{name}"): Case(
            dataset_rule(frozenset(ACTORS), 200),
            lambda w, v: (f"/dataset/{w.datasets[str(v)]}", {}),
            by_visibility=True,
        ),
        ("GET", "/dataset/{name}/chart.svg"): Case(
            read_rule,
            lambda w, v: (f"/dataset/{w.datasets[str(v)]}/chart.svg", {}),
            by_visibility=True,
        ),
        ("GET", "/dataset/{name}/latest.json"): Case(
            read_rule,
            lambda w, v: (f"/dataset/{w.sensor_datasets[str(v)]}/latest.json", {}),
            by_visibility=True,
        ),
        ("GET", "/dataset/{name}/map.svg"): Case(
            read_rule,
            lambda w, v: (f"/dataset/{w.sensor_datasets[str(v)]}/map.svg", {}),
            by_visibility=True,
        ),
        # Signing in and the second factor take passwords, not tokens: anyone may try. A
        # form without its CSRF token is refused (403); one that is not a form, 415. The
        # account page sends anonymous visitors to the sign-in page (followed here: 200).
        ("GET", "/sign-in"): Case(everyone(200), fixed("/sign-in")),
        ("GET", "/account"): Case(everyone(200), fixed("/account")),
        ("GET", "/account/second-factor"): Case(everyone(200), fixed("/account/second-factor")),
        ("POST", "/sign-out"): Case(everyone(403), fixed("/sign-out", data={"csrf": "x"})),
        ("GET", "/organisation/{name}"): Case(everyone(200), fixed(f"/organisation/{OWNER}")),
        # Publishing: the form for anyone signed in (anonymous visitors are sent to sign in);
        # a staged upload is its uploader's only (none here: 404); forms without a CSRF
        # token or not multipart are refused before anything is read.
        ("GET", "/publish"): Case(everyone(200), fixed("/publish")),
        # An anonymous post is refused before its body is read (403: sign in first).
        ("POST", "/publish"): Case(
            lambda actor, _v: 403 if actor == "anonymous" else 400,
            fixed("/publish", data={"csrf": "x"}),
        ),
        ("GET", "/publish/{staged_id}"): Case(everyone(404), fixed("/publish/" + "a" * 32)),
        ("POST", "/publish/{staged_id}"): Case(
            everyone(403), fixed("/publish/" + "a" * 32, data={"csrf": "x"})
        ),
        ("GET", "/dataset/{name}/sharing"): Case(
            dataset_rule(ORG_ADMIN_READERS, 200),
            lambda w, v: (f"/dataset/{w.datasets[str(v)]}/sharing", {}),
            by_visibility=True,
        ),
        **{
            ("POST", path): Case(
                everyone(403),
                lambda w, v, path=path: (
                    path.replace("{name}", w.datasets["shared"])
                    .replace("{request_id}", "1")
                    .replace("{grant_id}", "1")
                    .replace("{token_id}", "1")
                    .replace("{username}", "member-user"),
                    {"data": {"csrf": "x", "purpose": "p", "reason": "r"}},
                ),
            )
            for path in WEB_FORMS
        },
        # A browser's form sent as JSON: 415. The CSRF cookie is sent explicitly, so the
        # answer does not depend on whether an earlier case left one in the shared client
        # (without it the form is refused, 403, before its body is read).
        **{
            ("POST", path): Case(
                everyone(415), fixed(path, json={}, headers={"cookie": BROWSER_COOKIE})
            )
            for path in ("/sign-in", "/account/second-factor", "/account/second-factor/confirm")
        },
    }
)


def _cases() -> Iterator[Any]:
    for (method, path), case in ROUTES.items():
        for visibility in VISIBILITIES if case.by_visibility else (None,):
            for actor in ACTORS:
                label = f"{method} {path} {actor}" + (f" {visibility}" if visibility else "")
                yield pytest.param(method, path, actor, visibility, id=label)


@pytest.fixture(scope="module", params=ENGINES)
def matrix(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str | None,
) -> Iterator[tuple[World, TestClient]]:
    """One populated site per engine, shared by the matrix cases."""
    folder: Path = tmp_path_factory.mktemp("matrix")
    with populated_client(request.param, folder, postgres_database) as populated:
        yield populated


@pytest.fixture(scope="module")
def document(matrix: tuple[World, TestClient]) -> BaseSchema:
    """The app's OpenAPI document, which every answer of the matrix must keep to."""
    return openapi_schema(matrix[1])


@pytest.mark.parametrize(("method", "path", "actor", "visibility"), list(_cases()))
def test_access(
    matrix: tuple[World, TestClient],
    document: BaseSchema,
    method: str,
    path: str,
    actor: str,
    visibility: str | None,
) -> None:
    world, client = matrix
    case = ROUTES[(method, path)]
    url, kwargs = case.prepare(world, visibility)
    headers = {**kwargs.pop("headers", {}), **world.headers(actor)}
    response = client.request(method, url, headers=headers, **kwargs)
    expected = case.expect(actor, visibility)
    assert response.status_code == expected, response.text
    if expected >= 400 and path in WEB_PAGES:
        assert response.headers["content-type"].startswith("text/html")
    elif expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == expected
    if documented(document, method, path):
        assert_conforms(document, method, path, response)


@pytest.mark.parametrize("actor", ACTORS)
def test_lists_show_only_visible_datasets(matrix: tuple[World, TestClient], actor: str) -> None:
    world, client = matrix
    listed = client.get("/api/v1/datasets?limit=1000", headers=world.headers(actor)).json()
    names = {item["name"] for item in listed["datasets"]}
    for visibility, name in world.datasets.items():
        assert (name in names) == sees(actor, visibility), (visibility, names)


def test_every_route_is_in_the_matrix(matrix: tuple[World, TestClient]) -> None:
    _world, client = matrix
    app_routes = {
        (method, context.path)
        for context in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        for method in context.methods or ()
        if method != "HEAD"
    }
    assert len(app_routes) > 20
    assert app_routes - set(ROUTES) == set(), "routes missing from the access matrix"
    assert set(ROUTES) - app_routes == set(), "matrix rows for routes that no longer exist"
