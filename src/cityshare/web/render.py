"""Render pages: one Jinja2 environment, autoescaped, with the pages' security policy."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import unquote_plus, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response

from cityshare import __version__
from cityshare.errors import CityshareError
from cityshare.http.session import Visit

# Pages load only their own styles, scripts and images; SVG charts and maps are images.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@cache
def environment() -> Environment:
    """The templates' environment (built once; it holds no request state)."""
    folder = str(files("cityshare.web") / "templates")
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(("html", "svg")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    env.filters["query"] = _with_query
    env.filters["unquote"] = unquote_plus
    return env


def error_page(error: CityshareError) -> Response:
    """The page a browser gets for an error met outside a page's own handling (an
    unreachable store, a full disk): the service's explanation and status."""
    visit = Visit(viewer=None, nonce="", fresh=False, csrf="")
    return page(
        "error.html", status=error.status, visit=visit, title=error.title, detail=error.detail
    )


def page(template: str, status: int = 200, **context: Any) -> Response:
    """An HTML page from ``template``, with the pages' security policy."""
    body = environment().get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=_headers(PAGE_POLICY))


def svg(template: str, **context: Any) -> Response:
    """An SVG image from ``template``, which may not run or load anything."""
    body = environment().get_template(template).render(**context)
    return Response(body, media_type="image/svg+xml", headers=_headers(SVG_POLICY))


def _headers(policy: str) -> dict[str, str]:
    return {"content-security-policy": policy, "cache-control": "no-store"}


def _with_query(path: str, params: dict[str, Any] | list[tuple[str, Any]]) -> str:
    """``path`` with ``params`` as its query string (empty values left out)."""
    items = params.items() if isinstance(params, dict) else params
    kept = [(key, value) for key, value in items if value not in (None, "")]
    return f"{path}?{urlencode(kept, doseq=True)}" if kept else path
