"""Tiny local HTTP servers that misbehave on purpose, for the SSRF guard's tests.

Each server runs in a thread on a loopback address and records the requests it got, so a
test can prove that a refused hop was never connected to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """What a server was asked: each request's path and headers."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        """The paths asked for, in order."""
        return [path for path, _ in self.requests]


@dataclass
class Running:
    """A server: its base URL, its port, and what it saw."""

    url: str
    port: int
    seen: Seen


Route = Callable[[BaseHTTPRequestHandler, dict[str, list[str]]], None]


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def ok(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """200 with a short text body."""
    _send(handler, 200, b"hello", Content_Type="text/plain")


def echo(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """200 with the request's headers, one per line (names lower-cased)."""
    lines = [f"{name.lower()}: {value}" for name, value in handler.headers.items()]
    _send(handler, 200, "\n".join(lines).encode(), Content_Type="text/plain")


def redirect(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """302 to ``?to=``."""
    _send(handler, 302, b"", Location=query["to"][0])


def chain(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """``/chain?n=K&end=M``: redirect to K+1 until M, then 200."""
    step, end = int(query["n"][0]), int(query["end"][0])
    if step >= end:
        ok(handler, query)
        return
    _send(handler, 302, b"", Location=f"/chain?n={step + 1}&end={end}")


def cookie(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """200 that sets a cookie."""
    _send(handler, 200, b"cookie set", Set_Cookie="session=abc; Path=/")


def big(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """An honest Content-Length over the limit (``?size=``)."""
    _send(handler, 200, b"x" * int(query["size"][0]), Content_Type="text/csv")


def endless(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """No Content-Length: bytes until the client goes away (HTTP/1.0, close-delimited)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.end_headers()
    _pour(handler, b"a,b\n" * 1024, seconds=10)


def lying(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """Content-Length says 10 bytes; the body goes on and on."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.send_header("Content-Length", "10")
    handler.end_headers()
    _pour(handler, b"y" * 65536, seconds=3)


def trickle(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """A byte every 50 ms, for 20 seconds: each read is quick, the whole is not."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.end_headers()
    _pour(handler, b"z", seconds=20, pause=0.05)


def trickle_headers(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """The status line and then header bytes, one every 50 ms, never finishing."""
    handler.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
    _pour(handler, b"s", seconds=20, pause=0.05)


def stall(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """Headers, then silence."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    handler.wfile.flush()
    time.sleep(5)


def brotli(handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
    """A body in an encoding that was not asked for."""
    _send(handler, 200, b"\x00" * 10, Content_Encoding="br")


def _pour(handler: BaseHTTPRequestHandler, chunk: bytes, seconds: float, pause: float = 0) -> None:
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            handler.wfile.write(chunk)
            handler.wfile.flush()
            if pause:
                time.sleep(pause)
    except OSError:
        return  # the client went away, as it should


ROUTES: dict[str, Route] = {
    "/ok": ok,
    "/echo": echo,
    "/redirect": redirect,
    "/chain": chain,
    "/cookie": cookie,
    "/big": big,
    "/endless": endless,
    "/lying": lying,
    "/trickle": trickle,
    "/trickle-headers": trickle_headers,
    "/stall": stall,
    "/brotli": brotli,
}


@contextmanager
def serve(host: str = "127.0.0.1", routes: Mapping[str, Route] | None = None) -> Iterator[Running]:
    """A server on ``host`` (a free port) answering ``routes`` (looked up at each
    request); stopped on exit."""
    seen = Seen()
    table = ROUTES if routes is None else routes

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            seen.requests.append((self.path, dict(self.headers.items())))
            route = table.get(parts.path)
            if route is None:
                _send(self, 404, b"not here")
                return
            route(self, parse_qs(parts.query))

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    try:
        yield Running(url=f"http://{host}:{port}", port=port, seen=seen)
    finally:
        server.shutdown()
        server.server_close()
