"""The web catalogue in a real headless Chromium against a real ``cityshare serve``:
search, open a dataset, see its chart and map, keyboard and accessibility checks, and
the same with JavaScript off. Each test keeps a screenshot in its output folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.e2e.conftest import Server, run_cli_here

CHROMIUM = "/usr/bin/chromium"
LIVE_REFRESH_MS = 5000  # how often a sensor dataset's page refreshes its latest values
COUNTS = "junction,counted_at,cars,longitude,latitude\n" + "".join(
    f"J{n % 4},2024-03-04T{n:02d}:00:00Z,{50 + 7 * n},{-1.62 + n % 4 / 100},{54.97 + n % 4 / 200}\n"
    for n in range(24)
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium (Debian's ``chromium``) driven by Playwright, for the whole
    module: starting it takes about a second. Tests use it through ``browser``."""
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
def browser(chromium: Any) -> Iterator[Any]:
    """The module's Chromium, as if new: every context a test opens (``new_page`` opens one
    too) is closed after the test, with its cookies, storage and cache."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def site_with_data(server: Server, tmp_path: Path) -> Server:
    """The server with an open dataset of traffic counts at four junctions (made with the
    ``cityshare`` commands, run in this process)."""
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
        done = run_cli_here(server.env, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    return server


def console_errors(page: Any) -> list[str]:
    """The page's console errors as they come (a refused script, style or image, or a
    failed request, shows up there)."""
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    return problems


def accessibility_violations(page: Any) -> list[str]:
    """axe-core's violations on the page, as readable lines (none expected)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]]


