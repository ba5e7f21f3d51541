"""Reading the publish page's multipart form as it streams in, CSRF token first.

Starlette's ``request.form()`` reads the whole body (spooling files) before a route sees
any field, so a CSRF token inside the form could only be checked after the upload was
paid for. Here the body is parsed part by part (python-multipart's streaming parser, as
Starlette uses): the ``csrf`` field must come before the file — browsers send fields in
the order of the page, where it and the other fields come first — and it is checked the
moment it has arrived. When the file part begins, a file part before a valid token is
refused at its headers, and the fields that came before it are checked (``before_file``:
may this actor publish there?), before any of its bytes are read or stored; only then is
the file streamed to the spool.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from cityshare.api.upload import safe_filename
from cityshare.errors import BadRequest

MAX_FIELD_BYTES = 2000
MAX_HEADER_BYTES = 1000


class UploadForm:
    """The fields and the one file of a multipart form, as the parser reports them."""

    def __init__(
        self,
        spool: Path,
        fields: tuple[str, ...],
        check: Callable[[str], None],
        before_file: Callable[[dict[str, str]], None],
    ) -> None:
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self._spool, self._names, self._check = spool, fields, check
        self._before_file = before_file
        self._checked = False
        self._header: list[bytes] = [b"", b""]
        self._disposition: bytes = b""
        self._name: str | None = None
        self._value = bytearray()
        self._file: IO[bytes] | None = None

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
        self._header, self._disposition, self._name = [b"", b""], b"", None
        self._value.clear()

    def _add(self, which: int, data: bytes) -> None:
        self._header[which] += data
        if len(self._header[which]) > MAX_HEADER_BYTES:
            raise BadRequest("The form could not be read: a part's header is too long.")

    def _header_end(self) -> None:
        if self._header[0].strip().lower() == b"content-disposition":
            self._disposition = self._header[1]
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if name not in self._names or name in self.fields:
                raise BadRequest(f"The form has an unexpected field {name[:40]!r}.")
            self._name = name
            return
        if not self._checked:  # refused before a byte of the file is read
            self._check("")
        if name != "file" or self._file is not None:
            raise BadRequest("Send one file, in the form's file field.", parameter="file")
        self._before_file(self.fields)
        self.filename = safe_filename(options[b"filename"].decode("utf-8", "replace"))
        self._file = self._spool.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None and self._name is None:
            self._file.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise BadRequest(f"A field is longer than {MAX_FIELD_BYTES} bytes.")

    def _end(self) -> None:
        if self._name is None:
            if self._file is not None:
                self._file.close()
            return
        value = self._value.decode("utf-8", "replace")
        self.fields[self._name] = value
        if self._name == "csrf":
            self._check(value)
            self._checked = True

    def close(self) -> None:
        """Close the spool if a refusal left it open."""
        if self._file is not None and not self._file.closed:
            self._file.close()

    @property
    def checked(self) -> bool:
        """Whether the CSRF token arrived and was right."""
        return self._checked


async def receive_upload(
    request: Request,
    spool: Path,
    fields: tuple[str, ...],
    check: Callable[[str], None],
    before_file: Callable[[dict[str, str]], None],
) -> UploadForm:
    """Read ``request``'s multipart body: the ``fields`` (``csrf`` among them, checked by
    ``check`` as soon as it arrives; ``check`` raises when it is wrong, or empty) and one
    file, streamed to ``spool`` once ``before_file`` (given the fields so far) did not
    raise."""
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise BadRequest("Send the form as multipart/form-data, with the file.")
    form = UploadForm(spool, fields, check, before_file)
    try:
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (MultipartParseError, ValueError) as error:
        raise BadRequest(f"The form could not be read: {type(error).__name__}.") from None
    finally:
        form.close()
    if not form.checked:
        check("")  # no token was sent
    return form
