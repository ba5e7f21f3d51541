"""Which URLs the harvester may request: the address policy, and vetting a URL.

:func:`vet` parses a URL, refuses what is not ``http(s)`` or is spelled ambiguously,
resolves the host itself and refuses it when any of its addresses is one the
:class:`FetchPolicy` does not admit. What it returns, a :class:`Target`, names the one
address :class:`cityshare.harvest.fetch.SafeFetcher` will connect to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cityshare import __version__
from cityshare.config import Settings, split_list
from cityshare.harvest.errors import SourceError, SourceTimeout, UnsafeURL
from cityshare.harvest.text import plain, shown_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 2000
USER_AGENT = f"cityshare-harvester/{__version__} (+https://cityshare.dev/docs/harvesting)"
OPT_IN_CLASSES = frozenset({"loopback", "private"})

_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*\.?$"
)


# --- which addresses may be reached ---------------------------------------------------


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(network), reason) for network, reason in rows)


_IPV4 = _table(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "private"),  # shared address space (carrier-grade NAT)
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),  # cloud metadata services live here
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # 255.255.255.255, the broadcast address, included
)
_IPV6 = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),
    ("fc00::/7", "private"),  # unique local addresses
    ("fec0::/10", "private"),  # the deprecated site-local addresses
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo included
    ("2001:db8::/32", "reserved"),
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (``"loopback"``, ``"private"``,
    ``"link-local"``, ``"multicast"``, ``"unspecified"``, ``"reserved"``), or None.

    >>> address_class(ipaddress.ip_address("::ffff:169.254.169.254"))
    'link-local'
    """
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_class(embedded)
    for network, reason in _IPV4 if address.version == 4 else _IPV6:
        if address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "reserved"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped, NAT64 or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


@dataclass(frozen=True)
class FetchPolicy:
    """What the harvester may reach, and how much and how long it may read."""

    allow_private: bool = False  # loopback and private networks: trusted sources only
    allow_networks: tuple[IPNetwork, ...] = ()  # exactly these, whatever they are
    max_bytes: int = 1024**3  # a data file
    max_document_bytes: int = 32 * 1024**2  # a catalogue answer, parsed in memory
    connect_seconds: float = 10.0
    read_seconds: float = 30.0
    total_seconds: float = 600.0
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    resolver: Resolver | None = None  # host, port -> addresses; default: the system's

    def refusal(self, address: IPAddress) -> str | None:
        """Why this policy refuses ``address``, or None when it may be reached."""
        embedded = _embedded_ipv4(address)
        for candidate in (address, embedded):
            if candidate is not None and any(candidate in net for net in self.allow_networks):
                return None
        reason = address_class(address)
        if reason in OPT_IN_CLASSES and self.allow_private:
            return None
        return reason


def policy_from_settings(
    settings: Settings,
    *,
    allow_private: bool = False,
    max_bytes: int | None = None,
    total_seconds: float | None = None,
) -> FetchPolicy:
    """The policy the settings describe; ``allow_private`` (a CLI flag) can only widen
    it, the two limits replace the settings' when given."""
    return FetchPolicy(
        allow_private=allow_private or settings.harvest_allow_private,
        allow_networks=tuple(
            ipaddress.ip_network(item, strict=False)
            for item in split_list(settings.harvest_allow_networks)
        ),
        max_bytes=max_bytes or settings.harvest_max_bytes,
        max_document_bytes=settings.harvest_max_document_bytes,
        connect_seconds=settings.harvest_connect_seconds,
        read_seconds=settings.harvest_read_seconds,
        total_seconds=total_seconds or settings.harvest_timeout_seconds,
    )


# --- vetting a URL -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A vetted URL: where it points, and the one address it may be connected to."""

    url: httpx.URL
    host: str  # as in the URL (IDNA, lower case): Host header and TLS server name
    port: int
    address: str

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and port: what a credential is bound to."""
        return (self.url.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the host, bracketed if IPv6, and a non-default port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.url.scheme]
        return host if self.port == default else f"{host}:{self.port}"


def origin_of(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL (UnsafeURL if it is not one)."""
    parsed = parse_url(url)
    return (parsed.scheme, parsed.raw_host.decode("ascii"), _port(parsed))


def parse_url(url: str) -> httpx.URL:
    """``url`` parsed, if it is an http(s) URL the harvester may request at all."""
    text = url.strip()

    def refuse(reason: str) -> UnsafeURL:
        return UnsafeURL(f"Refused {shown_url(text)}: {reason}.")

    if len(text) > MAX_URL_CHARS:
        raise refuse(f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in text):
        raise refuse("the URL contains spaces or control characters")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL:
        raise refuse("it is not a valid URL") from None
    if parsed.scheme not in SCHEMES:
        scheme = plain(parsed.scheme, 20) or "none"
        raise refuse(f"the scheme {scheme!r} is not allowed, only http and https")
    if parsed.userinfo:
        raise refuse("credentials in URLs are never sent (give a token instead)")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise refuse("it has no host")
    if ":" not in host and not _HOSTNAME.fullmatch(host):
        raise refuse(f"{plain(host, 80)!r} is not a valid host name")
    loose = _loose_ipv4(host)
    if loose is not None:
        raise refuse(
            f"{host!r} is an IPv4 address written in a non-standard form (it means "
            f"{loose}); write addresses as four decimal numbers"
        )
    return parsed


def vet(url: str, policy: FetchPolicy) -> Target:
    """Check ``url`` against ``policy``; the target with the one address to connect to."""
    parsed = parse_url(url)
    host = parsed.raw_host.decode("ascii")
    port = _port(parsed)
    literal = _ip_literal(url, host)
    addresses = [literal] if literal is not None else _resolve(host, port, policy)
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            what = f"{host} is" if literal is not None else f"{host} resolves to {address},"
            article = "an" if reason[0] in "aeiou" else "a"
            refused = UnsafeURL(
                f"Refused {shown_url(url)}: {what} {article} {reason} address, and harvest "
                "sources must be public."
            )
            refused.opt_in = reason in OPT_IN_CLASSES
            raise refused
    return Target(url=parsed, host=host, port=port, address=str(addresses[0]))


def _port(parsed: httpx.URL) -> int:
    return parsed.port or DEFAULT_PORTS[parsed.scheme]


def _loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a host stands for when C's ``inet_aton`` reads it as IPv4 but it is
    not a standard dotted quad (``2130706433``, ``0x7f.1``, ``017700000001``)."""
    try:
        packed = socket.inet_aton(host)
    except OSError:
        return None
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return ipaddress.IPv4Address(packed)
    return None


def _ip_literal(url: str, host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.replace("%25", "%"))
    except ValueError:
        if ":" in host:
            raise UnsafeURL(f"Refused {shown_url(url)}: not a valid IPv6 address.") from None
        return None


def _resolve(host: str, port: int, policy: FetchPolicy) -> list[IPAddress]:
    """Every address ``host`` resolves to, within the connect time limit."""
    resolver = policy.resolver or system_resolver
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["names"] = list(resolver(host, port))
        except OSError as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, name="harvest-resolve", daemon=True)
    worker.start()
    worker.join(policy.connect_seconds)
    if worker.is_alive():
        raise SourceTimeout(f"Could not resolve {host} within {policy.connect_seconds:g} s.")
    if "error" in outcome or not outcome.get("names"):
        raise SourceError(f"Could not resolve the host {host}.")
    addresses: list[IPAddress] = []
    for name in outcome["names"]:
        address = ipaddress.ip_address(str(name).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
