"""Hardening of every response and request: JSON nesting depth, security headers, CORS."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from cityshare import keys
from cityshare.app import create_app
from cityshare.catalogue import datasets
from cityshare.config import Settings
from cityshare.http.edge import host_warning
from cityshare.http.jsondepth import nesting_exceeds
from cityshare.http.middleware import has_query_token
from cityshare.runtime import Runtime, open_site
from cityshare.site import Site
from cityshare.tables.jsonsource import json_depth
from tests.world import World

EVIL = "https://evil.example"
MAPS = "https://maps.northbridge.example"


def nested(depth: int) -> Any:
    """A value nesting objects and arrays ``depth`` levels deep."""
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# --- nesting depth: the scan -----------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 2, 31, 32, 33, 64, 500])
def test_the_scan_agrees_with_the_parsed_depth(depth: int) -> None:
    body = json.dumps({"properties": nested(depth)}).encode()
    assert nesting_exceeds(body, 32) == (1 + depth > 32)


def test_the_scan_agrees_on_random_documents() -> None:
    generator = random.Random(7)

    def make(level: int) -> str:
        # Mostly one child, so documents stay small but reach every depth up to 40.
        if level >= 40 or generator.random() < 0.05:
            return generator.choice(['"[{"', "1", '"\\"]"', "null", "[]", "{}"])
        width = 2 if generator.random() < 0.1 else 1
        items = [make(level + 1) for _ in range(width)]
        if generator.random() < 0.5:
            return "[" + ",".join(items) + "]"
        return "{" + ",".join(f'"k{i}":{item}' for i, item in enumerate(items)) + "}"

    for _ in range(300):
        text = make(0)
        depth = json_depth(json.loads(text))
        for limit in (1, 5, 10, 32):
            assert nesting_exceeds(text.encode(), limit) == (depth > limit), text


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (b'{"name": "' + b"[" * 5000 + b'"}', False),  # brackets in a string do not count
        (b'{"name": "\\"' + b"[" * 5000 + b'"}', False),  # nor after an escaped quote
        (b"[" * 100_000 + b"]" * 100_000, True),
        (b"[" * 100_000, True),  # unbalanced and deep
        (b"{" * 33 + b"}" * 33, True),  # malformed, and deep anyway
        (b"[]" * 200_000, False),  # many brackets, shallow
        (b"[" + b"[]," * 100 + b"[]]", False),
    ],
)
def test_the_scan_on_hostile_bodies(body: bytes, deep: bool) -> None:
    assert nesting_exceeds(body, 32) is deep


# --- nesting depth: over HTTP ----------------------------------------------------------


def register(client: TestClient, world: World, properties: Any) -> httpx.Response:
    """Register a device with free-form ``properties``; its body nests 2 levels more."""
    key = keys.public_key_text(keys.generate_private_key())
    return client.post(
        "/api/v1/organisations/city/devices",
        json={"name": "probe", "public_key": key, "properties": {"p": properties}},
        headers=world.headers("admin"),
    )


def test_a_body_nested_too_deep_is_a_clear_400(world: World, client: TestClient) -> None:
    response = register(client, world, nested(31))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert "nested deeper than 32" in problem["detail"] and problem["limit"] == 32
    accepted = register(client, world, nested(30))  # 32 levels in all: the limit
    assert accepted.status_code == 201, accepted.text


def test_a_hundred_thousand_brackets_are_a_400_not_a_500(world: World, client: TestClient) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 100_000):
        response = client.post(
            "/api/v1/datasets",
            content=body,
            headers={**world.headers("editor"), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text[:200]
        assert "nested deeper" in response.json()["detail"]


def test_json_without_a_content_type_is_checked_too(world: World, client: TestClient) -> None:
    response = client.post(
        "/api/v1/datasets", content=b"[" * 50 + b"]" * 50, headers=world.headers("editor")
    )
    assert response.status_code == 400 and "nested deeper" in response.json()["detail"]


def test_a_deep_body_of_anonymous_requests_is_refused_before_access(client: TestClient) -> None:
    response = client.post(
        "/api/v1/users", content=b"[" * 1000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


# --- security headers ------------------------------------------------------------------


def assert_secured(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", response.status_code
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["cross-origin-resource-policy"] == "same-origin"


def limited_client(database_url: str, folder: Path, **settings: Any) -> tuple[Site, TestClient]:
    site = open_site(
        Settings(data_dir=folder, database_url=database_url, secret_key="k", **settings)
    )
    return site, TestClient(create_app(Runtime(site)), raise_server_exceptions=False)


@pytest.fixture
def throttled(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A client of a site allowing one anonymous request per address."""
    site, client = limited_client(
        database_url, tmp_path, rate_limit_address_per_second=0.01, rate_limit_address_burst=1
    )
    with client:
        yield client
    site.close()


