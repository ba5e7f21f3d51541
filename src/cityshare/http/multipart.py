"""Reading a multipart form with one file as it streams in, checks before the file.

Starlette's ``request.form()`` reads the whole body (spooling files) before a route sees
any field, so whatever the fields decide (a CSRF token, which dataset the file is for)
could only be checked after the upload was paid for. Here the body is parsed part by
part (python-multipart's streaming parser, as Starlette uses): the fields must come
before the file — browsers send them in the order of the page, and ckanapi, requests
and httpx put data fields before files. A CSRF token (``check``, where the form has one)
is checked the moment it has arrived, and a file part before a valid token is refused at
its headers. When the file part begins, ``before_file`` is given the fields that came
before it (may this actor publish there?), in a worker thread since it may ask the
database; meanwhile the parser holds at most the rest of one received chunk of the file
in memory, and no byte of it is stored before the check passed. Only then, and if the
body's declared length leaves the disk room enough (the free-space guard of
:mod:`cityshare.storage.space`), is the file streamed to the spool; a full disk is a 507.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from cityshare.errors import BadRequest
from cityshare.http.upload import safe_filename
from cityshare.storage.space import SpaceGuard, disk_full_refused

MAX_HEADER_BYTES = 1000


@dataclass(frozen=True)
class FormRules:
    """What a form may hold: its ``file_field``; its field ``names`` (each at most once),
    or None for any names, repeats allowed; at most ``max_fields`` fields of at most
    ``max_field_bytes`` each; and the CSRF ``check`` of its ``csrf`` field, if it has
    one (it raises when the token is wrong, or empty)."""

    file_field: str
    names: tuple[str, ...] | None = None
    max_fields: int = 200
    max_field_bytes: int = 64 * 1024
    check: Callable[[str], None] | None = None


class UploadForm:
    """The fields and the one file of a multipart form, as the parser reports them."""

    def __init__(self, spool: Path, rules: FormRules, space: SpaceGuard) -> None:
        self.pairs: list[tuple[str, str]] = []
        self.fields: dict[str, str] = {}  # the first value of each name
        self.filename: str | None = None
        self.content_type = ""
        self.pending: dict[str, str] | None = None  # the fields, while before_file runs
        self._spool, self._rules = spool, rules
        self._checked = False
        self._header: list[bytes] = [b"", b""]
        self._part_headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()
        self._in_file = self._file_ended = False
        self._held = bytearray()  # file bytes received while before_file runs
        self._file: IO[bytes] | None = None
        self._meter = space.meter()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """python-multipart's callbacks, bound to this form."""
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._add(0, data[start:end]),
            "on_header_value": lambda data, start, end: self._add(1, data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._header, self._part_headers, self._name = [b"", b""], {}, None
        self._value.clear()

    def _add(self, which: int, data: bytes) -> None:
        self._header[which] += data
        if len(self._header[which]) > MAX_HEADER_BYTES:
            raise BadRequest("The form could not be read: a part's header is too long.")

    def _header_end(self) -> None:
        name = self._header[0].strip().lower()
        if name in (b"content-disposition", b"content-type"):  # the rest are not kept
            self._part_headers[name] = self._header[1]
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part_headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            self._field_begins(name)
            return
        if self._rules.check is not None and not self._checked:
            self._rules.check("")  # refused before a byte of the file is read
        field = self._rules.file_field
        if name != field or self._in_file or self._file_ended:
            raise BadRequest(f"Send one file, in the form's {field!r} field.", parameter=field)
        self.filename = safe_filename(options[b"filename"].decode("utf-8", "replace"))
        self.content_type = self._part_headers.get(b"content-type", b"").decode("latin-1")
        self._in_file = True
        self.pending = dict(self.fields)

    def _field_begins(self, name: str) -> None:
        names = self._rules.names
        if names is not None and (name not in names or name in self.fields):
            raise BadRequest(f"The form has an unexpected field {name[:40]!r}.")
        if len(self.pairs) >= self._rules.max_fields:
            raise BadRequest(f"The form has more than {self._rules.max_fields} fields.")
        self._name = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._name is None:
            if self._file is not None:
                self._file.write(data[start:end])
                self._meter.wrote(end - start)
            elif self._in_file:
                self._held += data[start:end]
            return
        self._value += data[start:end]
        if len(self._value) > self._rules.max_field_bytes:
            raise BadRequest(f"A field is longer than {self._rules.max_field_bytes} bytes.")

    def _end(self) -> None:
        if self._name is None:
            if self._in_file:
                self._in_file, self._file_ended = False, True
                if self._file is not None:
                    self._file.close()
            return
        value = self._value.decode("utf-8", "replace")
        self.pairs.append((self._name, value))
        self.fields.setdefault(self._name, value)
        if self._name == "csrf" and self._rules.check is not None:
            self._rules.check(value)
            self._checked = True

    def open_file(self) -> None:
        """``before_file`` passed: store the file, from the bytes held meanwhile on."""
        self.pending = None
        self._file = self._spool.open("wb")
        self._file.write(self._held)
        self._held = bytearray()
        if self._file_ended:
            self._file.close()

    def close(self) -> None:
        """Close the spool if a refusal left it open."""
        if self._file is not None and not self._file.closed:
            self._file.close()

    @property
    def checked(self) -> bool:
        """Whether the CSRF token arrived and was right."""
        return self._checked


async def receive_form(
    request: Request,
    spool: Path,
    rules: FormRules,
    before_file: Callable[[dict[str, str]], None],
    *,
    space: SpaceGuard,
) -> UploadForm:
    """Read ``request``'s multipart body under ``rules``: its fields, and at most one
    file, streamed to ``spool`` once ``before_file`` (given the fields before it, run in
    a worker thread) did not raise and ``space`` has room for the body's declared length
    (checked again as the file spools). A form without a file is read too (``filename``
    is None); a form with a CSRF ``check`` but no token is refused."""
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise BadRequest("Send the form as multipart/form-data.")
    form = UploadForm(spool, rules, space)
    declared = request.headers.get("content-length", "")
    try:
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
        with disk_full_refused():
            async for chunk in request.stream():
                parser.write(chunk)
                if form.pending is not None:
                    await run_in_threadpool(before_file, form.pending)
                    space.check(int(declared) if declared.isdigit() else None)
                    form.open_file()
            parser.finalize()
    except (MultipartParseError, ValueError) as error:
        raise BadRequest(f"The form could not be read: {type(error).__name__}.") from None
    finally:
        form.close()
    if rules.check is not None and not form.checked:
        rules.check("")  # no token was sent
    return form
