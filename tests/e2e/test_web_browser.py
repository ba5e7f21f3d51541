"""The web catalogue in a real headless Chromium against a real ``cityshare serve``:
search, open a dataset, see its chart and map, keyboard and accessibility checks, and
the same with JavaScript off. Each test keeps a screenshot in its output folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.e2e.conftest import Server, run_cli

CHROMIUM = "/usr/bin/chromium"
COUNTS = "junction,counted_at,cars,longitude,latitude\n" + "".join(
    f"J{n % 4},2024-03-04T{n:02d}:00:00Z,{50 + 7 * n},{-1.62 + n % 4 / 100},{54.97 + n % 4 / 200}\n"
    for n in range(24)
)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's ``chromium``) driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install -e '.[test]')")
    if shutil.which("chromium") is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def site_with_data(server: Server, tmp_path: Path) -> Server:
    """The server with an open dataset of traffic counts at four junctions."""
    source = tmp_path / "counts.csv"
    source.write_text(COUNTS)
    for command in (
        ("init",),
        ("org", "create", "city", "--title", "City Council"),
        (
            "publish",
            str(source),
            "--dataset",
            "traffic-counts",
            "--org",
            "city",
            "--visibility",
            "open",
        ),
    ):
        done = run_cli(server.env, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    return server


def accessibility_violations(page: Any) -> list[str]:
    """axe-core's violations on the page, as readable lines (none expected)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]]


def test_search_open_a_dataset_and_see_its_chart_and_map(
    site_with_data: Server, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto(site_with_data.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Search datasets").fill("traffic")
    page.get_by_label("Search datasets").press("Enter")
    page.wait_for_url("**/?q=traffic**")
    assert page.get_by_role("heading", name="1 dataset for “traffic”").is_visible()
    assert accessibility_violations(page) == []
    page.get_by_role("link", name="traffic-counts").click()
    page.wait_for_url("**/dataset/traffic-counts")
    for image in ("chart.svg", "map.svg"):
        drawn = page.locator(f"img[src$='{image}']")
        drawn.scroll_into_view_if_needed()
        assert page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=drawn.element_handle()
        )
    assert page.locator("table.rows tbody tr").count() == 20
    page.get_by_role("link", name="cars (sort)").click()
    page.get_by_role("link", name="cars ▲ (sort)").click()  # again: largest first
    assert page.locator("table.rows tbody tr").first.locator("td").nth(2).text_content() == "211"
    assert accessibility_violations(page) == []
    page.screenshot(path=str(tmp_path / "dataset.png"), full_page=True)
    assert problems == []  # no script, style or image the policy refused, nothing missing
    example = page.locator("pre code").nth(1).text_content() or ""
    ran = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout.splitlines()) == 24  # the copy-paste example reads every row


def test_reading_and_search_work_with_javascript_off(
    site_with_data: Server, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site_with_data.url + "/")
    page.get_by_label("Search datasets").fill("junction")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="traffic-counts").click()
    page.get_by_label("Column", exact=True).select_option("junction")
    page.get_by_label("Value", exact=True).fill("J2")
    page.get_by_role("button", name="Filter").click()
    cells = page.locator("table.rows tbody tr td:first-child").all_text_contents()
    assert cells and set(cells) == {"J2"}
    page.screenshot(path=str(tmp_path / "filtered.png"), full_page=True)
    context.close()


def test_sign_in_with_a_second_factor(site_with_data: Server, browser: Any, tmp_path: Path) -> None:
    from tests.api.test_second_factor import PASSWORD, fresh_step, totp_code

    command = ["user", "create", "keeper", "--org", "city", "--role", "admin", "--password"]
    created = subprocess.run(
        [sys.executable, "-m", "cityshare", *command],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env=site_with_data.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    page = browser.new_page()
    page.goto(site_with_data.url + "/sign-in")
    assert accessibility_violations(page) == []
    page.get_by_label("Username").fill("keeper")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()  # administrators need a second factor
    page.get_by_role("link", name="Set up a second factor").first.click()
    page.get_by_label("Username").fill("keeper")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    assert page.locator("figure.qr svg").is_visible()
    assert accessibility_violations(page) == []
    page.screenshot(path=str(tmp_path / "second-factor.png"), full_page=True)
    secret = page.locator("code.secret").text_content() or ""
    step = fresh_step(20)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("The 6-digit code your app shows").fill(totp_code(secret, step))
    page.get_by_role("button", name="Turn it on").click()
    assert page.locator("ul.codes li").count() >= 8
    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Username").fill("keeper")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret, step + 1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site_with_data.url + "/")
    assert page.get_by_role("link", name="keeper").is_visible()
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("link", name="Sign in").is_visible()
    page.screenshot(path=str(tmp_path / "signed-out.png"), full_page=True)
