"""How an unreachable store and a full disk are shown: problem+json to API clients, an HTML
page to a browser outside the APIs, with Retry-After where a retry will help."""

from __future__ import annotations

import errno

import orjson
from starlette.testclient import TestClient

from cityshare.http.problems import disk_full_response, unavailable_response
from cityshare.web.render import error_page

BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_a_507_page_for_a_browser() -> None:
    response = disk_full_response(_disk_full(), "/datasets/traffic", BROWSER, error_page)
    assert response.status_code == 507
    assert response.headers["content-type"].startswith("text/html")
    assert b"disk is full" in bytes(response.body)


def test_a_full_disk_is_problem_json_on_the_api_even_for_a_browser() -> None:
    response = disk_full_response(_disk_full(), "/api/v1/datasets/traffic", BROWSER, error_page)
    assert response.status_code == 507
    assert response.headers["content-type"].startswith("application/problem+json")
    assert orjson.loads(bytes(response.body))["type"].endswith("/insufficient-storage")


def test_an_unreachable_store_is_a_503_page_with_retry_after_for_a_browser() -> None:
    response = unavailable_response("/datasets/traffic", BROWSER, error_page)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert int(response.headers["retry-after"]) > 0
    api = unavailable_response("/api/v1/datasets", BROWSER, error_page)
    assert api.headers["content-type"].startswith("application/problem+json")
    assert int(api.headers["retry-after"]) > 0


def test_without_a_page_from_the_web_a_browser_gets_problem_json() -> None:
    """``http/`` draws no page itself: the app hands it the web's (app.state.error_page)."""
    response = unavailable_response("/datasets/traffic", BROWSER)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_app_hands_the_web_page_to_the_error_handlers(client: TestClient) -> None:
    assert client.app.state.error_page is error_page  # type: ignore[attr-defined]
