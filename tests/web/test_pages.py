"""The web catalogue's pages: what they show each actor, escaping, their security policy,
the preview's sort and filter, charts and maps, and how the DCAT IRIs lead to them."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from starlette.testclient import TestClient

from cityshare.web.render import PAGE_POLICY
from tests.world import ACTOR_KINDS, VISIBILITIES, World, audit_entries

SVG = "{http://www.w3.org/2000/svg}"
DATASET_LINK = re.compile(r'<h3><a href="/dataset/([^"]+)">')


def parse_svg(text: str) -> ElementTree.Element:
    """Our own server's SVG, as a tree (the test's own input, not untrusted XML)."""
    return ElementTree.fromstring(text)  # noqa: S314


def names_on(html: str) -> set[str]:
    return set(DATASET_LINK.findall(html))


@pytest.mark.parametrize("actor", ACTOR_KINDS)
def test_the_home_page_lists_what_the_api_lists(web: tuple[World, TestClient], actor: str) -> None:
    world, client = web
    page = client.get("/", headers=world.headers(actor))
    listed = client.get("/api/v1/datasets?limit=100", headers=world.headers(actor)).json()
    assert page.status_code == 200
    assert names_on(page.text) == {item["name"] for item in listed["datasets"]}
    assert f"{listed['count']} datasets" in page.text


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("actor", ACTOR_KINDS)
def test_a_dataset_page_shows_what_the_api_would(
    web: tuple[World, TestClient], actor: str, visibility: str
) -> None:
    world, client = web
    name = world.datasets[visibility]
    headers = world.headers(actor)
    page = client.get(f"/dataset/{name}", headers=headers)
    described = client.get(f"/api/v1/datasets/{name}", headers=headers)
    rows = client.get(f"/api/v1/datasets/{name}/rows", headers=headers)
    assert page.status_code == described.status_code
    assert page.headers["content-type"].startswith("text/html")
    if page.status_code == 404:
        assert "morning" not in page.text and "junction" not in page.text
        return
    readable = rows.status_code == 200
    assert ('id="preview-title"' in page.text) == readable
    assert ("but not its data" in page.text) == (not readable)
    assert ("morning" in page.text) == readable  # a cell value of the data


def test_a_hidden_dataset_is_a_404_page_like_a_missing_one(web: tuple[World, TestClient]) -> None:
    world, client = web
    hidden = client.get(f"/dataset/{world.datasets['private']}")
    missing = client.get("/dataset/no-such-dataset")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(world.datasets["private"], "X") == missing.text.replace(
        "no-such-dataset", "X"
    )


@pytest.mark.parametrize(
    "path",
    ["/?q=bus", "/?tag=javascript:alert(4)", "/dataset/bus-stops", "/dataset/bus-stops?q=<b>"],
)
def test_hostile_text_is_escaped_on_every_page(web: tuple[World, TestClient], path: str) -> None:
    _world, client = web
    html = client.get(path).text
    for raw in ("<script>alert", "<svg onload", "<img src=x", 'href="javascript:'):
        assert raw not in html
    assert "&lt;script&gt;alert(" in html  # shown, as text
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html)  # no event handler attributes


@pytest.mark.parametrize("path", ["/dataset/bus-stops/chart.svg", "/dataset/bus-stops/map.svg"])
def test_hostile_text_is_escaped_in_charts_and_maps(
    web: tuple[World, TestClient], path: str
) -> None:
    _world, client = web
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert "<script" not in answer.text and "<svg onload" not in answer.text
    titles = [t.text or "" for t in parse_svg(answer.text).iter(f"{SVG}title")]
    assert any("<script>alert(5)</script>" in title for title in titles)  # text, not markup


@pytest.mark.parametrize("path", ["/", "/dataset/open-counts", "/dataset/no-such-dataset"])
def test_pages_carry_a_strict_policy_and_no_inline_code(
    web: tuple[World, TestClient], path: str
) -> None:
    _world, client = web
    page = client.get(path)
    assert page.headers.get_list("content-security-policy") == [PAGE_POLICY]
    assert "'unsafe-inline'" not in PAGE_POLICY and "default-src 'none'" in PAGE_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text and " style=" not in page.text


def test_the_stylesheet_is_served_from_the_site(web: tuple[World, TestClient]) -> None:
    _world, client = web
    sheet = client.get("/static/site.css")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    assert client.get("/static/../pages.py").status_code == 404


def test_the_preview_sorts_and_filters(web: tuple[World, TestClient]) -> None:
    world, client = web
    headers = world.headers("member")
    by_cars = client.get("/dataset/open-counts?sort=-cars", headers=headers).text
    cells = re.findall(r"<td>(J\d)</td><td>[^<]*</td><td>(\d+)</td>", by_cars)
    assert [int(cars) for _, cars in cells] == [120, 95, 80]
    only_j2 = client.get("/dataset/open-counts?column=junction&op=eq&value=J2", headers=headers)
    assert re.findall(r"<td>(J\d)</td>", only_j2.text) == ["J2"]
    wrong = client.get("/dataset/open-counts?sort=nope", headers=headers)
    assert wrong.status_code == 200
    assert "&#39;nope&#39; is not a field" in wrong.text and "first rows are shown" in wrong.text
    assert len(re.findall(r"<td>(J\d)</td>", wrong.text)) == 3


def test_a_preview_is_a_read_in_the_audit_log(web: tuple[World, TestClient]) -> None:
    world, client = web
    world.runtime.finish_background_work()
    before = len(audit_entries(world.site))
    client.get("/dataset/shared-counts?sort=cars", headers=world.headers("member"))
    world.runtime.finish_background_work()
    reads = [e for e in audit_entries(world.site)[before:] if e["action"] == "dataset.read"]
    assert [(e["resource"]["dataset"], e["detail"]["query"]) for e in reads] == [
        ("shared-counts", "_limit=20&_sort=cars")
    ]


def test_the_chart_of_a_table_draws_its_numbers_over_time(web: tuple[World, TestClient]) -> None:
    _world, client = web
    svg = parse_svg(client.get("/dataset/open-counts/chart.svg").text)
    line = svg.find(f"{SVG}polyline")
    assert line is not None
    points = [tuple(map(float, pair.split(","))) for pair in line.attrib["points"].split()]
    assert len(points) == 3  # one bucket per hourly reading
    xs, ys = [x for x, _ in points], [y for _, y in points]
    assert xs == sorted(xs)
    assert ys.index(min(ys)) == 0  # 120 cars at 08:00, the highest point of the line


def test_the_chart_of_text_draws_rows_per_value(web: tuple[World, TestClient]) -> None:
    _world, client = web
    svg = parse_svg(client.get("/dataset/bus-stops/chart.svg").text)
    bars = [rect for rect in svg.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    assert len(bars) == 3


def test_the_map_puts_north_up_and_west_left(web: tuple[World, TestClient]) -> None:
    _world, client = web
    svg = parse_svg(client.get("/dataset/bus-stops/map.svg").text)
    spots = {
        circle.findtext(f"{SVG}title", ""): (float(circle.attrib["cx"]), float(circle.attrib["cy"]))
        for circle in svg.iter(f"{SVG}circle")
    }
    assert len(spots) == 3
    north = spots["javascript:alert(7)"]  # latitude 54.99, the northernmost
    west = spots["<script>alert(5)</script>"]  # longitude -1.6178, the westernmost
    assert north[1] == min(y for _, y in spots.values())
    assert west[0] == min(x for x, _ in spots.values())
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert any(re.fullmatch(r"\d+(\.\d+)? k?m", text) for text in texts)  # the scale bar


def test_a_table_without_geometry_has_no_map(web: tuple[World, TestClient]) -> None:
    _world, client = web
    page = client.get("/dataset/open-counts").text
    assert "map.svg" not in page
    assert client.get("/dataset/open-counts/map.svg").status_code == 404


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 303),
        ("text/turtle, text/html;q=0.5", 200),
        ("*/*", 200),
        ("application/ld+json", 200),
    ],
)
def test_a_dataset_iri_sends_browsers_to_its_page(
    web: tuple[World, TestClient], accept: str, status: int
) -> None:
    _world, client = web
    answer = client.get("/datasets/open-counts", headers={"Accept": accept}, follow_redirects=False)
    assert answer.status_code == status
    if status == 303:
        assert answer.headers["location"] == "/dataset/open-counts"
    catalogue = client.get("/catalog", headers={"Accept": accept}, follow_redirects=False)
    assert catalogue.status_code == status
    assert catalogue.headers.get("location") == ("/" if status == 303 else None)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page must be a whole number"),
        ("page=abc", "page must be a whole number"),
        ("sort=evil", "sort &#39;evil&#39; is not one of"),
        ("kind=nonsense", "kind &#39;nonsense&#39; is not one of"),
        ("q=" + "x" * 501, "q is longer than 500 characters"),
    ],
)
def test_bad_search_input_gets_a_clear_page(
    web: tuple[World, TestClient], query: str, message: str
) -> None:
    _world, client = web
    page = client.get(f"/?{query}")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert message in page.text
    assert "Traceback" not in page.text and "SELECT" not in page.text


def test_facet_links_add_and_remove_a_filter(web: tuple[World, TestClient]) -> None:
    world, client = web
    headers = world.headers("member")
    home = client.get("/", headers=headers).text
    assert 'href="/?organisation=city"' in home
    narrowed = client.get("/?organisation=city", headers=headers)
    listed = client.get("/api/v1/datasets?organisation=city", headers=headers).json()
    assert names_on(narrowed.text) == {item["name"] for item in listed["datasets"]}
    assert 'href="/" aria-current="true" class="selected"' in narrowed.text


def test_api_examples_ask_for_a_token_only_when_the_data_is_not_open(
    web: tuple[World, TestClient],
) -> None:
    world, client = web
    open_page = client.get("/dataset/open-counts").text
    shared_page = client.get("/dataset/shared-counts", headers=world.headers("member")).text
    assert "http://testserver/api/v1/datasets/open-counts/rows?_limit=100" in open_page
    assert "CITYSHARE_TOKEN" not in open_page
    assert shared_page.count("CITYSHARE_TOKEN") >= 3  # curl, Python and the note


@pytest.mark.parametrize("actor", ACTOR_KINDS)
def test_the_live_table_reads_what_the_api_reads(web: tuple[World, TestClient], actor: str) -> None:
    world, client = web
    for visibility, name in world.sensor_datasets.items():
        page = client.get(f"/dataset/{name}/latest.json", headers=world.headers(actor))
        api = client.get(f"/api/v1/datasets/{name}/latest", headers=world.headers(actor))
        assert page.status_code == api.status_code, visibility
        if api.status_code == 200:
            assert page.json() == api.json()
            html = client.get(f"/dataset/{name}", headers=world.headers(actor)).text
            assert f'data-live="/dataset/{name}/latest.json"' in html
            assert '<script src="/static/live.js" defer></script>' in html


def test_a_chart_is_drawn_once_per_version_and_every_view_is_a_read(
    web: tuple[World, TestClient],
) -> None:
    world, client = web
    headers = world.headers("member")
    first = client.get("/dataset/shared-counts/chart.svg", headers=headers).text
    world.runtime.finish_background_work()
    before = len(audit_entries(world.site))
    again = client.get("/dataset/shared-counts/chart.svg", headers=headers).text
    world.runtime.finish_background_work()
    reads = [e for e in audit_entries(world.site)[before:] if e["action"] == "dataset.read"]
    assert again == first
    assert [(e["resource"]["dataset"], e["detail"]["query"]) for e in reads] == [
        ("shared-counts", "chart")
    ]
    refused = client.get("/dataset/shared-counts/chart.svg", headers=world.headers("outsider"))
    assert refused.status_code == 403  # a drawn chart is no way round the policy
