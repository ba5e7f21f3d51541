"""The harvester's outbound HTTP client, guarded against server-side request forgery.

Every request a harvest makes goes through :class:`SafeFetcher`, which

- accepts only ``http`` and ``https`` URLs, without credentials in them, whose host is a
  plain host name or an IP address written the standard way (``http://2130706433/`` and
  ``http://0x7f.1/`` are refused, whatever they mean);
- resolves the host itself and refuses it when **any** of its addresses is loopback,
  private, link-local, multicast, unspecified or reserved, in IPv4 or IPv6, IPv4 inside
  IPv6 included (``::ffff:127.0.0.1``, NAT64, 6to4), unless the policy allows it;
- connects to the address it vetted and never resolves again, so a DNS answer that
  changes between the check and the connection (DNS rebinding) cannot move it; the
  ``Host`` header and the TLS server name stay the URL's host;
- follows redirects itself, at most ``max_redirects``, vetting each hop the same way;
- stops reading past a byte limit, waits at most ``connect_seconds`` to connect and
  ``read_seconds`` for each read, and stops the whole request, redirects included, after
  ``total_seconds``;
- sends no cookies and keeps none, reads no proxy or certificate settings from the
  environment, and sends a credential only to the origin it was given for.

The errors it raises are in :mod:`cityshare.harvest.errors`.

Example::

    with SafeFetcher(FetchPolicy()) as fetcher:
        page = fetcher.get("https://data.example.org/catalog.ttl", accept="text/turtle")
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpcore

from cityshare.harvest.errors import SourceError, SourceTimeout, SourceTooLarge, UnsafeURL
from cityshare.harvest.guard import (
    FetchPolicy,
    Target,
    address_class,
    origin_of,
    parse_url,
    policy_from_settings,
    vet,
)
from cityshare.harvest.text import plain, shown_url

REDIRECTS = frozenset({301, 302, 303, 307, 308})


# --- connecting only where vetted, within the time limits ---------------------------------


class _Deadline:
    """The end of the current request; every wait is bounded by it."""

    def __init__(self) -> None:
        self.at = math.inf

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def bound(self, timeout: float | None) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the total time limit ran out")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every wait ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.bound(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.bound(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects a vetted host only to its vetted address; refuses anything else."""

    def __init__(self, deadline: _Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline
        self._pins: dict[tuple[str, int], str] = {}

    def pin(self, target: Target) -> None:
        self._pins[(target.host, target.port)] = target.address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        address = self._pins.get((host, port))
        if address is None:
            raise httpcore.ConnectError(f"{host}:{port} was not vetted")
        stream = self._inner.connect_tcp(
            address, port, self._deadline.bound(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("the harvester connects to TCP addresses only")


# --- the client ------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """A header sent only to one origin (scheme, host, port), never across hosts."""

    origin: tuple[str, str, int]
    header: str
    value: str


@dataclass(frozen=True)
class Fetched:
    """A whole answer held in memory (a catalogue page)."""

    url: str  # after redirects
    content_type: str  # the media type, lower case, without parameters
    body: bytes


@dataclass(frozen=True)
class Downloaded:
    """An answer written to a file (a data file), with its size and SHA-256."""

    url: str
    content_type: str
    path: Path
    byte_size: int
    sha256: str


Sink = Callable[[bytes], None]


class SafeFetcher:
    """GET requests under a :class:`FetchPolicy`; see the module docstring."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._deadline = _Deadline()
        self._backend = _PinnedBackend(self._deadline)
        self._pool = httpcore.ConnectionPool(
            network_backend=self._backend, max_connections=4, retries=0
        )

    def __enter__(self) -> SafeFetcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the open connections."""
        self._pool.close()

    def get(self, url: str, *, accept: str, credential: Credential | None = None) -> Fetched:
        """The answer at ``url``, at most ``max_document_bytes`` long."""
        chunks: list[bytes] = []
        final_url, content_type = self._fetch(
            url, accept, credential, self.policy.max_document_bytes, chunks.append
        )
        return Fetched(url=final_url, content_type=content_type, body=b"".join(chunks))

    def download(
        self,
        url: str,
        destination: Path,
        *,
        accept: str,
        progress: Callable[[int], None] | None = None,
    ) -> Downloaded:
        """Write the answer at ``url`` to a new file ``destination`` (at most
        ``max_bytes``), without any credential."""
        digest = hashlib.sha256()
        size = 0
        with destination.open("xb") as handle:

            def sink(chunk: bytes) -> None:
                nonlocal size
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(size)

            final_url, content_type = self._fetch(url, accept, None, self.policy.max_bytes, sink)
        return Downloaded(final_url, content_type, destination, size, digest.hexdigest())

    def _fetch(
        self, url: str, accept: str, credential: Credential | None, limit: int, sink: Sink
    ) -> tuple[str, str]:
        self._deadline.at = time.monotonic() + self.policy.total_seconds
        current = url
        try:
            for _hop in range(self.policy.max_redirects + 1):
                target = vet(current, self.policy)
                self._backend.pin(target)
                location, content_type = self._exchange(target, accept, credential, limit, sink)
                if location is None:
                    return str(target.url), content_type
                current = str(target.url.join(location))
        except httpcore.TimeoutException:
            raise self._timeout(current) from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as error:
            raise SourceError(
                f"{shown_url(current)} could not be read: {plain(error, 120) or 'no answer'}."
            ) from None
        finally:
            self._deadline.at = math.inf
        raise SourceError(
            f"{shown_url(url)} redirects more than {self.policy.max_redirects} times."
        )

    def _exchange(
        self,
        target: Target,
        accept: str,
        credential: Credential | None,
        limit: int,
        sink: Sink,
    ) -> tuple[str | None, str]:
        """One request: the redirect's Location, or None once the body went to ``sink``."""
        url = httpcore.URL(
            scheme=target.url.scheme.encode("ascii"),
            host=target.host.encode("ascii"),
            port=target.port,
            target=target.url.raw_path,
        )
        with self._pool.stream(
            "GET", url, headers=self._headers(target, accept, credential), extensions=self._ext()
        ) as response:
            headers = {
                key.decode("latin-1").lower(): value.decode("latin-1")
                for key, value in response.headers
            }
            if response.status in REDIRECTS:
                location = headers.get("location", "").strip()
                if not location:
                    raise SourceError(f"{shown_url(str(target.url))} redirects nowhere.")
                return location, ""
            _check_answer(str(target.url), response.status, headers, limit)
            received = 0
            for chunk in response.iter_stream():
                received += len(chunk)
                if received > limit:
                    raise _too_large(str(target.url), limit)
                sink(chunk)
        return None, headers.get("content-type", "").split(";")[0].strip().lower()

    def _headers(
        self, target: Target, accept: str, credential: Credential | None
    ) -> list[tuple[str, str]]:
        headers = [
            ("Host", target.host_header),
            ("User-Agent", self.policy.user_agent),
            ("Accept", accept),
            ("Accept-Encoding", "identity"),
        ]
        if credential is not None and credential.origin == target.origin:
            headers.append((credential.header, credential.value))
        return headers

    def _ext(self) -> dict[str, Any]:
        policy = self.policy
        return {
            "timeout": {
                "connect": policy.connect_seconds,
                "read": policy.read_seconds,
                "write": policy.read_seconds,
                "pool": policy.connect_seconds,
            }
        }

    def _timeout(self, url: str) -> SourceTimeout:
        if self._deadline.expired():
            limit = f"the total time limit of {self.policy.total_seconds:g} s"
        else:
            limit = (
                f"its time limits ({self.policy.connect_seconds:g} s to connect, "
                f"{self.policy.read_seconds:g} s per read)"
            )
        return SourceTimeout(f"{shown_url(url)} did not answer within {limit}.")


def _check_answer(url: str, status: int, headers: dict[str, str], limit: int) -> None:
    """Refuse an answer before reading its body: an error, an encoding, a size."""
    if status != 200:
        raise SourceError(f"{shown_url(url)} answered HTTP {status}.", http_status=status)
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise SourceError(
            f"{shown_url(url)} answered in the encoding {plain(encoding, 40)!r}, "
            "although none was asked for."
        )
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(url, limit)


def _too_large(url: str, limit: int) -> SourceTooLarge:
    return SourceTooLarge(f"{shown_url(url)} is larger than the limit of {limit:,} bytes.")


__all__ = [
    "Credential",
    "Downloaded",
    "FetchPolicy",
    "Fetched",
    "SafeFetcher",
    "SourceError",
    "SourceTimeout",
    "SourceTooLarge",
    "Target",
    "UnsafeURL",
    "address_class",
    "origin_of",
    "parse_url",
    "policy_from_settings",
    "vet",
]
