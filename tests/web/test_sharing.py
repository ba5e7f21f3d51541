"""Sharing in the pages: ask for access, approve with an expiry, see the grantee's view,
revoke, decline with a reason; the access log; only the owner's admins decide."""

from __future__ import annotations

import re
from datetime import date, timedelta

from starlette.testclient import TestClient

from tests.world import World

CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf(client: TestClient, path: str, headers: dict[str, str]) -> str:
    found = CSRF_FIELD.search(client.get(path, headers=headers).text)
    assert found is not None, path
    return found.group(1)


def post(
    client: TestClient, world: World, actor: str, path: str, form: dict[str, str], page: str = "/"
) -> object:
    headers = world.headers(actor)
    data = {"csrf": csrf(client, page, headers), **form}
    return client.post(path, data=data, headers=headers, follow_redirects=False)


def pending_ids(client: TestClient, world: World) -> list[str]:
    page = client.get("/dataset/shared-counts/sharing", headers=world.headers("admin")).text
    return re.findall(r"/access-requests/(\d+)/approve", page)


def test_ask_approve_read_then_revoke(world: World, browser_client: TestClient) -> None:
    client, outsider = browser_client, world.headers("outsider")
    before = client.get("/dataset/shared-counts", headers=outsider).text
    assert "but not its data" in before
    assert 'action="/dataset/shared-counts/request-access"' in before
    asked = post(client, world, "outsider", "/dataset/shared-counts/request-access",
                 {"purpose": "Junction <b>safety</b> study"})  # fmt: skip
    assert asked.status_code == 303  # type: ignore[attr-defined]
    waiting = client.get("/dataset/shared-counts", headers=outsider).text
    assert "is <strong>pending</strong>" in waiting and "request-access" not in waiting
    sharing = client.get("/dataset/shared-counts/sharing", headers=world.headers("admin")).text
    assert "Junction &lt;b&gt;safety&lt;/b&gt; study" in sharing
    (request_id,) = pending_ids(client, world)
    until = (date.today() + timedelta(days=30)).isoformat()
    headers = world.headers("admin")
    token = csrf(client, "/dataset/shared-counts/sharing", headers)
    approved = client.post(
        f"/dataset/shared-counts/access-requests/{request_id}/approve",
        data={"csrf": token, "expires_on": until, "columns": ["junction", "cars", "note"]},
        headers=headers,
        follow_redirects=False,
    )
    assert approved.status_code == 303
    granted = client.get("/dataset/shared-counts/sharing", headers=world.headers("admin")).text
    assert pending_ids(client, world) == [] and "active" in granted and until in granted
    seen = client.get("/dataset/shared-counts", headers=outsider).text
    assert 'id="preview-title"' in seen and "morning" in seen  # the grantee's view
    assert "junction, cars, note" in granted
    header = re.search(r'<table class="rows">.*?</thead>', seen, re.S)
    assert header is not None and "counted_at" not in header.group(0)  # only granted columns
    assert "is <strong>approved</strong>" in seen
    world.runtime.finish_background_work()  # reads are recorded in the background
    log = client.get("/dataset/shared-counts/sharing", headers=world.headers("admin")).text
    assert "outsider-user" in log and "dataset.read" in log
    grant_id = re.search(r"/grants/(\d+)/revoke", granted)
    assert grant_id is not None
    revoked = post(client, world, "admin",
                   f"/dataset/shared-counts/grants/{grant_id.group(1)}/revoke", {},
                   page="/dataset/shared-counts/sharing")  # fmt: skip
    assert revoked.status_code == 303  # type: ignore[attr-defined]
    after = client.get("/dataset/shared-counts", headers=outsider).text
    assert 'id="preview-title"' not in after and "but not its data" in after


def test_a_declined_request_tells_its_reason(world: World, browser_client: TestClient) -> None:
    client = browser_client
    post(client, world, "outsider", "/dataset/shared-counts/request-access", {"purpose": "x"})
    (request_id,) = pending_ids(client, world)
    post(client, world, "admin", f"/dataset/shared-counts/access-requests/{request_id}/decline",
         {"reason": "Not for <i>resale</i>"}, page="/dataset/shared-counts/sharing")  # fmt: skip
    page = client.get("/dataset/shared-counts", headers=world.headers("outsider")).text
    assert "is <strong>declined</strong>: Not for &lt;i&gt;resale&lt;/i&gt;" in page
    assert 'action="/dataset/shared-counts/request-access"' in page  # may ask again


def test_only_the_owners_admins_see_the_sharing_page(
    world: World, browser_client: TestClient
) -> None:
    client = browser_client
    for actor, status in (("member", 403), ("outsider", 403), ("editor", 403), ("admin", 200)):
        answer = client.get("/dataset/shared-counts/sharing", headers=world.headers(actor))
        assert answer.status_code == status, actor
    hidden = client.get("/dataset/private-counts/sharing", headers=world.headers("outsider"))
    assert hidden.status_code == 404
    assert client.get("/dataset/shared-counts/sharing").status_code == 404  # anonymous
    page = client.get("/dataset/shared-counts", headers=world.headers("admin")).text
    assert 'href="/dataset/shared-counts/sharing"' in page
    member = client.get("/dataset/shared-counts", headers=world.headers("member")).text
    assert "/sharing" not in member


def test_a_member_cannot_decide_a_request(world: World, browser_client: TestClient) -> None:
    client = browser_client
    post(client, world, "outsider", "/dataset/shared-counts/request-access", {"purpose": "x"})
    (request_id,) = pending_ids(client, world)
    until = (date.today() + timedelta(days=3)).isoformat()
    refused = post(client, world, "member",
                   f"/dataset/shared-counts/access-requests/{request_id}/approve",
                   {"expires_on": until})  # fmt: skip
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert pending_ids(client, world) == [request_id]


def test_bad_expiries_and_missing_tokens_are_refused_clearly(
    world: World, browser_client: TestClient
) -> None:
    client = browser_client
    post(client, world, "outsider", "/dataset/shared-counts/request-access", {"purpose": "x"})
    (request_id,) = pending_ids(client, world)
    url = f"/dataset/shared-counts/access-requests/{request_id}/approve"
    for expiry, message in (("soon", "is not a date"), ("2001-01-01", "must be in the future")):
        answer = post(client, world, "admin", url, {"expires_on": expiry})
        assert answer.status_code == 400 and message in answer.text  # type: ignore[attr-defined]
    unsigned = client.post(url, data={"expires_on": "2099-01-01"}, headers=world.headers("admin"))
    assert unsigned.status_code == 403
    assert pending_ids(client, world) == [request_id]


def test_anonymous_visitors_are_asked_to_sign_in_to_request(
    world: World, browser_client: TestClient
) -> None:
    shared = browser_client.get("/dataset/open-counts").text
    assert "request-access" not in shared
    member = browser_client.get("/dataset/shared-counts", headers=world.headers("member")).text
    assert "request-access" not in member  # members read it already