def test_security_headers_on_every_kind_of_answer(
    world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses = {
        200: client.get("/api/v1"),
        401: client.get("/api/v1/me", headers={"Authorization": "Bearer cs_wrong"}),
        404: client.get("/api/v1/nothing-here"),
        405: client.delete("/api/v1/organisations"),
        413: client.post(
            "/api/v1/datasets",
            content=b"{" + b" " * (2 * 1024**2) + b"}",
            headers={"Content-Type": "application/json"},
        ),
        400: client.post("/api/v1/datasets", content=b"[" * 100, headers=world.headers("editor")),
    }

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(datasets, "describe", explode)
    responses[500] = client.get("/api/v1/datasets/open-counts")
    for status, response in responses.items():
        assert response.status_code == status
        assert_secured(response)
        assert "strict-transport-security" not in response.headers  # plain HTTP


def test_security_headers_on_a_429(throttled: TestClient) -> None:
    throttled.get("/api/v1")
    response = throttled.get("/api/v1")
    assert response.status_code == 429
    assert_secured(response)


def test_hsts_only_over_https(world: World) -> None:
    app = create_app(world.runtime)
    with TestClient(app, base_url="https://data.example", raise_server_exceptions=False) as https:
        ok, missing = https.get("/api/v1"), https.get("/api/v1/nothing-here")
    for response in (ok, missing):
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert_secured(response)


def test_hsts_behind_a_trusted_proxy(database_url: str, tmp_path: Path) -> None:
    site, client = limited_client(database_url, tmp_path, trusted_proxies="testclient")
    with client:
        proxied = client.get("/api/v1", headers={"X-Forwarded-Proto": "https"})
        plain = client.get("/api/v1", headers={"X-Forwarded-Proto": "http"})
    site.close()
    assert "strict-transport-security" in proxied.headers
    assert "strict-transport-security" not in plain.headers


# --- CORS ------------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options(
        "/api/v1/datasets",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_no_cors_unless_configured(world: World, client: TestClient) -> None:
    response = preflight(client, EVIL)
    assert "access-control-allow-origin" not in response.headers
    simple = client.get("/api/v1", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_for_the_configured_origins_only(database_url: str, tmp_path: Path) -> None:
    site, client = limited_client(database_url, tmp_path, cors_origins=f"{MAPS}, https://b.example")
    with client:
        allowed = preflight(client, MAPS)
        refused = preflight(client, EVIL)
        simple = client.get("/api/v1", headers={"Origin": MAPS})
        other = client.get("/api/v1", headers={"Origin": EVIL})
    site.close()
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == MAPS
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert_secured(allowed)
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == MAPS
    assert "retry-after" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    "origins", ["https://maps.example/", "maps.example", "https://maps.example/path", "null"]
)
def test_cors_origins_must_be_origins(origins: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=origins)


def test_cors_origins_accepts_ports_and_a_wildcard() -> None:
    Settings(cors_origins="http://localhost:5173, https://[2001:db8::1]:8443, *")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/{name}",
        "/api/v1/datasets/{name}/rows",
        "/api/v1/datasets/{name}/schema",
        "/api/v1/datasets/{name}/versions",
        "/api/v1/datasets/{name}/datapackage.json",
    ],
)
def test_a_private_dataset_is_answered_exactly_as_a_missing_one(
    world: World, client: TestClient, path: str
) -> None:
    """Nothing in a 404 (status, title, detail) tells an outsider a private dataset exists."""
    hidden = client.get(path.format(name="private-counts"), headers=world.headers("outsider"))
    missing = client.get(path.format(name="private-countz"), headers=world.headers("outsider"))
    assert hidden.status_code == missing.status_code == 404
    shown, absent = hidden.json(), missing.json()
    for body in (shown, absent):
        body.pop("instance", None)
    assert shown["detail"] == absent["detail"].replace("private-countz", "private-counts")
    assert {**shown, "detail": ""} == {**absent, "detail": ""}


