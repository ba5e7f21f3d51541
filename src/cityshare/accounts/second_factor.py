"""A second factor for people signing in: TOTP enrolment, recovery codes, the sign-in check.

The changes here are authenticated by username and password (not by a token), so that an
administrator who may not sign in yet (see :func:`cityshare.accounts.users.sign_in`) can
enrol. A wrong username or password is refused exactly as a wrong sign-in is. Every change,
and every refused attempt, is written to the audit log.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import segno
from sqlalchemy import Connection, delete, select, update

from cityshare.access import Actor, SiteResource, ensure_allowed, totp
from cityshare.access.passwords import verify_password
from cityshare.accounts.models import RecoveryCodes, SecondFactorSetup
from cityshare.audit.log import Event, audit, record
from cityshare.clock import utcnow
from cityshare.errors import (
    BadRequest,
    CityshareError,
    Conflict,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from cityshare.site import Site
from cityshare.storage.schema import recovery_codes, users

WRONG_CREDENTIALS = "Wrong username or password."
SETUP_ROUTE = "/api/v1/auth/second-factor/setup"
CONFIRM_ROUTE = "/api/v1/auth/second-factor/confirm"
# The problem extension that tells clients which second factor to send.
HINT = {"second_factor": "totp"}

SIGN_IN = "auth.sign-in"
SETUP = "auth.second-factor.setup"
ENABLE = "auth.second-factor.enable"
DISABLE = "auth.second-factor.disable"
RECOVERY_CODES = "auth.second-factor.recovery-codes"
RESET = "auth.second-factor.reset"

_ErrorT = TypeVar("_ErrorT", bound=CityshareError)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Account:
    """What sign-in needs to know of one user, once their password was checked."""

    id: int
    username: str
    is_site_admin: bool
    totp_enabled: bool

    def as_actor(self) -> Actor:
        """The user as the audit log names them (no token: they gave their password)."""
        return Actor(
            user_id=self.id,
            username=self.username,
            is_site_admin=self.is_site_admin,
            scopes=frozenset(),
        )


def _throttle(site: Site, username: str) -> None:
    settings = site.settings
    decision = site.rate_limiter.hit(
        f"password:{username.lower()[:100]}",
        rate=settings.rate_limit_sign_in_per_minute / 60,
        burst=settings.rate_limit_sign_in_burst,
    )
    if not decision.allowed:
        raise TooManyRequests(
            "Too many password attempts for this account: wait before trying again.",
            retry_after=decision.retry_after_seconds,
        )


def check_password(site: Site, username: str, password: str, *, action: str) -> Account:
    """The account for a correct username and password; an audited Unauthorized otherwise.

    The answer, and the time it takes, are the same whether or not the user exists.
    Attempts per username are throttled like those per address (the middleware's), so
    guessing one account's password from many addresses is as slow as from one.
    """
    _throttle(site, username)
    with site.engine.connect() as connection:
        row = connection.execute(
            select(
                users.c.id,
                users.c.username,
                users.c.is_site_admin,
                users.c.password_hash,
                users.c.totp_enabled_at,
            ).where(users.c.username == username)
        ).first()
    stored = row.password_hash if row is not None else None
    if not verify_password(stored, password) or row is None:
        raise refusal(site, Unauthorized(WRONG_CREDENTIALS), action, username, "wrong-credentials")
    return Account(
        id=row.id,
        username=row.username,
        is_site_admin=bool(row.is_site_admin),
        totp_enabled=row.totp_enabled_at is not None,
    )


def refusal(site: Site, error: _ErrorT, action: str, username: str, reason: str) -> _ErrorT:
    """Record a refused attempt at ``action`` and mark ``error`` audited; the caller raises it."""
    resource = {"username": username[:100]}
    record(site, Event(action, None, "deny", resource=resource, detail={"reason": reason}))
    error.audited = True
    return error


def sign_in_with_code(site: Site, account: Account, code: str | None) -> str:
    """Accept ``code`` once for a sign-in and record the sign-in; how (``totp`` or
    ``recovery-code``). A missing or wrong code is an audited Unauthorized."""
    if not code:
        missing = Unauthorized(
            "This account uses a second factor: send the current 6-digit code from your "
            "authenticator app (or one of your recovery codes) in `code`.",
            **HINT,
        )
        raise refusal(site, missing, SIGN_IN, account.username, "second-factor-missing")
    return _with_code(site, account, code, SIGN_IN, lambda _connection: None)[0]


def begin_setup(site: Site, username: str, password: str) -> SecondFactorSetup:
    """Start enrolment: a new secret (stored encrypted, not enabled yet), its ``otpauth://``
    URI and that URI as a QR code (SVG). Confirm with :func:`confirm_setup`."""
    account = check_password(site, username, password, action=SETUP)
    secret = totp.new_secret()
    stored = totp.encrypt_secret(site.secret_key, secret)
    with site.writer.begin() as connection:
        pending = connection.execute(
            update(users)
            .where(users.c.id == account.id, users.c.totp_enabled_at.is_(None))
            .values(totp_secret=stored, totp_last_step=None)
        )
        if pending.rowcount != 1:
            raise _already_enabled()
        audit(connection, account.as_actor(), SETUP, username=account.username)
    uri = totp.provisioning_uri(secret, account.username)
    return SecondFactorSetup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


def confirm_setup(site: Site, username: str, password: str, code: str) -> RecoveryCodes:
    """Enable the pending second factor with a valid code; the new recovery codes (shown
    once: only their hashes are kept)."""
    account = check_password(site, username, password, action=ENABLE)
    with site.writer.begin() as connection:
        codes = _enable(connection, site.secret_key, account, code)
    if codes is None:
        wrong = BadRequest(
            "The code does not match the new secret: check that the authenticator app's "
            "clock is right, and send the code it shows now.",
            parameter="code",
        )
        raise refusal(site, wrong, ENABLE, account.username, "code")
    return RecoveryCodes(recovery_codes=codes)


def disable(site: Site, username: str, password: str, code: str) -> None:
    """Turn the second factor off (a current code or a recovery code is needed)."""
    account = _enabled_account(site, username, password, DISABLE)
    _with_code(site, account, code, DISABLE, lambda connection: _clear(connection, account.id))


def regenerate_recovery_codes(site: Site, username: str, password: str, code: str) -> RecoveryCodes:
    """New recovery codes (shown once); the old ones stop working."""
    account = _enabled_account(site, username, password, RECOVERY_CODES)
    _method, codes = _with_code(
        site,
        account,
        code,
        RECOVERY_CODES,
        lambda connection: _replace_recovery_codes(connection, account.id),
    )
    return RecoveryCodes(recovery_codes=codes)


def reset(site: Site, actor: Actor, username: str) -> bool:
    """Remove a user's second factor (site administrators, for a user who lost theirs);
    True if one was enabled."""
    ensure_allowed(actor, "user.second-factor.reset", SiteResource())
    with site.writer.begin() as connection:
        row = connection.execute(
            select(users.c.id, users.c.totp_enabled_at).where(users.c.username == username)
        ).first()
        if row is None:
            raise NotFound(f"No user named {username[:80]!r}.")
        was_enabled = row.totp_enabled_at is not None
        _clear(connection, row.id)
        audit(connection, actor, RESET, username=username, detail={"was_enabled": was_enabled})
    return was_enabled


def accept_code(connection: Connection, site_secret: bytes, user_id: int, code: str) -> str | None:
    """Use ``code`` once, inside the caller's write transaction: a TOTP code of a step later
    than the last one accepted (``totp``), or an unused recovery code (``recovery-code``)."""
    row = connection.execute(
        select(users.c.totp_secret, users.c.totp_enabled_at, users.c.totp_last_step)
        .where(users.c.id == user_id)
        .with_for_update()
    ).first()
    if row is None or row.totp_enabled_at is None or row.totp_secret is None:
        return None
    secret = totp.decrypt_secret(site_secret, row.totp_secret)
    step = None if secret is None else totp.matching_step(secret, code, after=row.totp_last_step)
    if step is not None:
        connection.execute(update(users).where(users.c.id == user_id).values(totp_last_step=step))
        return "totp"
    return "recovery-code" if _use_recovery_code(connection, user_id, code) else None


def qr_svg(uri: str) -> str:
    """``uri`` as a QR code, a standalone SVG document."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, title="cityshare"
    )
    return buffer.getvalue().decode()


