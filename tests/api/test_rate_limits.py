"""Rate limits over HTTP: per token, per client address, and on password sign-in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from cityshare.accounts import users
from cityshare.accounts.console import console_actor
from cityshare.app import create_app
from cityshare.config import Settings
from cityshare.runtime import open_site
from cityshare.site import Site
from tests.world import World, build_world

ROWS = "/api/v1/datasets/open-counts/rows"
SIGN_IN = "/api/v1/auth/token"


def limited_site(database_url: str, folder: Path, **limits: Any) -> Site:
    """A Site on a fresh store whose rate limits are ``limits``."""
    settings = Settings(
        data_dir=folder, database_url=database_url, secret_key="test-secret-key", **limits
    )
    return open_site(settings)


@pytest.fixture
def world_with(database_url: str, tmp_path: Path) -> Iterator[Any]:
    """Build a populated site with the given limits: ``world_with(rate_limit_…=…)``."""
    opened: list[Site] = []

    def build(**limits: Any) -> World:
        site = limited_site(database_url, tmp_path, **limits)
        opened.append(site)
        return build_world(site, tmp_path)

    yield build
    for site in opened:
        site.close()


def app_client(world: World, address: str = "198.51.100.20") -> TestClient:
    """A client of ``world``'s app, connecting from ``address``."""
    return TestClient(create_app(world.runtime), raise_server_exceptions=False, client=(address, 1))