def test_a_private_stream_is_answered_exactly_as_a_missing_one(
    world: World, client: TestClient
) -> None:
    stream = world.streams["private"]
    hidden = client.get(f"/api/v1/streams/{stream}", headers=world.headers("outsider"))
    missing = client.get("/api/v1/streams/987654", headers=world.headers("outsider"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("987654", str(stream))


# --- tokens in the query string (issue 16, finding 12) ------------------------------


@pytest.mark.parametrize(
    "query",
    [b"token=x", b"tok%65n=x", b"TOK%45N=x", b"access%5Ftoken=x", b"access%5ftoken=x",
     b"%61pi_key=x", b"api%2Dkey=x", b"token+=x", b"+Access_Token=x", b"a=1&%41PIKEY=x",
     b"auth%5Ftoken=x"],
)  # fmt: skip
def test_a_token_name_is_recognised_however_encoded(query: bytes) -> None:
    assert has_query_token(query)


@pytest.mark.parametrize(
    "query", [b"", b"_size=10", b"q=token", b"note=%74oken", b"q=a%20b", b"tokens=1", b"%"]
)
def test_other_query_strings_are_no_tokens(query: bytes) -> None:
    assert not has_query_token(query)


def test_an_encoded_token_name_is_refused(world: World, client: TestClient) -> None:
    secret = world.tokens["member"]
    for name in ("tok%65n", "access%5Ftoken", "%61pi_key", "API%2DKEY"):
        response = client.get(f"/api/v1/datasets?{name}={secret}")
        assert response.status_code == 400, name
        assert secret not in response.text


# --- body limits follow the actor (issue 16, finding 5) ------------------------------


def test_only_the_signed_in_get_the_upload_limit(world: World, client: TestClient) -> None:
    big = {"Content-Length": str(2 * 1024**2), "Content-Type": "text/csv"}
    path = f"/api/v1/datasets/{world.datasets['open']}/data"
    anonymous = client.put(path, content=b"x" * (2 * 1024**2), headers=big)
    assert anonymous.status_code == 413
    editor = client.put(
        path,
        content=b"a,b\n" + b"1,2\n" * (2 * 1024**2 // 4 - 1),
        headers={**world.headers("editor"), **big},
    )
    assert editor.status_code != 413
    form = client.post(
        "/publish", content=b"x" * (2 * 1024**2), headers={"Content-Type": "multipart/form-data"}
    )
    assert form.status_code == 413


# --- the site's own address and cache policy (issue 16, finding 11) ------------------


def test_the_base_url_names_every_absolute_url(database_url: str, tmp_path: Path) -> None:
    site, client = limited_client(
        database_url, tmp_path, base_url="https://data.example.org/", allowed_hosts="testserver"
    )
    with client:
        refused = client.get("/catalog.ttl", headers={"Host": "evil.example"})
        catalogue = client.get("/catalog.ttl")
        status = client.get("/api/3/action/status_show")
    site.close()
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert_secured(refused)
    assert "https://data.example.org/" in catalogue.text and "testserver" not in catalogue.text
    assert status.json()["result"]["site_url"] == "https://data.example.org"
    assert "strict-transport-security" in catalogue.headers


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("data.example.org", True), ("DATA.example.org:8443", True), ("a.maps.example", True),
     ("maps.example", False), ("evil.example", False), ("data.example.org.evil", False),
     ("[::1]:8000", True), ("", False)],
)  # fmt: skip
def test_allowed_hosts(database_url: str, tmp_path: Path, host: str, allowed: bool) -> None:
    site, client = limited_client(
        database_url, tmp_path, allowed_hosts="data.example.org, *.maps.example, ::1"
    )
    with client:
        answer = client.get("/api/v1", headers={"Host": host})
    site.close()
    assert (answer.status_code == 200) is allowed


def test_the_base_url_must_be_a_site_url() -> None:
    for wrong in ("data.example.org", "https://data.example.org/catalogue", "ftp://x"):
        with pytest.raises(ValidationError):
            Settings(base_url=wrong)


def test_a_warning_while_the_site_does_not_know_its_address() -> None:
    assert "CITYSHARE_BASE_URL" in (host_warning(Settings()) or "")
    assert host_warning(Settings(base_url="https://data.example.org")) is None
    assert host_warning(Settings(allowed_hosts="data.example.org")) is None


def test_anonymous_public_answers_may_be_cached_a_minute(world: World, client: TestClient) -> None:
    path = f"/api/v1/datasets/{world.datasets['open']}"
    assert client.get(path).headers["cache-control"] == "public, max-age=60"
    assert client.get(path, headers=world.headers("member")).headers["cache-control"] == "no-store"
    cookie = client.get(path, headers={"Cookie": "cityshare_session=x"})
    assert cookie.headers["cache-control"] == "no-store"
    assert client.get("/api/v1/nothing-here").headers["cache-control"] == "no-store"
    page = client.get("/sign-in")  # sets the CSRF cookie
    assert page.headers["cache-control"] == "no-store"
    assert "Cookie" in client.get(path).headers["vary"]
