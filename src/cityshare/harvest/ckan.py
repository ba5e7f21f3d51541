"""Reading a remote CKAN Action API (version 3): ``status_show`` to check that it is
one, then ``package_search`` page by page, sorted by name.

Only what the source calls public is harvested: a package with ``private`` true, or with
cityshare's own ``visibility`` other than ``open``, is counted and left alone. Data is a
package's one CSV resource; with none or several, only the metadata is harvested.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import orjson

from cityshare.harvest.fetch import Credential, SafeFetcher, SourceError, origin_of, parse_url
from cityshare.harvest.remote import (
    MAX_REMOTE_ID_CHARS,
    RemoteDataset,
    RemoteProblem,
    checked_metadata,
    frequency,
    licence_id,
    slug,
    spatial,
)
from cityshare.harvest.text import plain, shown_url

ACCEPT = "application/json"
PAGE_ROWS = 100
MAX_PAGES = 10_000
_API_SUFFIXES = ("/api/3/action", "/api/action", "/api/3", "/api")


def api_base(url: str) -> str:
    """The site URL of a CKAN API, from the site's URL or its ``/api/3/action`` URL.

    >>> api_base("https://ckan.example.org/api/3/action/")
    'https://ckan.example.org'
    """
    parsed = parse_url(url)
    path = parsed.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{path}"


class CkanSource:
    """A CKAN site read through its Action API."""

    kind = "ckan"

    def __init__(self, fetcher: SafeFetcher, url: str, token: str | None = None) -> None:
        self.base = api_base(url)
        self.key = self.base  # what harvest records name the source by
        self.total: int | None = None
        self._fetcher = fetcher
        self._credential = (
            Credential(origin_of(self.base), "Authorization", token) if token else None
        )

    def check(self) -> dict[str, Any]:
        """``status_show``'s answer; SourceError when the URL is not a CKAN API."""
        result = self.call("status_show")
        if not isinstance(result, dict) or "ckan_version" not in result:
            raise SourceError(f"{shown_url(self.base)} is not a CKAN Action API.")
        return result

    def call(self, action: str, **params: object) -> Any:
        """The ``result`` of one action called with GET."""
        query = f"?{urlencode(params)}" if params else ""
        url = f"{self.base}/api/3/action/{action}{query}"
        fetched = self._fetcher.get(url, accept=ACCEPT, credential=self._credential)
        try:
            answer = orjson.loads(fetched.body)
        except orjson.JSONDecodeError:
            raise SourceError(f"{shown_url(url)} did not answer JSON.") from None
        if not isinstance(answer, dict) or answer.get("success") is not True:
            raise SourceError(f"{shown_url(url)} did not answer a CKAN success.")
        return answer.get("result")

    def datasets(self) -> Iterator[RemoteDataset | RemoteProblem]:
        """Every package the search lists, page by page (``total`` once known)."""
        start = 0
        for _page in range(MAX_PAGES):
            result = self.call(
                "package_search",
                q="*:*",
                rows=PAGE_ROWS,
                start=start,
                sort="name asc",
                include_private="false",
            )
            packages, count = _page_of(result, self.base)
            self.total = count
            for package in packages:
                yield self.read_package(package)
            start += len(packages)
            if not packages or start >= count:
                return

    def read_package(self, package: Any) -> RemoteDataset | RemoteProblem:
        """One package as a :class:`RemoteDataset` (or why it cannot be one)."""
        if not isinstance(package, dict):
            return RemoteProblem("(unreadable package)", "a search result is not an object")
        name = str(package.get("name") or "")
        remote_id = str(package.get("id") or name)
        label = plain(name or remote_id or "(unnamed package)", 100)
        if not remote_id or len(remote_id) > MAX_REMOTE_ID_CHARS:
            return RemoteProblem(label, "the package has no usable id")
        metadata, dropped = checked_metadata(_raw_metadata(package))
        data_url, note = _csv_resource(package.get("resources"), self.base)
        return RemoteDataset(
            remote_id=remote_id,
            name=slug(name) or slug(str(package.get("title") or "")),
            public=_is_public(package),
            metadata=metadata,
            data_url=data_url,
            data_note=note,
            modified=_text(package.get("metadata_modified")),
            dropped=dropped,
        )


def _page_of(result: Any, base: str) -> tuple[list[Any], int]:
    if not isinstance(result, dict):
        raise SourceError(f"{shown_url(base)}: package_search answered no result.")
    packages, count = result.get("results"), result.get("count")
    if not isinstance(packages, list) or not isinstance(count, int):
        raise SourceError(f"{shown_url(base)}: package_search answered no results or count.")
    return packages, count


def _is_public(package: dict[str, Any]) -> bool:
    """Public at the source: not private, not restricted (cityshare's ``shared``), not
    deleted or a draft."""
    return (
        package.get("private") is not True
        and package.get("visibility", "open") == "open"
        and package.get("state", "active") == "active"
    )


def _raw_metadata(package: dict[str, Any]) -> dict[str, Any]:
    extras = {
        str(extra.get("key")): extra.get("value")
        for extra in package.get("extras") or []
        if isinstance(extra, dict)
    }
    tags = [tag.get("name") for tag in package.get("tags") or [] if isinstance(tag, dict)]
    start, end = _text(extras.get("temporal_start")), _text(extras.get("temporal_end"))
    return {
        "title": _text(package.get("title")) or _text(package.get("name")),
        "description": _text(package.get("notes")) or "",
        "tags": [str(tag) for tag in tags if tag],
        "licence": licence_id(package.get("license_id")),
        "update_frequency": frequency(extras.get("update_frequency") or extras.get("frequency")),
        "spatial": spatial(extras.get("spatial")),
        "temporal": {"start": start, "end": end} if start or end else None,
    }


def _csv_resource(resources: Any, base: str) -> tuple[str | None, str]:
    """The URL of the package's one CSV resource, or None and why not."""
    found: list[str] = []
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict) or resource.get("state", "active") != "active":
            continue
        label = f"{resource.get('format') or ''} {resource.get('mimetype') or ''}".lower()
        url = _text(resource.get("url"))
        if url and ("csv" in label.split() or "text/csv" in label) and url not in found:
            found.append(url)
    if not found:
        return None, "no CSV resource"
    if len(found) > 1:
        return None, f"{len(found)} CSV resources: which one is the data is not guessed"
    return _absolute(found[0], base), ""


def _absolute(url: str, base: str) -> str:
    if "://" in url:
        return url
    return str(parse_url(base + "/").join(url))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
