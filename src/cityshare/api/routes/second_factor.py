"""Routes to enrol in, and manage, a second factor (TOTP) for password sign-in.

They take a username and password in the body instead of a token, so that administrators,
who may not sign in without a second factor, can set one up.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from cityshare.accounts import second_factor as service
from cityshare.accounts.models import RecoveryCodes, SecondFactorSetup
from cityshare.api.models import Credentials, CredentialsWithCode
from cityshare.http.deps import SiteDep
from cityshare.http.responses import JSON

router = APIRouter(prefix="/auth/second-factor", tags=["identity"])


@router.post("/setup", status_code=201, responses={201: {"model": SecondFactorSetup}})
async def setup(body: Credentials, site: SiteDep) -> JSON:
    """Start enrolment: a new secret, its otpauth:// URI and a QR code (SVG)."""
    started = await run_in_threadpool(service.begin_setup, site, body.username, body.password)
    return JSON(started.model_dump(), status_code=201)


@router.post("/confirm", status_code=201, responses={201: {"model": RecoveryCodes}})
async def confirm(body: CredentialsWithCode, site: SiteDep) -> JSON:
    """Turn the second factor on with a code from the app; recovery codes, shown once."""
    codes = await run_in_threadpool(
        service.confirm_setup, site, body.username, body.password, body.code
    )
    return JSON(codes.model_dump(), status_code=201)


@router.post("/disable", status_code=204)
async def disable(body: CredentialsWithCode, site: SiteDep) -> None:
    """Turn the second factor off (needs a current code or a recovery code)."""
    await run_in_threadpool(service.disable, site, body.username, body.password, body.code)


@router.post("/recovery-codes", status_code=201, responses={201: {"model": RecoveryCodes}})
async def recovery_codes(body: CredentialsWithCode, site: SiteDep) -> JSON:
    """New recovery codes, shown once; the old ones stop working."""
    codes = await run_in_threadpool(
        service.regenerate_recovery_codes, site, body.username, body.password, body.code
    )
    return JSON(codes.model_dump(), status_code=201)
