"""Fast JSON and RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from cityshare.errors import CityshareError, StoreBusy, TooManyRequests

PROBLEM_MEDIA_TYPE = "application/problem+json"


class JSON(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` (non-string keys and dataclasses allowed)."""
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def problem_response(error: CityshareError, instance: str | None = None) -> Response:
    """The problem+json response for a service error."""
    body = error.problem()
    if instance:
        body["instance"] = instance
    headers = {}
    if isinstance(error, TooManyRequests | StoreBusy):
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 401 and error.slug == "unauthorized":
        headers["WWW-Authenticate"] = 'Bearer realm="cityshare"'
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
