"""Signed ingestion over HTTP: ``POST /api/v1/ingest`` (devices, not users)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cityshare.errors import CityshareError
from cityshare.http.deps import RuntimeDep
from cityshare.http.jsondepth import read_body
from cityshare.http.problems import store_error_response
from cityshare.http.responses import JSON, problem_response
from cityshare.runtime import Runtime
from cityshare.site import Site
from cityshare.streams.ingest import Acknowledgement, IngestRefused, prepare, prepare_known
from cityshare.streams.models import IngestReceipt
from cityshare.streams.refusals import UNKNOWN_DEVICE, record_refusals

router = APIRouter(tags=["ingest"])
# Batches up to this size are checked on the event loop when their device is known.
INLINE_BODY_BYTES = 2048

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": 'The signed batch: {"sent_at": RFC 3339, "nonce": string, "readings": '
        '[{"stream": name, "time": RFC 3339, "value": ...}]}. X-Signature signs these exact '
        "bytes.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "parameters": [
        {"name": "X-Device-Id", "in": "header", "required": True, "schema": {"type": "string"}},
        {
            "name": "X-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "base64 of the Ed25519 signature of the raw request body.",
        },
    ],
}
# Written by the hot path itself (Acknowledgement.as_dict), not through pydantic.
_ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {"model": IngestReceipt, "description": "Stored durably: the acknowledgement."},
    200: {
        "model": IngestReceipt,
        "description": "The very same batch was stored before: its acknowledgement again.",
    },
}


@router.post(
    "/ingest", response_model=None, status_code=201, responses=_ANSWERS, openapi_extra=_BODY_DOC
)
async def ingest(request: Request, runtime: RuntimeDep) -> Response:
    """Store a device's signed batch of readings; answered only once they are durable.
    (Requests are answered by :func:`ingest_app`; this route describes them in OpenAPI.)"""
    headers = request.headers
    body = await request.body()
    return await answer_ingest(
        runtime, headers.get("x-device-id", ""), headers.get("x-signature", ""), body
    )


def ingest_app(runtime: Runtime) -> ASGIApp:
    """The same route as :func:`ingest` as a pure ASGI app, which the app sends requests
    to past Starlette's and FastAPI's own layers (see cityshare.http.direct); it answers
    every error as problem+json itself, as their exception handlers would."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        device, signature = _signed_by(scope)
        try:
            body = await read_body(receive)
            if body is None:
                return  # the client went away: nobody is left to answer
            response = await answer_ingest(runtime, device, signature, body)
        except CityshareError as error:
            response = problem_response(error, path)
        except Exception as error:  # 503 when the store is busy or unreachable, else 500
            response = store_error_response(error, scope["method"], path)
        await response(scope, receive, send)

    return app


def _signed_by(scope: Scope) -> tuple[str, str]:
    """The X-Device-Id and X-Signature headers ("" when missing)."""
    device = signature = ""
    for name, value in scope["headers"]:
        if name == b"x-device-id":
            device = value.decode("latin-1")
        elif name == b"x-signature":
            signature = value.decode("latin-1")
    return device, signature


async def answer_ingest(runtime: Runtime, device: str, signature: str, body: bytes) -> Response:
    """Verify, store durably (group commit), then acknowledge; count and raise refusals."""
    try:
        if not device or not signature:
            raise IngestRefused(
                "unknown-device" if not device else "bad-signature",
                "Send the device id in X-Device-Id and the base64 Ed25519 signature of "
                "the body in X-Signature.",
            )
        device, signature = device[:60], signature[:200]
        # A small batch from a device this process knows takes about 0.1 ms to check:
        # on the event loop. Others (a large batch, a device to read from the store) go to
        # the site's small ingest pool, so that a burst queues there and never takes every
        # thread readers need.
        batch = None
        if len(body) <= INLINE_BODY_BYTES:
            batch = prepare_known(runtime.ingestion, device, body, signature)
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = await loop.run_in_executor(
                runtime.ingest_executor, prepare, runtime.ingestion, device, body, signature
            )
        outcome = await runtime.ingest_committer.store(batch)
        if isinstance(outcome, IngestRefused):
            raise outcome
    except IngestRefused as refused:
        await run_in_threadpool(_count, runtime.site, device, refused)
        raise
    return _acknowledge(outcome)


def _acknowledge(outcome: Acknowledgement) -> Response:
    body: dict[str, Any] = outcome.as_dict()
    return JSON(body, status_code=200 if outcome.duplicate else 201)


def _count(site: Site, device: str, refused: IngestRefused) -> None:
    known = refused.reason != "unknown-device" and device
    record_refusals(site, [(device[:40] if known else UNKNOWN_DEVICE, refused.reason)])
