"""Signing in and out in the browser: sessions, CSRF, the second factor, and the rule that
a session cookie never authenticates the API."""

from __future__ import annotations

import re
from pathlib import Path

from httpx2 import Response
from starlette.testclient import TestClient

from cityshare.http.session import CSRF_COOKIE, SESSION_COOKIE
from cityshare.site import Site
from tests.api.test_second_factor import PASSWORD, add_user, code_after, step_now, totp_code
from tests.world import World, make_site

CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(client: TestClient, path: str = "/sign-in") -> str:
    """The CSRF token of the form on ``path`` (which also sets the browser's nonce)."""
    found = CSRF_FIELD.search(client.get(path).text)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient, username: str, code: str = "", **extra: str) -> Response:
    form = {"csrf": csrf_of(client), "username": username, "password": PASSWORD, "code": code}
    return client.post("/sign-in", data={**form, **extra}, follow_redirects=False)


def set_cookie_headers(response: Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_signing_in_starts_a_session_that_shows_what_the_user_may_see(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    assert "shared-counts" not in browser_client.get("/").text
    answer = sign_in(browser_client, "reader", next="/account")
    assert answer.status_code == 303 and answer.headers["location"] == "/account"
    cookie = next(h for h in set_cookie_headers(answer) if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "Max-Age=86400" in cookie
    home = browser_client.get("/").text
    assert "shared-counts" in home and 'href="/account">reader</a>' in home
    account = browser_client.get("/account").text
    assert "reader" in account and "city" in account and "member" in account


def cookie_attributes(response: Response, name: str) -> set[str]:
    """The attributes (``HttpOnly``, ``Secure``, ``Path=/``…) of the cookie ``name`` set."""
    header = next(h for h in set_cookie_headers(response) if h.startswith(f"{name}="))
    return {part.strip() for part in header.split(";")[1:]}


def test_the_session_cookie_is_secure_over_tls_and_only_there(
    world: World, site: Site, browser_client: TestClient
) -> None:
    from cityshare.app import create_app
    from cityshare.runtime import Runtime

    add_user(world.site, "reader", role="member")
    with TestClient(create_app(Runtime(site)), base_url="https://testserver") as tls:
        assert {"Secure", "HttpOnly"} <= cookie_attributes(tls.get("/sign-in"), CSRF_COOKIE)
        over_tls = sign_in(tls, "reader")
        assert over_tls.status_code == 303
        assert {"Secure", "HttpOnly"} <= cookie_attributes(over_tls, SESSION_COOKIE)
        assert 'href="/account">reader</a>' in tls.get("/").text  # the cookie comes back
    plain = sign_in(browser_client, "reader")
    assert plain.status_code == 303
    attributes = cookie_attributes(plain, SESSION_COOKIE)
    assert "HttpOnly" in attributes and "Secure" not in attributes


def test_the_csrf_cookie_is_strict_and_every_post_needs_the_token(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    page = browser_client.get("/sign-in")
    nonce = next(h for h in set_cookie_headers(page) if h.startswith(CSRF_COOKIE))
    assert "HttpOnly" in nonce and "SameSite=strict" in nonce
    form = {"username": "reader", "password": PASSWORD}
    for token in (None, "0" * 64, "nonsense"):
        data = form if token is None else {**form, "csrf": token}
        refused = browser_client.post("/sign-in", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
        assert not any(h.startswith(SESSION_COOKIE) for h in set_cookie_headers(refused))


def test_a_csrf_token_from_another_browser_is_refused(
    world: World, site: Site, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    from cityshare.app import create_app
    from cityshare.runtime import Runtime

    with TestClient(create_app(Runtime(site))) as other:
        stolen = csrf_of(other)
    form = {"csrf": stolen, "username": "reader", "password": PASSWORD}
    csrf_of(browser_client)  # this browser has a nonce of its own
    assert browser_client.post("/sign-in", data=form).status_code == 403


def test_a_wrong_password_keeps_the_username_and_starts_nothing(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    form = {"csrf": csrf_of(browser_client), "username": "reader", "password": "wrong"}
    answer = browser_client.post("/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 401
    assert 'value="reader"' in answer.text and 'role="alert"' in answer.text
    assert not any(h.startswith(SESSION_COOKIE) for h in set_cookie_headers(answer))


def test_only_local_paths_are_followed_after_signing_in(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        answer = sign_in(browser_client, "reader", next=target)
        assert answer.headers["location"] == "/", target


def test_the_session_cookie_never_authenticates_the_api(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    sign_in(browser_client, "reader")
    assert browser_client.get("/api/v1/me").json() == {"anonymous": True}
    assert browser_client.get("/api/v1/datasets/shared-counts").status_code == 404
    ckan = browser_client.get("/api/3/action/package_show?id=shared-counts").json()
    assert ckan["success"] is False
    assert browser_client.get("/dataset/shared-counts").status_code == 200  # the page does


def test_signing_out_revokes_the_session(world: World, browser_client: TestClient) -> None:
    add_user(world.site, "reader", role="member")
    answer = sign_in(browser_client, "reader")
    session = browser_client.cookies[SESSION_COOKIE]
    token = csrf_of(browser_client, "/")
    out = browser_client.post("/sign-out", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and answer.status_code == 303
    assert SESSION_COOKIE not in browser_client.cookies
    browser_client.cookies.set(SESSION_COOKIE, session)  # replayed: signed out all the same
    assert "shared-counts" not in browser_client.get("/").text
    assert 'href="/sign-in">Sign in' in browser_client.get("/").text


def test_a_csrf_token_from_before_signing_in_is_refused_after(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "reader", role="member")
    before = csrf_of(browser_client)
    sign_in(browser_client, "reader")
    refused = browser_client.post("/sign-out", data={"csrf": before}, follow_redirects=False)
    assert refused.status_code == 403
    assert "shared-counts" in browser_client.get("/").text  # still signed in


def test_set_up_a_second_factor_then_sign_in_with_it(
    world: World, browser_client: TestClient
) -> None:
    add_user(world.site, "keeper", role="admin")
    refused = sign_in(browser_client, "keeper")
    assert refused.status_code == 403 and 'href="/account/second-factor"' in refused.text
    form = {"csrf": csrf_of(browser_client), "username": "keeper", "password": PASSWORD}
    started = browser_client.post("/account/second-factor", data=form)
    assert started.status_code == 200 and "<svg" in started.text and "<script" not in started.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', started.text)
    assert secret is not None
    wrong = browser_client.post("/account/second-factor/confirm", data={**form, "code": "000000"})
    assert wrong.status_code == 400 and "does not match" in wrong.text
    step = step_now()
    done = browser_client.post(
        "/account/second-factor/confirm", data={**form, "code": totp_code(secret.group(1), step)}
    )
    assert done.status_code == 200
    assert len(re.findall(r"<li><code>[^<]+</code></li>", done.text)) >= 8  # recovery codes
    assert sign_in(browser_client, "keeper").status_code == 401  # a code is now needed
    signed = sign_in(browser_client, "keeper", code=code_after(secret.group(1), step))
    assert signed.status_code == 303
    assert "Second factor</dt><dd>On" in browser_client.get("/account").text


def test_the_account_page_asks_anonymous_visitors_to_sign_in(browser_client: TestClient) -> None:
    answer = browser_client.get("/account", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in?next=/account")


def test_a_form_that_is_not_a_form_is_refused(world: World, browser_client: TestClient) -> None:
    token = csrf_of(browser_client)
    answer = browser_client.post("/sign-in", json={"csrf": token, "username": "x"})
    assert answer.status_code == 415


def test_signing_in_from_the_page_is_throttled_per_address(
    database_url: str, tmp_path: Path
) -> None:
    from cityshare.app import create_app
    from cityshare.runtime import Runtime

    throttled = make_site(
        database_url, tmp_path, rate_limit_sign_in_per_minute=1, rate_limit_sign_in_burst=3
    )
    try:
        with TestClient(create_app(Runtime(throttled))) as client:
            token = csrf_of(client)
            form = {"csrf": token, "username": "nobody", "password": "guess"}
            statuses = [client.post("/sign-in", data=form).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
    finally:
        throttled.close()
