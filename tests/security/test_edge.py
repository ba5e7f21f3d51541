"""Issue 16, findings 5, 6, 11 and 12: the HTTP edge, against a real ``cityshare serve``.

5. An anonymous (or CSRF-less) ``POST /publish`` is refused before its body is read; CKAN's
   ``resource_create`` checks the dataset before it reads the file.
6. Bad tokens are throttled per address, and their refusals aggregated in the audit log.
11. Absolute URLs come from ``CITYSHARE_BASE_URL``, never from the ``Host`` header; unknown
    hosts are refused; anonymous answers carry a public cache policy.
12. A token in the query string is refused however its name is encoded.
"""

from __future__ import annotations

import re
import select
import socket
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func
from sqlalchemy import select as sql_select

from cityshare.site import Site
from cityshare.storage.schema import audit_log
from tests.e2e.conftest import run_cli
from tests.security.conftest import Served, ServeFactory
from tests.world import audit_entries

BIG = 50 * 1024**2  # far over the small body limit (1 MiB), far under the upload limit
CHUNK = 64 * 1024
BOUNDARY = "cityshareboundary"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def _part_head(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


def stream_until_answered(
    url: str, path: str, head: bytes, headers: dict[str, str]
) -> tuple[int, int]:
    """POST a chunked multipart body that never ends before ``BIG`` bytes: ``head`` then
    filler. The status of the answer and how many bytes were sent before it came."""
    parts = urlsplit(url)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        "Transfer-Encoding: chunked",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        body = head
        try:
            while sent < BIG:
                connection.sendall(b"%x\r\n%s\r\n" % (len(body), body))
                sent += len(body)
                body = b"x" * CHUNK
                if select.select([connection], [], [], 0)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = connection.recv(4096)
    status = int(answer.split(b" ", 2)[1])
    return status, sent


# --- finding 5 ----------------------------------------------------------------------


def test_publish_reads_no_body_before_sign_in_and_csrf(serve: ServeFactory) -> None:
    served = serve()
    _anonymous_publish_is_refused_before_its_body_is_read(served)
    _a_publish_without_csrf_is_refused_before_its_file_is_read(served)
    _a_signed_in_publish_still_works(served)


def _anonymous_publish_is_refused_before_its_body_is_read(served: Served) -> None:
    url = served.server.url
    # A declared length over the small limit: refused on its headers alone.
    with served.client() as anonymous:
        declared = anonymous.post(
            "/publish",
            content=b"x" * (2 * 1024**2),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert declared.status_code == 413
    # A streamed body: answered long before the client is done sending.
    status, sent = stream_until_answered(url, "/publish", _part_head("csrf") + b"x\r\n", {})
    assert status in (403, 413)
    assert sent < BIG // 2


def _a_publish_without_csrf_is_refused_before_its_file_is_read(served: Served) -> None:
    token = served.world.tokens["editor"]
    head = _part_head("file", "counts.csv")
    status, sent = stream_until_answered(
        served.server.url, "/publish", head, {"Authorization": f"Bearer {token}"}
    )
    assert status == 403
    assert sent < BIG // 2


def _a_signed_in_publish_still_works(served: Served) -> None:
    with served.client("editor") as editor:
        found = CSRF_FIELD.search(editor.get("/publish").text)
        assert found is not None
        data = {"csrf": found.group(1), "organisation": "city", "name": "edge-counts",
                "title": "", "visibility": "private"}  # fmt: skip
        content = "junction,cars\n" + "J1,3\n" * 400_000  # about 2.4 MB: over the small limit
        files = {"file": ("counts.csv", content.encode(), "text/csv")}
        sent = editor.post("/publish", data=data, files=files, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/publish/")


def test_ckan_resource_create_checks_the_dataset_before_its_file(serve: ServeFactory) -> None:
    served = serve()
    uploads = served.world.site.settings.data_dir / "uploads"
    token = served.world.tokens["outsider"]
    for name in ("private-counts", "open-counts"):  # invisible, and visible but not writable
        head = _part_head("package_id") + name.encode() + b"\r\n"
        head += _part_head("upload", "counts.csv") + b"junction,cars\n"
        status, sent = stream_until_answered(
            served.server.url,
            "/api/3/action/resource_create",
            head,
            {"Authorization": f"Bearer {token}"},
        )
        assert status in (403, 404)
        assert sent < BIG // 2
    assert not uploads.exists() or not any(uploads.iterdir())
    with served.client("editor") as editor:
        content = "junction,cars\n" + "J1,3\n" * 400_000  # about 2.4 MB: over the small limit
        created = editor.post(
            "/api/3/action/resource_create",
            data={"package_id": "open-counts", "format": "CSV"},
            files={"upload": ("counts.csv", content.encode(), "text/csv")},
        )
    assert created.status_code == 200, created.text
    assert created.json()["result"]["version"] >= 2


# --- finding 6 ----------------------------------------------------------------------


def _head(site: Site) -> int:
    with site.engine.connect() as connection:
        return int(connection.execute(sql_select(func.max(audit_log.c.seq))).scalar() or 0)


def test_bad_tokens_are_throttled_and_their_refusals_aggregated(serve: ServeFactory) -> None:
    served = serve()
    site = served.world.site
    start = _head(site)
    statuses = []
    bad = {"Authorization": "Bearer cs_not-a-real-token"}
    with httpx.Client(base_url=served.server.url, headers=bad, timeout=60) as guesser:
        for _ in range(300):
            answer = guesser.get("/api/v1/me")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
    assert statuses.count(429) >= 250
    assert set(statuses) <= {401, 429}
    # The server stops: what it counted is written.
    served.server.process.terminate()
    served.server.process.wait(timeout=30)
    entries = audit_entries(site, start)
    assert len(entries) <= 5
    assert {entry["action"] for entry in entries} == {"access.refused"}
    assert sum(int(entry["detail"].get("count", 1)) for entry in entries) == 300
    assert {entry["detail"]["status"] for entry in entries} == {401, 429}
    verified = run_cli(served.server.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


# --- finding 11 ---------------------------------------------------------------------


def test_urls_come_from_the_base_url_never_the_host_header(serve: ServeFactory) -> None:
    served = serve(
        CITYSHARE_BASE_URL="https://data.example.org", CITYSHARE_ALLOWED_HOSTS="127.0.0.1"
    )
    evil = {"Host": "evil.example"}
    with served.client() as anonymous:
        refused = anonymous.get("/catalog.ttl", headers=evil)
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/problem+json")
        answers = [
            anonymous.get("/catalog.ttl"),
            anonymous.get("/api/v1/datasets", params={"limit": 1}),
            anonymous.get(
                "/api/v1/datasets/open-counts/rows", params={"_limit": 1, "_format": "csv"}
            ),
            anonymous.get("/api/3/action/package_show", params={"id": "open-counts"}),
            anonymous.get("/api/3/action/status_show"),
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert "evil.example" not in answer.text
            assert "127.0.0.1" not in answer.text
        assert "https://data.example.org/" in answers[0].text
        assert answers[1].json()["next"].startswith("https://data.example.org/")
        assert answers[2].headers["link"].startswith("<https://data.example.org/")
        public = anonymous.get("/api/v1/datasets/open-counts")
        assert public.headers["cache-control"] == "public, max-age=60"
        assert "strict-transport-security" in public.headers  # https, from the base URL
    with served.client("admin") as admin:
        assert admin.get("/api/v1/datasets/open-counts").headers["cache-control"] == "no-store"


def test_without_a_base_url_unknown_hosts_are_refused_once_allowed_hosts_are_set(
    serve: ServeFactory,
) -> None:
    served = serve(CITYSHARE_ALLOWED_HOSTS="127.0.0.1,data.example.org")
    with served.client() as anonymous:
        assert anonymous.get("/api/v1", headers={"Host": "evil.example"}).status_code == 400
        named = anonymous.get("/catalog.ttl", headers={"Host": "data.example.org"})
    assert named.status_code == 200
    assert "http://data.example.org/" in named.text


# --- finding 12 ---------------------------------------------------------------------


ENCODED_NAMES = ("tok%65n", "access%5Ftoken", "access%5ftoken", "%61pi_key", "TOKEN", "%54oken",
                 "token+", "api%2Dkey", "Access_Token")  # fmt: skip


def test_a_token_in_the_query_is_refused_however_encoded(serve: ServeFactory) -> None:
    served = serve()
    with served.client() as anonymous:
        for name in ENCODED_NAMES:
            answer = anonymous.get(f"/api/v1/datasets/open-counts?a=1&{name}=x")
            assert answer.status_code == 400, name
            assert "query string" in answer.json()["detail"]
        # A value that merely mentions a token, or is percent-encoded, is no token.
        assert anonymous.get("/api/v1/datasets/open-counts/rows?note=token%20x").status_code != 400
