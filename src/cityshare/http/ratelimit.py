"""Rate limits per token and per client address, as pure ASGI middleware.

It runs after authentication and reads the actor from ``scope["state"]["actor"]``:

- a request with a token spends from the token's bucket (a device actor, from its own);
- an anonymous request spends from its client address's bucket (an IPv6 address's /64
  network: one host usually holds a whole /64);
- a request that checks a password (``POST /api/v1/auth/token`` and the other ``POST``
  routes under ``/api/v1/auth/``, which take a username and password in their body) spends
  from a much smaller bucket of its client address, whoever sends it.

A request whose credentials are refused (a bad or revoked token, a malformed header)
spends from its client address's sign-in bucket too (:class:`FailedAuthentication`, which
authentication calls): once that is empty, every request of the address that carries
credentials is answered 429 before its token is even looked at, so tokens cannot be tried
faster than passwords.

Addresses in ``CITYSHARE_RATE_LIMIT_EXEMPT`` are never limited per address. A request
over its limit gets ``429`` problem+json with ``Retry-After``; every limited answer
carries ``RateLimit-Limit`` and ``RateLimit-Remaining``.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityshare.access import Actor
from cityshare.config import Settings, split_list
from cityshare.errors import TooManyRequests
from cityshare.http.responses import problem_response
from cityshare.ratelimit import LimitDecision, TokenBucketLimiter, client_network
from cityshare.site import Site


class Rule(NamedTuple):
    """One kind of bucket: its refill rate (tokens a second), burst, and whom it counts."""

    rate: float
    burst: int
    who: str  # what it counts, for the 429's detail
    limit_header: tuple[bytes, bytes]  # RateLimit-Limit: the burst

    @classmethod
    def of(cls, rate: float, burst: int, who: str) -> Rule:
        """The rule of ``burst`` refilled at ``rate`` a second (0: switched off)."""
        return cls(rate, burst, who, (b"ratelimit-limit", b"%d" % burst))

    @property
    def active(self) -> bool:
        """False when the setting switched this limit off (rate 0)."""
        return self.rate > 0


@dataclass(frozen=True, slots=True)
class Rules:
    """The limits of a site, from its settings."""

    token: Rule
    address: Rule
    sign_in: Rule

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        """The three kinds of bucket the settings describe."""
        return cls(
            token=Rule.of(
                settings.rate_limit_token_per_second, settings.rate_limit_token_burst, "this token"
            ),
            address=Rule.of(
                settings.rate_limit_address_per_second,
                settings.rate_limit_address_burst,
                "your address",
            ),
            sign_in=Rule.of(
                settings.rate_limit_sign_in_per_minute / 60,
                settings.rate_limit_sign_in_burst,
                "password sign-ins from your address",
            ),
        )


class Exemptions:
    """Client addresses never limited per address: exact addresses and networks."""

    def __init__(self, entries: list[str]) -> None:
        self.exact: frozenset[str] = frozenset(e for e in entries if "/" not in e)
        self.networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries if "/" in e)

    def __contains__(self, host: str) -> bool:
        if host in self.exact:
            return True
        if not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class RateLimitMiddleware:
    """Spend one token of the request's bucket; answer 429 when it is empty."""

    def __init__(self, app: ASGIApp, site: Site, sign_in_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.limiter: TokenBucketLimiter = site.rate_limiter
        self.rules = Rules.from_settings(site.settings)
        self.exempt = Exemptions(split_list(site.settings.rate_limit_exempt))
        self.sign_in_prefixes = sign_in_prefixes  # password checks: throttled per address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bucket = self._bucket(scope)
        if bucket is None:
            await self.app(scope, receive, send)
            return
        key, rule = bucket
        decision = await self.limiter.ahit(key, rule.rate, rule.burst)
        headers = _headers(rule, decision)
        if not decision.allowed:
            await _refuse(scope, receive, send, rule, decision, headers)
            return
        await self.app(scope, receive, _adding(send, headers))

    def _bucket(self, scope: Scope) -> tuple[str, Rule] | None:
        """The key and limit this request counts against, or None if it is not limited."""
        rules = self.rules
        if scope["method"] == "POST" and scope["path"].startswith(self.sign_in_prefixes):
            address = self._address(scope)
            active = rules.sign_in.active and address is not None
            return (f"sign-in:{address}", rules.sign_in) if active else None
        actor: Actor | None = scope.get("state", {}).get("actor")
        if actor is not None and actor.token_id is not None:
            return (f"token:{actor.token_id}", rules.token) if rules.token.active else None
        if actor is not None and actor.device_id is not None:
            return (f"device:{actor.device_id}", rules.token) if rules.token.active else None
        if not rules.address.active:
            return None
        address = self._address(scope)
        return None if address is None else (f"address:{address}", rules.address)

    def _address(self, scope: Scope) -> str | None:
        return bucket_address(scope, self.exempt)


MAX_BLOCKED = 10_000  # addresses one process remembers as throttled


class FailedAuthentication:
    """Failed authentications per client address, in the sign-in bucket's size
    (``CITYSHARE_RATE_LIMIT_SIGN_IN_*``; its own bucket, ``auth-failure:ADDRESS``).

    Each failure spends one token; when none is left, the failure is answered 429 and
    the address is remembered as throttled until a token is back, so its next requests
    with credentials are answered 429 without checking them (each process learns it from
    its own first refused failure: with Redis, one more check per process and window).
    """

    def __init__(self, site: Site) -> None:
        self.limiter: TokenBucketLimiter = site.rate_limiter
        self.rule = Rules.from_settings(site.settings).sign_in
        self.exempt = Exemptions(split_list(site.settings.rate_limit_exempt))
        self._blocked: OrderedDict[str, float] = OrderedDict()  # address: until (monotonic)

    def throttled(self, scope: Scope) -> TooManyRequests | None:
        """The 429 for a request with credentials from an address still throttled."""
        if not self._blocked:
            return None
        address = bucket_address(scope, self.exempt)
        if address is None or address not in self._blocked:
            return None
        wait = self._blocked[address] - time.monotonic()
        if wait <= 0:
            del self._blocked[address]
            return None
        return self._error(wait)

    async def failed(self, scope: Scope) -> TooManyRequests | None:
        """Count one failure of the request's address; the 429 when it was one too many."""
        address = bucket_address(scope, self.exempt)
        if address is None or not self.rule.active:
            return None
        decision = await self.limiter.ahit(
            f"auth-failure:{address}", self.rule.rate, self.rule.burst
        )
        if decision.allowed:
            return None
        self._blocked[address] = time.monotonic() + decision.retry_after
        self._blocked.move_to_end(address)
        while len(self._blocked) > MAX_BLOCKED:
            self._blocked.popitem(last=False)
        return self._error(decision.retry_after)

    def _error(self, wait: float) -> TooManyRequests:
        # The same words every time (the wait is in Retry-After): the audit log counts
        # repeats of one reason rather than appending each.
        rule = self.rule
        return TooManyRequests(
            f"Too many failed authentications from your address: at most {rule.burst}, then "
            f"{rule.rate * 60:g} a minute. Try again after the seconds in Retry-After.",
            retry_after=max(1, math.ceil(wait)),
        )


def bucket_address(scope: Scope, exempt: Exemptions) -> str | None:
    """The client's address as a bucket name (an IPv6 address's /64); None when it is
    exempt or unknown."""
    client = scope.get("client")
    if not client:
        return None  # a Unix socket: only local processes reach it
    host = str(client[0])
    if host in exempt:
        return None
    return client_network(host)


def _headers(rule: Rule, decision: LimitDecision) -> list[tuple[bytes, bytes]]:
    return [rule.limit_header, (b"ratelimit-remaining", b"%d" % decision.remaining)]


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    rule: Rule,
    decision: LimitDecision,
    headers: list[tuple[bytes, bytes]],
) -> None:
    wait = decision.retry_after_seconds
    per = f"{rule.rate * 60:g} a minute" if rule.rate < 1 else f"{rule.rate:g} a second"
    error = TooManyRequests(
        f"Too many requests for {rule.who}: the limit is {per}, in bursts of at most "
        f"{rule.burst}. Try again in {wait} second{'s' if wait != 1 else ''}.",
        retry_after=wait,
    )
    response = problem_response(error, scope.get("path"))
    response.raw_headers.extend(headers)
    await response(scope, receive, send)


def _adding(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return send_with_headers
