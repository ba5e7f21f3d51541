"""Publishing from the browser: upload, review the inferred schema, correct it, publish."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.web.test_account import csrf_of
from tests.world import SAMPLE_CSV, World

REVIEW = re.compile(r"/publish/([0-9a-f]{32})")


def upload(
    client: TestClient, world: World, actor: str, name: str, content: str = SAMPLE_CSV, **form: str
) -> object:
    headers = world.headers(actor)
    filename = form.pop("filename", "counts.csv")
    data = {"csrf": csrf_of(client), "organisation": "city", "name": name, "title": "",
            "visibility": "private", **form}  # fmt: skip
    files = {"file": (filename, content.encode(), "text/csv")}
    return client.post("/publish", data=data, files=files, headers=headers, follow_redirects=False)


def test_upload_review_correct_and_publish(world: World, browser_client: TestClient) -> None:
    client, editor = browser_client, world.headers("editor")
    assert 'name="organisation"' in client.get("/publish", headers=editor).text
    sent = upload(client, world, "editor", "junction-counts")
    assert sent.status_code == 303  # type: ignore[attr-defined]
    staged = REVIEW.search(sent.headers["location"])  # type: ignore[attr-defined]
    assert staged is not None
    review = client.get(f"/publish/{staged.group(1)}", headers=editor).text
    cars = re.search(r'name="type:cars">(.*?)</select>', review, re.S)
    assert cars is not None and '<option value="integer" selected>' in cars.group(1)
    published = client.post(
        f"/publish/{staged.group(1)}",
        data={"csrf": csrf_of(client), "type:cars": "number", "class:note": "personal"},
        headers=editor,
        follow_redirects=False,
    )
    assert (published.status_code, published.headers["location"]) == (
        303, "/dataset/junction-counts"
    )  # fmt: skip
    schema = client.get("/api/v1/datasets/junction-counts/versions/1", headers=editor).json()
    fields = {field["name"]: field for field in schema["schema"]["fields"]}
    assert fields["cars"]["type"] == "number" and fields["counted_at"]["type"] == "datetime"
    described = client.get("/api/v1/datasets/junction-counts", headers=world.headers("admin"))
    assert described.json()["visibility"] == "private"
    assert described.json()["column_classes"] == {"note": "personal"}
    assert client.get(f"/publish/{staged.group(1)}", headers=editor).status_code == 404  # gone


def test_a_correction_the_data_does_not_fit_is_explained_and_nothing_is_made(
    world: World, browser_client: TestClient
) -> None:
    client, editor = browser_client, world.headers("editor")
    sent = upload(client, world, "editor", "typed-wrong")
    staged = REVIEW.search(sent.headers["location"])  # type: ignore[attr-defined]
    assert staged is not None
    wrong = client.post(
        f"/publish/{staged.group(1)}",
        data={"csrf": csrf_of(client), "type:junction": "integer"},
        headers=editor,
    )
    assert wrong.status_code == 400
    assert "junction" in wrong.text and "J1" in wrong.text  # which column, which value
    assert re.search(r'name="type:junction">.*?<option value="integer" selected>', wrong.text, re.S)
    assert client.get("/api/v1/datasets/typed-wrong", headers=editor).status_code == 404
    fixed = client.post(
        f"/publish/{staged.group(1)}", data={"csrf": csrf_of(client)}, headers=editor,
        follow_redirects=False,
    )  # fmt: skip
    assert fixed.status_code == 303


def test_what_the_api_refuses_the_page_refuses_before_reading_the_file(
    world: World, browser_client: TestClient
) -> None:
    client = browser_client
    opened = upload(client, world, "editor", "opened-up", visibility="open")
    assert opened.status_code == 403  # type: ignore[attr-defined]  # admins open data up
    taken = upload(client, world, "editor", "open-counts")
    assert taken.status_code == 409 and "is taken" in taken.text  # type: ignore[attr-defined]
    bad_name = upload(client, world, "editor", "Bad Name!")
    assert bad_name.status_code == 400  # type: ignore[attr-defined]
    outsider = upload(client, world, "outsider", "theirs")
    assert outsider.status_code in (403, 404)  # type: ignore[attr-defined]
    member = upload(client, world, "member", "members-may-not")
    assert member.status_code == 403  # type: ignore[attr-defined]
    strange = upload(client, world, "editor", "strange", filename="counts.exe")
    assert strange.status_code == 400 and ".xlsx" in strange.text  # type: ignore[attr-defined]
    headers = world.headers("editor")
    unsigned = client.post(
        "/publish", data={"organisation": "city", "name": "x"},
        files={"file": ("a.csv", b"a\n1\n", "text/csv")}, headers=headers,
    )  # fmt: skip
    assert unsigned.status_code == 403
    stuffed = client.post(
        "/publish", data={f"f{n}": "x" for n in range(50)}, headers=headers,
        files={"file": ("a.csv", b"a\n1\n", "text/csv")},
    )  # fmt: skip
    assert stuffed.status_code == 400 and stuffed.headers["content-type"].startswith("text/html")


def test_only_the_uploader_may_review_a_staged_file(
    world: World, browser_client: TestClient
) -> None:
    client = browser_client
    sent = upload(client, world, "editor", "mine")
    staged = REVIEW.search(sent.headers["location"])  # type: ignore[attr-defined]
    assert staged is not None
    for actor in ("admin", "member", "outsider", "anonymous"):
        answer = client.get(f"/publish/{staged.group(1)}", headers=world.headers(actor))
        assert answer.status_code == 404, actor
    assert client.get("/publish/../../etc", headers=world.headers("editor")).status_code == 404
    assert client.get("/publish/" + "0" * 32, headers=world.headers("editor")).status_code == 404


def test_hostile_column_names_are_text_on_the_review_page(
    world: World, browser_client: TestClient
) -> None:
    hostile = "<script>alert(1)</script>,<img src=x onerror=alert(2)>\nx,1\n"
    sent = upload(browser_client, world, "editor", "hostile-columns", content=hostile)
    staged = REVIEW.search(sent.headers["location"])  # type: ignore[attr-defined]
    assert staged is not None
    page = browser_client.get(f"/publish/{staged.group(1)}", headers=world.headers("editor"))
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)" in page.text


def test_anonymous_visitors_are_asked_to_sign_in(browser_client: TestClient) -> None:
    answer = browser_client.get("/publish", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in?next=/publish")


# --- nothing is read before sign-in and the CSRF token (issue 16, finding 5) ----------


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body of (name, filename, content) parts, in this order."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--b0undary\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + b"--b0undary--\r\n", {"Content-Type": "multipart/form-data; boundary=b0undary"}


def test_a_file_before_the_csrf_token_is_refused(world: World, browser_client: TestClient) -> None:
    client, editor = browser_client, world.headers("editor")
    token = csrf_of(client, "/sign-in")
    fields = [("organisation", None, b"city"), ("name", None, b"x-counts"),
              ("visibility", None, b"private")]  # fmt: skip
    csv = ("file", "counts.csv", SAMPLE_CSV.encode())
    cases = {
        "file first": [csv, ("csrf", None, token.encode()), *fields],
        "no token": [*fields, csv],
        "wrong token": [("csrf", None, b"0" * 64), *fields, csv],
    }
    for case, parts in cases.items():
        body, headers = multipart(*parts)
        sent = client.post("/publish", content=body, headers={**headers, **editor})
        assert sent.status_code == 403, case
    body, headers = multipart(("csrf", None, token.encode()), *fields, csv, csv)
    assert client.post("/publish", content=body, headers={**headers, **editor}).status_code == 400
    body, headers = multipart(("csrf", None, token.encode()), ("other", None, b"x"), csv)
    assert client.post("/publish", content=body, headers={**headers, **editor}).status_code == 400
    body, headers = multipart(("csrf", None, token.encode()), *fields, csv)
    good = client.post(
        "/publish", content=body, headers={**headers, **editor}, follow_redirects=False
    )
    assert good.status_code == 303, good.text
    assert list((world.site.settings.data_dir / "uploads").glob("review-*.part")) == []


def test_an_anonymous_publish_is_refused_unread(browser_client: TestClient) -> None:
    token = csrf_of(browser_client, "/sign-in")
    body, headers = multipart(("csrf", None, token.encode()), ("file", "a.csv", b"a\n1\n"))
    assert browser_client.post("/publish", content=body, headers=headers).status_code == 403


def test_a_file_for_a_place_one_may_not_publish_is_refused_unread(
    world: World, browser_client: TestClient
) -> None:
    client = browser_client
    token = csrf_of(client, "/sign-in")
    fields = [("csrf", None, token.encode()), ("organisation", None, b"city"),
              ("name", None, b"m-counts"), ("visibility", None, b"private")]  # fmt: skip
    body, headers = multipart(*fields, ("file", "counts.csv", SAMPLE_CSV.encode()))
    member = client.post("/publish", content=body, headers={**headers, **world.headers("member")})
    assert member.status_code in (403, 404)
    assert list((world.site.settings.data_dir / "uploads").glob("review-*")) == []


def test_a_file_of_unknown_extension_is_refused_listing_the_extensions(
    world: World, browser_client: TestClient
) -> None:
    refused = upload(browser_client, world, "editor", "notes-counts", filename="counts.txt")
    page = refused.text  # type: ignore[attr-defined]
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "counts.txt" in page and ".csv, .tsv" in page and "Rename the file." in page
    assert "Content-Type" not in page and "text/csv" not in page