def assert_throttled(response: httpx.Response) -> None:
    """A 429 problem with a usable Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 429 and problem["type"].endswith("/too-many-requests")
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"


# --- per token -------------------------------------------------------------------------


def test_one_token_is_throttled_while_another_is_not(world_with: Any) -> None:
    world = world_with(rate_limit_token_per_second=20, rate_limit_token_burst=20)
    statuses: dict[str, list[int]] = {"member": [], "editor": []}

    def send(kind: str, count: int, pause: float) -> None:
        for _ in range(count):
            response = http.get(ROWS, headers=world.headers(kind))
            statuses[kind].append(response.status_code)
            if response.status_code == 429:
                assert_throttled(response)
            time.sleep(pause)

    with app_client(world) as http:
        started = time.monotonic()
        threads = [threading.Thread(target=send, args=("member", 250, 0)) for _ in range(4)]
        threads.append(threading.Thread(target=send, args=("editor", 15, 0.05)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    member = statuses["member"]
    assert len(member) == 1000 and member[:20] == [200] * 20  # the burst
    allowed = member.count(200)
    assert allowed <= 20 + 20 * elapsed + 1  # then no more than the rate
    assert member.count(429) >= 1000 - allowed and set(member) == {200, 429}
    assert statuses["editor"] == [200] * 15  # the other token never noticed


def test_the_limit_headers_count_down(world_with: Any) -> None:
    world = world_with(rate_limit_token_per_second=0.01, rate_limit_token_burst=3)
    with app_client(world) as http:
        responses = [http.get("/api/v1/me", headers=world.headers("member")) for _ in range(4)]
    assert [r.headers.get("ratelimit-remaining") for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["ratelimit-limit"] for r in responses} == {"3"}
    assert_throttled(responses[3])
    assert 98 <= int(responses[3].headers["retry-after"]) <= 100  # a token per 100 s


def test_token_requests_do_not_spend_the_address_budget(world_with: Any) -> None:
    world = world_with(rate_limit_address_per_second=0.01, rate_limit_address_burst=2)
    with app_client(world) as http:
        signed_in = [http.get(ROWS, headers=world.headers("member")) for _ in range(10)]
        anonymous = [http.get(ROWS) for _ in range(3)]
    assert [r.status_code for r in signed_in] == [200] * 10
    assert [r.status_code for r in anonymous] == [200, 200, 429]


def test_a_rate_of_zero_switches_a_limit_off(world_with: Any) -> None:
    world = world_with(rate_limit_token_per_second=0, rate_limit_token_burst=1)
    with app_client(world) as http:
        responses = [http.get("/api/v1/me", headers=world.headers("member")) for _ in range(30)]
    assert {r.status_code for r in responses} == {200}
    assert "ratelimit-limit" not in responses[0].headers


# --- per address -----------------------------------------------------------------------


def test_anonymous_requests_are_limited_per_address(world_with: Any) -> None:
    world = world_with(rate_limit_address_per_second=0.01, rate_limit_address_burst=5)
    app = create_app(world.runtime)
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.5", 1)) as first:
        mine = [first.get(ROWS).status_code for _ in range(8)]
        throttled = first.get("/api/v1/organisations")  # every route, the hot paths too
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.6", 1)) as second:
        theirs = [second.get(ROWS).status_code for _ in range(5)]
    assert mine == [200] * 5 + [429] * 3
    assert_throttled(throttled)
    assert "your address" in throttled.json()["detail"]
    assert theirs == [200] * 5


def test_an_ipv6_host_is_limited_by_its_64_network(world_with: Any) -> None:
    world = world_with(rate_limit_address_per_second=0.01, rate_limit_address_burst=2)
    app = create_app(world.runtime)
    statuses = []
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:3::1"):
        with TestClient(app, raise_server_exceptions=False, client=(host, 1)) as http:
            statuses.append([http.get(ROWS).status_code for _ in range(2)])
    assert statuses == [[200, 200], [429, 429], [200, 200]]


def test_exempt_addresses_are_not_limited(world_with: Any) -> None:
    world = world_with(
        rate_limit_address_per_second=0.01,
        rate_limit_address_burst=1,
        rate_limit_exempt="127.0.0.1, ::1, 10.1.0.0/16",
    )
    app = create_app(world.runtime)
    for host in ("127.0.0.1", "10.1.200.3"):
        with TestClient(app, raise_server_exceptions=False, client=(host, 1)) as http:
            assert {http.get(ROWS).status_code for _ in range(10)} == {200}
    with TestClient(app, raise_server_exceptions=False, client=("10.2.0.1", 1)) as http:
        assert [http.get(ROWS).status_code for _ in range(2)] == [200, 429]


def test_behind_a_trusted_proxy_the_forwarded_address_counts(world_with: Any) -> None:
    world = world_with(
        rate_limit_address_per_second=0.01,
        rate_limit_address_burst=1,
        trusted_proxies="192.0.2.1",
    )
    with app_client(world, address="192.0.2.1") as proxy:
        alice = [proxy.get(ROWS, headers={"X-Forwarded-For": "203.0.113.1"}) for _ in range(2)]
        bob = proxy.get(ROWS, headers={"X-Forwarded-For": "203.0.113.2"})
    with app_client(world, address="203.0.113.50") as direct:
        # Not a trusted proxy: its X-Forwarded-For is ignored, its own address counts.
        forged = [direct.get(ROWS, headers={"X-Forwarded-For": f"10.9.9.{n}"}) for n in range(2)]
    assert [r.status_code for r in alice] == [200, 429]
    assert bob.status_code == 200
    assert [r.status_code for r in forged] == [200, 429]


# --- password sign-in ------------------------------------------------------------------


def test_sign_in_is_throttled_per_address(world_with: Any) -> None:
    world = world_with(rate_limit_sign_in_per_minute=5, rate_limit_sign_in_burst=3)
    users.create_user(
        world.site, console_actor(world.site, "admin"), username="dana", password="correct horse 1"
    )
    wrong = {"username": "dana", "password": "not her password"}
    right = {"username": "dana", "password": "correct horse 1"}
    app = create_app(world.runtime)
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.7", 1)) as guesser:
        guesses = [guesser.post(SIGN_IN, json=wrong) for _ in range(3)]
        blocked = guesser.post(SIGN_IN, json=right)
        # Every route that checks a password shares the address's sign-in bucket.
        enrol = guesser.post("/api/v1/auth/second-factor/setup", json=wrong)
        # Other routes from that address, and tokens, are not held back.
        other = guesser.get(ROWS)
        with_token = guesser.post(SIGN_IN, json=right, headers=world.headers("member"))
    users.create_user(
        world.site, console_actor(world.site, "admin"), username="erin", password="correct horse 2"
    )
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.8", 1)) as elsewhere:
        # From another address: the account guessed at is held back too, no other is.
        dana_elsewhere = elsewhere.post(SIGN_IN, json=right)
        allowed = elsewhere.post(SIGN_IN, json={"username": "erin", "password": "correct horse 2"})
    assert [r.status_code for r in guesses] == [401, 401, 401]
    assert_throttled(blocked)
    assert_throttled(enrol)
    assert 6 <= int(blocked.headers["retry-after"]) <= 12  # a sign-in refills every 12 s
    assert "sign-ins" in blocked.json()["detail"]
    assert other.status_code == 200
    assert with_token.status_code == 429  # the sign-in bucket is the address's, whoever asks
    assert dana_elsewhere.status_code == 429 and int(dana_elsewhere.headers["retry-after"]) >= 1
    assert "this account" in dana_elsewhere.json()["detail"]
    assert allowed.status_code == 201, allowed.text


def test_the_sign_in_throttle_is_on_by_default() -> None:
    settings = Settings()
    assert settings.rate_limit_sign_in_per_minute > 0
    assert settings.rate_limit_token_per_second > 0
    assert settings.rate_limit_address_per_second > 0


# --- when Redis is down ----------------------------------------------------------------


def test_unreachable_redis_keeps_limiting_per_process(
    world_with: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world = world_with(
        redis_url="redis://127.0.0.1:1/0",
        rate_limit_token_per_second=0.01,
        rate_limit_token_burst=2,
    )
    with caplog.at_level(logging.WARNING, logger="cityshare.ratelimit"), app_client(world) as http:
        statuses = [http.get("/api/v1/me", headers=world.headers("member")).status_code]
        statuses += [http.get("/api/v1/me", headers=world.headers("member")).status_code]
        statuses += [http.get("/api/v1/me", headers=world.headers("member")).status_code]
    assert statuses == [200, 200, 429]
    assert any("unreachable" in record.getMessage() for record in caplog.records)


# --- failed authentication (issue 16, finding 6) ---------------------------------------


def test_failed_authentications_are_throttled_per_address_before_the_token_is_checked(
    world_with: Any,
) -> None:
    world = world_with(rate_limit_sign_in_per_minute=1, rate_limit_sign_in_burst=3)
    bad = {"Authorization": "Bearer cs_wrong"}
    with app_client(world) as guesser, app_client(world, "198.51.100.99") as other:
        assert [guesser.get("/api/v1/me", headers=bad).status_code for _ in range(3)] == [401] * 3
        refused = guesser.get("/api/v1/me", headers=bad)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        # A right token from the throttled address waits too: no guess is checked.
        right = guesser.get("/api/v1/me", headers=world.headers("member"))
        assert right.status_code == 429
        assert guesser.get("/api/v1/datasets").status_code == 200  # no credentials
        assert other.get("/api/v1/me", headers=world.headers("member")).status_code == 200
        assert other.get("/api/v1/me", headers=bad).status_code == 401
        ckan = guesser.get("/api/3/action/status_show", headers={"X-CKAN-API-Key": "x"})
        assert ckan.status_code == 429


def test_exempt_addresses_are_not_throttled_for_failures(world_with: Any) -> None:
    world = world_with(rate_limit_sign_in_per_minute=1, rate_limit_sign_in_burst=1)
    with app_client(world, "127.0.0.1") as local:
        statuses = {local.get("/api/v1/me", headers={"Authorization": "Bearer x"}).status_code
                    for _ in range(5)}  # fmt: skip
    assert statuses == {401}
