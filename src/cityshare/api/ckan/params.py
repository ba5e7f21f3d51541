"""One CKAN action call, and reading its parameters the way CKAN accepts them.

CKAN takes parameters as JSON (a POST body), as form fields, or (for reading actions)
from the query string, where lists and objects come JSON-encoded
(``filters={"junction":"J1"}``, ``facet.field=["tags"]``). Each reader here accepts
every one of those forms and raises a CKAN ``Validation Error`` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cityshare.access import Actor
from cityshare.catalogue.reader import Reader
from cityshare.http.ckan_envelope import invalid
from cityshare.site import Site

MAX_TEXT = 100_000
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True)
class Upload:
    """A file sent with the call (``upload``), spooled to disk."""

    path: Path
    filename: str | None
    content_type: str


@dataclass(frozen=True)
class CkanCall:
    """An action call: who asks, on which site (and its read paths), with which
    parameters."""

    reader: Reader
    actor: Actor
    data: Mapping[str, Any]
    base_url: str
    path: str  # the path the call came to (its prefix is kept in links)
    upload: Upload | None = None

    @property
    def site(self) -> Site:
        """The site the call is made on."""
        return self.reader.site

    def text(self, name: str, default: str | None = None) -> str | None:
        """An optional text parameter (numbers are taken as their text)."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid(name, "Must be a string.")
        text = str(value)
        if len(text) > MAX_TEXT or "\x00" in text:
            raise invalid(name, f"Must be text of at most {MAX_TEXT} characters, without NUL.")
        return text

    def required(self, *names: str) -> str:
        """The first of ``names`` that is given, as non-empty text."""
        for name in names:
            value = self.text(name)
            if value:
                return value
        raise invalid(names[0], "Missing value")

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        """A whole number between ``minimum`` and ``maximum``."""
        value = self.data.get(name)
        if value is None or value == "":
            return default
        number = _whole(value)
        if number is None or not minimum <= number <= maximum:
            raise invalid(name, f"Must be a whole number from {minimum} to {maximum}.")
        return number

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean given as JSON or as text (true/false, 1/0, yes/no)."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise invalid(name, "Must be true or false.")

    def decoded(self, name: str) -> Any:
        """A parameter that may come JSON-encoded in text (lists and objects)."""
        value = self.data.get(name)
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise invalid(name, "Is not valid JSON.") from None
        return value

    def mapping(self, name: str) -> dict[str, Any] | None:
        """An object parameter (or JSON text of one)."""
        value = self.decoded(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid(name, 'Must be an object, such as {"field": "value"}.')
        return value

    def strings(self, name: str, *, split: bool = False) -> list[str] | None:
        """A list of texts: a list, JSON text of one, a single text, or (``split``)
        comma-separated text."""
        value = self.decoded(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            items = value.split(",") if split else [value]
            return [item.strip() for item in items if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return [item.strip() for item in value]
        raise invalid(name, "Must be a list of strings.")

    def records(self, name: str) -> list[Any]:
        """A list of objects (records), possibly JSON-encoded."""
        value = self.decoded(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise invalid(name, "Must be a list of objects.")
        return value


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 18:
            return int(text)
    return None