def test_search_open_a_dataset_and_see_its_chart_and_map(
    site_with_data: Server, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = console_errors(page)
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
    from tests.api.test_second_factor import PASSWORD, code_after, step_now, totp_code

    add_user_with_password(site_with_data, "keeper", "city", "admin")
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
    page.get_by_label("Password").fill(PASSWORD)
    step = step_now()
    page.get_by_label("The 6-digit code your app shows").fill(totp_code(secret, step))
    page.get_by_role("button", name="Turn it on").click()
    assert page.locator("ul.codes li").count() >= 8
    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Username").fill("keeper")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(code_after(secret, step))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site_with_data.url + "/")
    assert page.get_by_role("link", name="keeper").is_visible()
    page.get_by_role("button", name="Sign out").click()
    # The answer lands on the same URL: wait for the signed-out page itself.
    page.get_by_role("link", name="Sign in").wait_for(state="visible")
    assert not page.get_by_role("link", name="keeper").is_visible()
    page.screenshot(path=str(tmp_path / "signed-out.png"), full_page=True)


def add_user_with_password(server: Server, username: str, org: str, role: str) -> None:
    """``cityshare user create … --password`` (the password typed at its prompt)."""
    from tests.api.test_second_factor import PASSWORD

    command = ["user", "create", username, "--org", org, "--role", role, "--password"]
    created = run_cli_here(server.env, *command, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.returncode == 0, created.stdout + created.stderr


def sign_in_page(page: Any, server: Server, username: str, code: str = "") -> None:
    from tests.api.test_second_factor import PASSWORD

    page.goto(server.url + "/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    if code:
        page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


def test_request_access_approve_it_and_see_the_grantees_view(
    site_with_data: Server, browser: Any, tmp_path: Path
) -> None:
    import httpx

    from tests.api.test_second_factor import PASSWORD, code_after, step_now, totp_code

    server = site_with_data
    source = tmp_path / "shared.csv"
    source.write_text(COUNTS)
    for command in (
        ("publish", str(source), "--dataset", "junction-study", "--org", "city",
         "--visibility", "shared"),
        ("org", "create", "partner", "--title", "Partner Consultancy"),
    ):  # fmt: skip
        done = run_cli_here(server.env, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    add_user_with_password(server, "analyst", "partner", "member")
    add_user_with_password(server, "keeper", "city", "admin")
    credentials = {"username": "keeper", "password": PASSWORD}
    setup = httpx.post(f"{server.url}/api/v1/auth/second-factor/setup", json=credentials)
    secret = setup.json()["secret"]
    step = step_now()
    confirm = {**credentials, "code": totp_code(secret, step)}
    assert httpx.post(f"{server.url}/api/v1/auth/second-factor/confirm", json=confirm).is_success

    analyst = browser.new_context().new_page()
    sign_in_page(analyst, server, "analyst")
    analyst.goto(server.url + "/dataset/junction-study")
    assert analyst.get_by_text("but not its data").is_visible()
    analyst.get_by_label("What you will use the data for").fill("Road safety audit")
    analyst.get_by_role("button", name="Request access").click()
    assert analyst.get_by_text("is pending").is_visible()

    keeper = browser.new_context().new_page()
    sign_in_page(keeper, server, "keeper", code_after(secret, step))
    keeper.goto(server.url + "/dataset/junction-study")
    keeper.get_by_role("link", name="Sharing: requests, grants and the access log").click()
    assert keeper.get_by_text("Road safety audit").is_visible()
    assert accessibility_violations(keeper) == []
    keeper.get_by_role("button", name="Approve").click()
    assert keeper.get_by_role("rowheader", name="analyst").is_visible()  # a grant
    keeper.screenshot(path=str(tmp_path / "sharing.png"), full_page=True)

    analyst.reload()
    assert analyst.get_by_text("is approved").is_visible()
    assert analyst.locator("table.rows tbody tr").count() == 20  # the grantee reads the data
    analyst.screenshot(path=str(tmp_path / "grantee.png"), full_page=True)


def test_a_sensor_datasets_latest_values_update_without_a_reload(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    import httpx

    from cityshare.config import Settings
    from cityshare.runtime import open_site
    from tests.sensors import add_device, add_sensor_dataset

    assert run_cli_here(server.env, "init").returncode == 0
    assert run_cli_here(server.env, "org", "create", "city", "--title", "City").returncode == 0
    env = server.env
    site = open_site(
        Settings(
            data_dir=Path(env["CITYSHARE_DATA_DIR"]),
            database_url=env["CITYSHARE_DATABASE_URL"],
            secret_key=env["CITYSHARE_SECRET_KEY"],
        )
    )
    try:
        add_sensor_dataset(site, "river-levels", visibility="open")
        gauge = add_device(
            site, "gauge", streams={"level": ("water_level", "number")}, dataset="river-levels"
        )
    finally:
        site.close()

    def send(value: float) -> None:
        body, headers = gauge.signed([("level", datetime.now(UTC), value)])
        answer = httpx.post(f"{server.url}/api/v1/ingest", content=body, headers=headers)
        assert answer.status_code in (200, 201, 202), answer.text

    send(1.25)
    page = browser.new_page()
    problems = console_errors(page)
    page.clock.install()  # the page's timers, so the test need not wait for its next refresh
    page.goto(server.url + "/dataset/river-levels")
    cell = page.locator("tr[data-stream] td.value")
    assert cell.text_content() == "1.25"
    send(3.5)
    page.clock.fast_forward(LIVE_REFRESH_MS)  # the page asks for the latest values again
    page.wait_for_function(
        "() => document.querySelector('tr[data-stream] td.value').textContent === '3.5'",
        timeout=15000,
    )
    assert page.get_by_role("status").filter(has_text="Updated").count() == 1
    assert accessibility_violations(page) == []
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    assert problems == []


def test_publish_a_csv_with_a_progress_bar_review_and_correct_it(
    site_with_data: Server, browser: Any, tmp_path: Path
) -> None:
    server = site_with_data
    add_user_with_password(server, "writer", "city", "editor")
    rows = "".join(f"S{n:05d},{n % 7},note {n}\n" for n in range(40_000))
    source = tmp_path / "stops.csv"
    source.write_text("stop_code,shelters,remark\n" + rows)  # about 800 KB
    page = browser.new_page()
    problems = console_errors(page)
    sign_in_page(page, server, "writer")
    page.get_by_role("link", name="Publish").click()
    assert accessibility_violations(page) == []
    page.get_by_label("Name in the address").fill("bus-stop-shelters")
    page.get_by_label("Title").fill("Bus stop shelters")
    page.get_by_label("File").set_input_files(str(source))
    cdp = page.context.new_cdp_session(page)  # a slow uplink, so the upload takes seconds
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 300_000},
    )
    page.get_by_role("button", name="Upload and review").click()
    page.wait_for_function(
        "() => { const bar = document.getElementById('upload-progress');"
        " return bar && !bar.hidden && bar.value > 0 && bar.value < 100; }",
        timeout=15000,
    )
    assert "Uploading" in (page.locator("#upload-status").text_content() or "")
    page.screenshot(path=str(tmp_path / "uploading.png"))
    page.wait_for_url("**/publish/*", timeout=30000)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": -1})  # fmt: skip
    assert page.get_by_label("Type of shelters").input_value() == "integer"
    page.get_by_label("Type of shelters").select_option("number")
    page.get_by_label("Classification of remark").select_option("personal")
    assert accessibility_violations(page) == []
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url("**/dataset/bus-stop-shelters")
    assert page.get_by_role("heading", name="Bus stop shelters").is_visible()
    columns = page.get_by_role("table", name="The columns of the current version")
    assert "number" in (columns.get_by_role("row", name="shelters").text_content() or "")
    assert "personal" in (columns.get_by_role("row", name="remark").text_content() or "")
    page.screenshot(path=str(tmp_path / "published.png"), full_page=True)
    assert problems == []