def _with_code(
    site: Site, account: Account, code: str, action: str, change: Callable[[Connection], _T]
) -> tuple[str, _T]:
    """Accept ``code`` and make ``change`` in one transaction, audited as ``action``."""
    with site.writer.begin() as connection:
        method = accept_code(connection, site.secret_key, account.id, code)
        if method is not None:
            result = change(connection)
            detail = {"second_factor": method}
            audit(connection, account.as_actor(), action, username=account.username, detail=detail)
            return method, result
    wrong = Unauthorized("Wrong or already used second-factor code.", **HINT)
    raise refusal(site, wrong, action, account.username, "second-factor-wrong")


def _enabled_account(site: Site, username: str, password: str, action: str) -> Account:
    account = check_password(site, username, password, action=action)
    if not account.totp_enabled:
        raise Conflict(f"This account has no second factor: set one up with POST {SETUP_ROUTE}.")
    return account


def _enable(
    connection: Connection, site_secret: bytes, account: Account, code: str
) -> list[str] | None:
    row = connection.execute(
        select(users.c.totp_secret, users.c.totp_enabled_at)
        .where(users.c.id == account.id)
        .with_for_update()
    ).one()
    if row.totp_enabled_at is not None:
        raise _already_enabled()
    if row.totp_secret is None:
        raise Conflict(f"No second-factor setup is pending: start with POST {SETUP_ROUTE}.")
    secret = totp.decrypt_secret(site_secret, row.totp_secret)
    step = None if secret is None else totp.matching_step(secret, code)
    if step is None:
        return None
    connection.execute(
        update(users)
        .where(users.c.id == account.id)
        .values(totp_enabled_at=utcnow(), totp_last_step=step)
    )
    codes = _replace_recovery_codes(connection, account.id)
    detail: dict[str, Any] = {"recovery_codes": len(codes)}
    audit(connection, account.as_actor(), ENABLE, username=account.username, detail=detail)
    return codes


def _use_recovery_code(connection: Connection, user_id: int, code: str) -> bool:
    canonical = totp.normalise_recovery_code(code)
    if canonical is None:
        return False
    digest = totp.recovery_code_hash(canonical)
    unused = connection.execute(
        select(recovery_codes.c.id, recovery_codes.c.code_hash).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
        )
    ).all()
    matches = [row.id for row in unused if totp.hashes_match(row.code_hash, digest)]
    if not matches:
        return False
    connection.execute(
        update(recovery_codes)
        .where(recovery_codes.c.id == matches[0], recovery_codes.c.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return True


def _replace_recovery_codes(connection: Connection, user_id: int) -> list[str]:
    connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    codes = totp.new_recovery_codes()
    now = utcnow()
    connection.execute(
        recovery_codes.insert(),
        [
            {"user_id": user_id, "code_hash": totp.recovery_code_hash(code), "created_at": now}
            for code in codes
        ],
    )
    return codes


def _clear(connection: Connection, user_id: int) -> None:
    connection.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
    )
    connection.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))


def _already_enabled() -> Conflict:
    return Conflict(
        "A second factor is already enabled for this account: to replace it, turn it off "
        "first (POST /api/v1/auth/second-factor/disable)."
    )
