"""Fast JSON and RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from cityshare.errors import CityshareError
from cityshare.http.ckan_envelope import ckan_error_response, is_ckan_path

PROBLEM_MEDIA_TYPE = "application/problem+json"


class JSON(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` (non-string keys and dataclasses allowed)."""
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def problem_response(error: CityshareError, instance: str | None = None) -> Response:
    """The problem+json response for a service error (on the CKAN Action API's paths,
    CKAN's error envelope instead: its clients read nothing else)."""
    if is_ckan_path(instance):
        return ckan_error_response(error, str(instance))
    body = error.problem()
    if instance:
        body["instance"] = instance
    headers = {}
    retry_after = getattr(error, "retry_after", None)  # 429, and 503s of the store
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if error.status == 401 and error.slug == "unauthorized":
        headers["WWW-Authenticate"] = 'Bearer realm="cityshare"'
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
