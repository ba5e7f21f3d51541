"""Smoke-test the README's quick start in an environment with the plain package only.

`.ci/run` installs cityshare without extras into a fresh virtual environment and runs this
script with that environment's Python. It starts `cityshare demo` (small sample data) in an
empty folder and checks what a newcomer does first: the home page, a form post (signing in
as the demo's editor), a form-encoded CKAN call and a multipart upload (CKAN
`resource_create`). A dependency the package forgot to declare (as `python-multipart` once
was) fails here, where the test extras cannot hide it.

    python scripts/smoke_quickstart.py            # exits 0 when every step passed
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

STARTUP_SECONDS = 180
TOKEN_LINE = re.compile(r"Admin token \(shown once\): (\S+)")
PASSWORD_LINE = re.compile(r"as (\S+) with password (\S+)")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_demo(folder: Path, port: int) -> tuple[subprocess.Popen[str], str, str, str]:
    """Start `cityshare demo` in ``folder``; its process, admin token, editor and password."""
    process = subprocess.Popen(
        ["cityshare", "demo", "--port", str(port), "--scale", "0.05"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    token = editor = password = ""
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (token and password) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"cityshare demo exited early ({process.wait()})")
        if found := TOKEN_LINE.search(line):
            token = found.group(1)
        if found := PASSWORD_LINE.search(line):
            editor, password = found.group(1), found.group(2)
    if not (token and password):
        raise SystemExit("cityshare demo did not print its token and editor password")
    return process, token, editor, password


def wait_until_up(base: str) -> None:
    """Poll the API index until it answers 200."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("cityshare demo did not answer")


def check(what: str, response: httpx.Response, expected: int) -> httpx.Response:
    """Fail loudly unless ``response`` has the ``expected`` status."""
    if response.status_code != expected:
        raise SystemExit(f"{what}: {response.status_code} {response.text[:500]}")
    print(f"ok  {what}")
    return response


def smoke(base: str, token: str, editor: str, password: str) -> None:
    """The newcomer's first steps against a running demo."""
    with httpx.Client(base_url=base, timeout=60) as browser:
        home = check("home page", browser.get("/"), 200)
        assert "cityshare" in home.text.lower()
        page = check("sign-in page", browser.get("/sign-in"), 200)
        csrf = CSRF_FIELD.search(page.text)
        assert csrf is not None, "the sign-in form has no CSRF field"
        form = {"csrf": csrf.group(1), "next": "/", "username": editor, "password": password}
        check("form post: sign in", browser.post("/sign-in", data=form), 303)
        assert "cityshare_session" in browser.cookies, "signing in set no session cookie"
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=60, headers=bearer) as api:
        found = check(
            "form-encoded CKAN call",
            api.post("/api/3/action/package_search", data={"q": "traffic"}),
            200,
        )
        assert found.json()["success"] is True
        csv = b"place,count\nA,1\nB,2\n"
        check(
            "CKAN package_create",
            api.post(
                "/api/3/action/package_create",
                json={"name": "smoke-counts", "owner_org": "northbridge-council"},
            ),
            200,
        )
        created = check(
            "multipart upload: CKAN resource_create",
            api.post(
                "/api/3/action/resource_create",
                data={"package_id": "smoke-counts"},
                files={"upload": ("counts.csv", csv, "text/csv")},
            ),
            200,
        )
        assert created.json()["success"] is True
        rows = check("rows of the upload", api.get("/api/v1/datasets/smoke-counts/rows"), 200)
        assert [row["place"] for row in rows.json()["rows"]] == ["A", "B"]


def main() -> None:
    """Run the demo in a temporary folder, smoke-test it, stop it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cityshare-smoke-") as folder:
        process, token, editor, password = start_demo(Path(folder), port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base)
            smoke(base, token, editor, password)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    print("quick start smoke test passed")


if __name__ == "__main__":
    sys.exit(main())
