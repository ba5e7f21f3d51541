"""The harvester's SSRF guard, without the network: local servers on loopback addresses
that the policy admits one by one, so every refusal is a real one.

The servers listen on 127.0.0.1, which the tests allow explicitly (``allow_networks``);
127.0.0.2 is loopback too but not allowed, so a redirect there is refused like a redirect
into any private network would be, and that server proves it was never asked.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from cityshare.config import Settings
from cityshare.harvest.fetch import (
    Credential,
    FetchPolicy,
    SafeFetcher,
    SourceError,
    SourceTimeout,
    SourceTooLarge,
    UnsafeURL,
    address_class,
    policy_from_settings,
    vet,
)
from cityshare.harvest.text import plain, shown_url
from tests.harvest.servers import Running, serve

LOOPBACK_ONE = (ipaddress.ip_network("127.0.0.1/32"),)


def resolver(
    table: dict[str, Sequence[str]], calls: list[str] | None = None
) -> Callable[[str, int], list[str]]:
    """A resolver answering from ``table`` (and noting each question in ``calls``)."""

    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"no such host {host}")
        return list(table[host])

    return resolve


def allowed(**changes: object) -> FetchPolicy:
    """A policy that lets exactly 127.0.0.1 through, with short limits."""
    values: dict[str, object] = {
        "allow_networks": LOOPBACK_ONE,
        "max_bytes": 1000,
        "max_document_bytes": 1000,
        "total_seconds": 10.0,
        "read_seconds": 5.0,
        "resolver": resolver({}),
    }
    values.update(changes)
    return FetchPolicy(**values)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[Running]:
    with serve("127.0.0.1") as running:
        yield running


@pytest.fixture
def other_loopback() -> Iterator[Running]:
    """A server on 127.0.0.2: loopback, and not allowed by :func:`allowed`."""
    with serve("127.0.0.2") as running:
        yield running


# --- refused before any connection ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://example.org/data.csv", "scheme 'ftp' is not allowed"),
        ("gopher://example.org:70/_GET", "scheme 'gopher' is not allowed"),
        ("data:text/csv,a%2Cb", "scheme 'data' is not allowed"),
        ("javascript:alert(1)", "scheme 'javascript' is not allowed"),
        ("//example.org/catalog", "scheme 'none' is not allowed"),
        ("http://user:secret@example.org/", "credentials in URLs are never sent"),
        ("http://exa mple.org/", "spaces or control characters"),
        ("http://0177.0.0.01/", "not a valid URL"),  # octal quads: httpx refuses them
        ("http://example.org/\r\nX-Injected: 1", "spaces or control characters"),
        ("http://" + "a" * 2100 + ".org/", "longer than 2000 characters"),
    ],
)
def test_urls_refused_by_their_form(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        vet(url, FetchPolicy(resolver=resolver({})))
    assert reason in refused.value.detail
    assert refused.value.detail.startswith("Refused ")
    assert "secret" not in refused.value.detail


@pytest.mark.parametrize(
    ("url", "shown", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address", "loopback"),
        ("http://127.255.0.9:8080/x", "127.255.0.9 is a loopback address", "loopback"),
        ("http://[::1]/", "::1 is a loopback address", "loopback"),
        ("http://10.0.0.8/", "10.0.0.8 is a private address", "private"),
        ("http://172.16.3.4/", "172.16.3.4 is a private address", "private"),
        ("http://172.31.255.255/", "private address", "private"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address", "private"),
        ("http://100.64.0.1/", "private address", "private"),
        ("http://[fd12:3456::1]/", "private address", "private"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address",
            "link-local",
        ),
        ("http://[fe80::1]/", "fe80::1 is a link-local address", "link-local"),
        ("http://[fe80::1%25eth0]/", "link-local address", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "link-local address", "link-local"),
        ("http://[64:ff9b::a00:1]/", "private address", "private"),  # NAT64 of 10.0.0.1
        ("http://[2002:7f00:1::]/", "loopback address", "loopback"),  # 6to4 of 127.0.0.1
        ("http://[::7f00:1]/", "reserved address", "reserved"),  # IPv4-compatible
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address", "unspecified"),
        ("http://[::]/", "unspecified address", "unspecified"),
        ("http://224.0.0.251/", "multicast address", "multicast"),
        ("http://[ff02::1]/", "multicast address", "multicast"),
        ("http://255.255.255.255/", "reserved address", "reserved"),
        ("http://192.0.2.10/", "reserved address", "reserved"),
        ("http://[2001:db8::1]/", "reserved address", "reserved"),
    ],
)
def test_addresses_refused(url: str, shown: str, reason: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        vet(url, FetchPolicy(resolver=resolver({})))
    detail = refused.value.detail
    assert detail.startswith(f"Refused {shown_url(url)}:") and shown in detail
    assert "harvest sources must be public" in detail
    assert refused.value.opt_in is (reason in ("loopback", "private"))


@pytest.mark.parametrize(
    ("url", "means"),
    [
        ("http://2130706433/", "127.0.0.1"),  # decimal
        ("http://017700000001/", "127.0.0.1"),  # octal
        ("http://0x7f000001/", "127.0.0.1"),  # hex
        ("http://0x7f.0.0.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),  # noqa: S104 - a URL under test, not a bind
        ("http://0xa9fea9fe/", "169.254.169.254"),
        ("http://134744072/", "8.8.8.8"),  # refused too: only the standard form is read
    ],
)
def test_non_standard_ipv4_spellings_are_refused(url: str, means: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        vet(url, FetchPolicy(allow_private=True, resolver=resolver({})))
    assert f"non-standard form (it means {means})" in refused.value.detail


def test_a_host_name_that_resolves_to_loopback_is_refused() -> None:
    with pytest.raises(UnsafeURL) as refused:
        vet("http://localhost:8000/api/3/action/status_show", FetchPolicy())
    assert "localhost resolves to 127.0.0.1, a loopback address" in refused.value.detail
    internal = resolver({"intranet.example.org": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(UnsafeURL) as mixed:  # one bad address among good ones is enough
        vet("https://intranet.example.org/catalog.ttl", FetchPolicy(resolver=internal))
    assert "resolves to 10.1.2.3, a private address" in mixed.value.detail


def test_public_addresses_pass_and_the_opt_in_admits_only_private_and_loopback() -> None:
    public = resolver({"data.example.org": ["93.184.216.34", "2606:2800:220:1::1"]})
    target = vet("https://data.example.org/catalog.ttl", FetchPolicy(resolver=public))
    assert (target.address, target.host_header) == ("93.184.216.34", "data.example.org")
    opt_in = FetchPolicy(allow_private=True, resolver=resolver({}))
    assert vet("http://10.0.0.8:8080/", opt_in).host_header == "10.0.0.8:8080"
    assert vet("http://[::1]:81/", opt_in).host_header == "[::1]:81"
    for url in ("http://169.254.169.254/", "http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(UnsafeURL):
            vet(url, opt_in)
    networks = FetchPolicy(
        allow_networks=(ipaddress.ip_network("10.20.0.0/16"),), resolver=resolver({})
    )
    assert vet("http://10.20.3.4/", networks).address == "10.20.3.4"
    with pytest.raises(UnsafeURL):
        vet("http://10.21.3.4/", networks)


def test_address_classes() -> None:
    assert address_class(ipaddress.ip_address("93.184.216.34")) is None
    assert address_class(ipaddress.ip_address("2a00:1450:4001::1")) is None
    assert address_class(ipaddress.ip_address("::ffff:10.0.0.1")) == "private"
    assert address_class(ipaddress.ip_address("100::1")) == "reserved"


def test_the_settings_make_the_policy() -> None:
    settings = Settings(
        harvest_allow_networks="10.5.0.0/16, 192.168.7.7",
        harvest_max_bytes=5000,
        harvest_timeout_seconds=12.5,
    )
    policy = policy_from_settings(settings)
    assert policy.allow_private is False and policy.max_bytes == 5000
    assert policy.allow_networks == (
        ipaddress.ip_network("10.5.0.0/16"),
        ipaddress.ip_network("192.168.7.7/32"),
    )
    wider = policy_from_settings(settings, allow_private=True, max_bytes=10, total_seconds=2)
    assert (wider.allow_private, wider.max_bytes, wider.total_seconds) == (True, 10, 2)
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(harvest_allow_networks="intranet")


def test_shown_text_loses_control_characters_and_credentials() -> None:
    assert shown_url("https://u:p@example.org/a?b=1#frag") == "https://example.org/a?b=1"
    assert plain("evil\x1b[31mred\nnext line") == "evil [31mred next line"
    assert len(plain("x" * 500)) == 200


# --- real requests to allowed and refused loopback servers ---------------------------------


def test_an_allowed_server_is_read_with_clean_headers(server: Running) -> None:
    with SafeFetcher(allowed()) as fetcher:
        assert fetcher.get(f"{server.url}/cookie", accept="text/plain").body == b"cookie set"
        echoed = fetcher.get(f"{server.url}/echo", accept="text/plain").body.decode()
    assert f"host: 127.0.0.1:{server.port}" in echoed
    assert "user-agent: cityshare-harvester/" in echoed
    assert "accept-encoding: identity" in echoed
    assert "cookie" not in echoed  # the cookie of the first answer was not kept


def test_the_connection_goes_to_the_vetted_address_resolved_once(server: Running) -> None:
    calls: list[str] = []
    rebinding = {"catalogue.example.org": ["127.0.0.1"]}
    policy = allowed(resolver=resolver(rebinding, calls))
    with SafeFetcher(policy) as fetcher:
        url = f"http://catalogue.example.org:{server.port}/echo"
        echoed = fetcher.get(url, accept="text/plain").body.decode()
        assert calls == ["catalogue.example.org"]  # one question, one vetted answer
        assert f"host: catalogue.example.org:{server.port}" in echoed  # Host kept
        rebinding["catalogue.example.org"] = ["127.0.0.2"]  # the DNS answer changes
        with pytest.raises(UnsafeURL, match=r"resolves to 127\.0\.0\.2, a loopback address"):
            fetcher.get(url, accept="text/plain")


def test_a_redirect_into_a_refused_address_is_not_followed(
    server: Running, other_loopback: Running
) -> None:
    with SafeFetcher(allowed()) as fetcher:
        for target in (
            f"{other_loopback.url}/ok",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://2130706433/",
            "file:///etc/passwd",
        ):
            with pytest.raises(UnsafeURL) as refused:
                fetcher.get(f"{server.url}/redirect?to={target}", accept="*/*")
            assert refused.value.detail.startswith(f"Refused {shown_url(target)}")
    assert other_loopback.seen.requests == []  # never connected to


def test_a_relative_redirect_is_followed_and_credentials_stay_home(server: Running) -> None:
    with serve("127.0.0.1") as elsewhere, SafeFetcher(allowed()) as fetcher:
        token = Credential(("http", "127.0.0.1", server.port), "Authorization", "Bearer t0k")
        fetched = fetcher.get(f"{server.url}/redirect?to=/echo", accept="*/*", credential=token)
        assert "authorization: Bearer t0k" in fetched.body.decode()
        assert fetched.url == f"{server.url}/echo"
        away = f"{server.url}/redirect?to={elsewhere.url}/echo"
        echoed = fetcher.get(away, accept="*/*", credential=token).body.decode()
        assert "authorization" not in echoed
    assert "Authorization" not in elsewhere.seen.requests[0][1]


def test_at_most_five_redirects(server: Running) -> None:
    with SafeFetcher(allowed()) as fetcher:
        assert fetcher.get(f"{server.url}/chain?n=0&end=5", accept="*/*").body == b"hello"
        with pytest.raises(SourceError, match="redirects more than 5 times"):
            fetcher.get(f"{server.url}/chain?n=0&end=6", accept="*/*")


def test_size_limits(server: Running, tmp_path: Path) -> None:
    with SafeFetcher(allowed()) as fetcher:
        assert len(fetcher.get(f"{server.url}/big?size=1000", accept="*/*").body) == 1000
        with pytest.raises(SourceTooLarge, match="larger than the limit of 1,000 bytes"):
            fetcher.get(f"{server.url}/big?size=1001", accept="*/*")  # said so up front
        with pytest.raises(SourceTooLarge, match=r"/endless is larger than the limit"):
            fetcher.get(f"{server.url}/endless", accept="*/*")  # found out while reading
        # A Content-Length that lies low: exactly what it declared is read, nothing more.
        assert fetcher.get(f"{server.url}/lying", accept="*/*").body == b"y" * 10
        with pytest.raises(SourceTooLarge):
            fetcher.download(f"{server.url}/endless", tmp_path / "data.csv", accept="text/csv")
        assert (tmp_path / "data.csv").stat().st_size <= 1000


def test_download_writes_the_file_with_its_digest(server: Running, tmp_path: Path) -> None:
    seen: list[int] = []
    with SafeFetcher(allowed()) as fetcher:
        url = f"{server.url}/big?size=600"
        done = fetcher.download(url, tmp_path / "d.csv", accept="text/csv", progress=seen.append)
    assert (done.byte_size, done.content_type, seen[-1]) == (600, "text/csv", 600)
    assert done.sha256 == hashlib.sha256(b"x" * 600).hexdigest()


def test_time_limits(server: Running) -> None:
    quick = allowed(total_seconds=1.0, read_seconds=5.0)
    with SafeFetcher(quick) as fetcher:
        for path in ("/trickle", "/trickle-headers"):
            started = time.monotonic()
            with pytest.raises(SourceTimeout, match="total time limit of 1 s"):
                fetcher.get(f"{server.url}{path}", accept="*/*")
            assert time.monotonic() - started < 3
    slow = pytest.raises(SourceTimeout, match=r"0\.5 s per read")
    with SafeFetcher(allowed(read_seconds=0.5)) as fetcher, slow:
        fetcher.get(f"{server.url}/stall", accept="*/*")


def test_answers_it_cannot_use(server: Running) -> None:
    with SafeFetcher(allowed()) as fetcher:
        with pytest.raises(SourceError, match="answered HTTP 404") as missing:
            fetcher.get(f"{server.url}/nowhere", accept="*/*")
        assert missing.value.http_status == 404
        with pytest.raises(SourceError, match="encoding 'br'"):
            fetcher.get(f"{server.url}/brotli", accept="*/*")
    closed = allowed(allow_networks=LOOPBACK_ONE)
    with SafeFetcher(closed) as fetcher, pytest.raises(SourceError, match="could not be read"):
        fetcher.get("http://127.0.0.1:9/", accept="*/*")  # nothing listens on port 9
