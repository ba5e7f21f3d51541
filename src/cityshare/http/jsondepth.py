"""Refuse JSON request bodies nested deeper than ``CITYSHARE_LIMIT_MAX_JSON_DEPTH``.

FastAPI parses a JSON body with the standard library, which recurses once per level:
a body of 100 000 ``[`` is a ``RecursionError``, and a body nested a few hundred levels
deep is parsed and handed on. This middleware reads the JSON bodies of the API's routes
(at most ``CITYSHARE_LIMIT_MAX_JSON_BODY_BYTES``, checked by the body limit outside it)
before any parser does, counts their nesting without parsing, and answers ``400``
problem+json for a body too deep. Uploads (``PUT …/data``, streamed to disk) and the
paths given as ``skip`` (signed ingestion, parsed by orjson after its signature is
checked) pass untouched, as do requests without a body.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityshare.errors import BadRequest, CityshareError
from cityshare.http.middleware import is_upload
from cityshare.http.responses import problem_response

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_exceeds(body: bytes, max_depth: int) -> bool:
    """True when the JSON text ``body`` nests arrays and objects deeper than ``max_depth``.

    Brackets inside strings do not count. Each round removes the innermost pairs, so a
    well-formed text of depth d is empty after d rounds; all of it runs in C (``re``,
    ``bytes``), linear in the body for each of at most ``max_depth`` rounds, and bodies
    with no more brackets than ``max_depth`` skip it all. Malformed text may be judged
    either way: the parser refuses it anyway.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    brackets = _STRING.sub(b"", body).translate(_SQUARE, _NOT_BRACKETS)
    for _ in range(max_depth):
        reduced = brackets.replace(b"[]", b"")
        if not reduced:
            return False
        if len(reduced) == len(brackets):  # no pair left: unbalanced, so malformed
            return len(reduced) > max_depth
        brackets = reduced
    return True


def is_json(scope: Scope) -> bool:
    """True when FastAPI would parse the body as JSON (no Content-Type, or a JSON one)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return True


class JsonDepthMiddleware:
    """Read JSON bodies first and refuse those nested deeper than ``max_depth``."""

    def __init__(self, app: ASGIApp, *, max_depth: int, skip: frozenset[str]) -> None:
        self.app = app
        self.max_depth = max_depth
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._checks(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive)
        except CityshareError as too_large:  # over the body limit while it streamed
            await problem_response(too_large, scope.get("path"))(scope, receive, send)
            return
        if body is None:
            return  # the client went away
        if nesting_exceeds(body, self.max_depth):
            error = BadRequest(
                f"The JSON body is nested deeper than {self.max_depth} levels of arrays and "
                "objects (CITYSHARE_LIMIT_MAX_JSON_DEPTH).",
                limit=self.max_depth,
            )
            await problem_response(error, scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _checks(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] not in _BODYLESS
            and scope["path"] not in self.skip
            and not is_upload(scope)
            and is_json(scope)
        )


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` once, then whatever the client sends next."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
