"""Browser sessions and CSRF tokens, without the web framework.

A session is an API token named ``web session`` that lives one day: signing in mints it
(through the same password and second-factor checks as ``POST /api/v1/auth/token``) and
the browser keeps it in an HttpOnly cookie; signing out revokes it. The user sees it in
their token list like any other. The cookie is read only on the pages' paths, never on
``/api/``: the API stays bearer-only, so a cookie can never make an API call on its own.

Every form carries a CSRF token: an HMAC, under the site's secret, of a random nonce the
browser holds in its own cookie and of the session, so a token from before signing in
(or from another browser) is refused after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from cityshare.access import ANONYMOUS, Actor
from cityshare.access.actor import ALL_SCOPES
from cityshare.accounts import tokens, users
from cityshare.errors import Forbidden, Unauthorized
from cityshare.site import Site

SESSION_COOKIE = "cityshare_session"
CSRF_COOKIE = "cityshare_csrf"
SESSION_DAYS = 1
SESSION_NAME = "web session"


@dataclass(frozen=True)
class Visit:
    """Who is looking at a page, and the CSRF token its forms carry."""

    viewer: str | None  # the signed-in username
    nonce: str  # the browser's CSRF nonce (new when ``fresh``)
    fresh: bool  # whether the nonce must be set as a cookie
    csrf: str


def visit(site: Site, actor: Actor, nonce: str | None, session: str | None) -> Visit:
    """The visit of a browser with this actor and these cookies."""
    fresh = not nonce or len(nonce) != 43
    kept = secrets.token_urlsafe(32) if fresh or nonce is None else nonce
    return Visit(actor.username, kept, fresh, csrf_token(site.secret_key, kept, session))


def csrf_token(secret: bytes, nonce: str, session: str | None) -> str:
    """The CSRF token for a browser's nonce and session."""
    message = f"csrf|{nonce}|{session or ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check_csrf(secret: bytes, nonce: str | None, session: str | None, sent: str | None) -> None:
    """Refuse a form whose CSRF token does not match this browser and session."""
    expected = csrf_token(secret, nonce, session) if nonce else ""
    if not sent or not expected or not hmac.compare_digest(expected, sent):
        raise Forbidden(
            "This form has expired or did not come from this site: reload the page and "
            "send it again."
        )


def sign_in(site: Site, username: str, password: str, code: str | None) -> str:
    """A new session token for a correct username, password and second-factor code."""
    actor = users.sign_in(site, username, password, code or None)
    created = tokens.create_token(
        site, actor, name=SESSION_NAME, scopes=ALL_SCOPES, expires_in_days=SESSION_DAYS
    )
    return created.token


def sign_out(site: Site, session: str | None) -> None:
    """Revoke the browser's session token, if it still is one."""
    if not session:
        return
    try:
        actor = tokens.authenticate_token(site, session)
    except Unauthorized:
        return  # expired or revoked already
    if actor.token_id is not None:
        tokens.revoke_token(site, actor, actor.token_id)


def session_actor(site: Site, session: str) -> Actor:
    """The actor of a session cookie; anonymous when it is no longer a live token (an
    expired session simply means signed out)."""
    try:
        return tokens.authenticate_token(site, session)
    except Unauthorized:
        return ANONYMOUS


def local_target(raw: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw
