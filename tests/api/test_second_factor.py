"""A second factor (TOTP, RFC 6238) with recovery codes, over HTTP and the CLI.

Codes are computed here from the secret the setup route returns, with RFC 6238 written
out below, independently of ``cityshare.access.totp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from cityshare.accounts import organisations, users
from cityshare.accounts.console import console_actor
from cityshare.cli.app import app
from cityshare.errors import Forbidden, NotFound
from cityshare.site import Site
from cityshare.storage.schema import recovery_codes
from cityshare.storage.schema import users as users_table
from tests.world import OWNER, World, audit_entries

PASSWORD = "correct horse battery staple"
SIGN_IN = "/api/v1/auth/token"
SETUP = "/api/v1/auth/second-factor/setup"
CONFIRM = "/api/v1/auth/second-factor/confirm"
DISABLE = "/api/v1/auth/second-factor/disable"
RECOVERY = "/api/v1/auth/second-factor/recovery-codes"


# --- RFC 6238, independently of the code under test -------------------------------------


def step_now() -> int:
    return int(time.time() // 30)


def totp_code(secret: str, step: int) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


# A test that starts in step s and lasts less than 30 seconds ends in step s or s+1, when
# the codes of steps s and s+1 are both still accepted (one step either side). So tests use
# the code of s to enrol, then that of s+1 to sign in, and need not wait for the clock.


def fresh_step(seconds_needed: float) -> int:
    """Wait, if need be, until this time step has ``seconds_needed`` left; return it. Codes
    of steps s-1, s and s+1 are then all accepted for those seconds."""
    remaining = 30 - time.time() % 30
    if remaining < seconds_needed:
        time.sleep(remaining + 0.05)
    return step_now()


# A code computed just before it is sent needs no wait at all: the code of now confirms an
# enrolment whenever it is sent within 30 seconds, and a sign-in after it takes the code of
# now, or of the next step while now is still the step that confirmed it (one step ahead is
# accepted, and a step at most as late as the last one accepted never is: no replay).


def step_after(used: int) -> int:
    """A step whose code the server accepts now, later than ``used``, the last step it
    accepted (at most now's)."""
    return max(step_now(), used + 1)


def code_after(secret: str, used: int) -> str:
    """The code of :func:`step_after`."""
    return totp_code(secret, step_after(used))


# --- helpers ----------------------------------------------------------------------------


def add_user(
    site: Site, username: str, *, role: str | None = None, site_admin: bool = False
) -> str:
    admin = console_actor(site, "admin")
    users.create_user(site, admin, username=username, password=PASSWORD, is_site_admin=site_admin)
    if role is not None:
        organisations.set_member(site, admin, OWNER, username, role)
    return username


def sign_in(client: TestClient, username: str, code: str | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"username": username, "password": PASSWORD, **extra}
    if code is not None:
        body["code"] = code
    return client.post(SIGN_IN, json=body)


def enrol(client: TestClient, username: str, step: int) -> tuple[str, list[str]]:
    """Set up and confirm a second factor with the code of ``step``; secret and codes."""
    started = client.post(SETUP, json={"username": username, "password": PASSWORD})
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = client.post(
        CONFIRM,
        json={"username": username, "password": PASSWORD, "code": totp_code(secret, step)},
    )
    assert confirmed.status_code == 201, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def last_seq(site: Site) -> int:
    entries = audit_entries(site)
    return int(entries[-1]["seq"]) if entries else 0


# --- enrolment and sign-in --------------------------------------------------------------


def test_enrol_then_sign_in_with_a_code(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    step = step_now()
    started = client.post(SETUP, json={"username": "carol", "password": PASSWORD}).json()
    assert set(started) == {"secret", "otpauth_uri", "qr_svg"}
    assert started["otpauth_uri"].startswith("otpauth://totp/cityshare:carol?")
    assert f"secret={started['secret']}" in started["otpauth_uri"]
    assert "issuer=cityshare" in started["otpauth_uri"]
    assert started["qr_svg"].startswith("<svg") and "</svg>" in started["qr_svg"]
    # Pending, not enabled: the password alone still works.
    assert sign_in(client, "carol").status_code == 201
    secret = started["secret"]
    body = {"username": "carol", "password": PASSWORD, "code": totp_code(secret, step)}
    confirmed = client.post(CONFIRM, json=body)
    assert confirmed.status_code == 201, confirmed.text
    assert len(confirmed.json()["recovery_codes"]) == 10

    missing = sign_in(client, "carol")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["second_factor"] == "totp"
    assert "second factor" in missing.json()["detail"]
    wrong_code = f"{(int(totp_code(secret, step + 1)) + 1) % 1_000_000:06d}"
    assert sign_in(client, "carol", wrong_code).status_code == 401
    assert sign_in(client, "carol", "not a code").status_code == 401

    signed = sign_in(client, "carol", totp_code(secret, step + 1), scopes=["read"])
    assert signed.status_code == 201, signed.text
    me = client.get("/api/v1/me", headers=bearer(signed.json()["token"])).json()
    assert me["username"] == "carol" and me["second_factor"] is True
    assert not {"totp_secret", "totp_last_step", "totp_enabled_at"} & set(me)


def test_a_code_is_accepted_once(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    enrolled = fresh_step(seconds_needed=3) - 1  # the previous step: accepted in this one
    secret, _ = enrol(client, "carol", enrolled)
    # The code that confirmed the enrolment cannot sign in.
    assert sign_in(client, "carol", totp_code(secret, enrolled)).status_code == 401
    step = step_after(enrolled)
    first = sign_in(client, "carol", totp_code(secret, step))
    assert first.status_code == 201, first.text
    replay = sign_in(client, "carol", totp_code(secret, step))
    assert replay.status_code == 401
    assert replay.json()["detail"] == "Wrong or already used second-factor code."
    # An older code than the last one accepted is refused too; a newer one works.
    assert sign_in(client, "carol", totp_code(secret, enrolled)).status_code == 401
    assert sign_in(client, "carol", code_after(secret, step)).status_code == 201


def test_a_recovery_code_works_once(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    _, codes = enrol(client, "carol", step_now())
    assert len(set(codes)) == 10
    first = sign_in(client, "carol", codes[0].upper().replace("-", " "))
    assert first.status_code == 201, first.text
    assert sign_in(client, "carol", codes[0]).status_code == 401
    assert sign_in(client, "carol", codes[1]).status_code == 201
    with world.site.engine.connect() as connection:
        used = connection.execute(
            select(recovery_codes.c.used_at).where(recovery_codes.c.used_at.is_not(None))
        ).all()
    assert len(used) == 2


def test_admins_without_a_second_factor_cannot_sign_in_with_a_password(
    world: World, client: TestClient
) -> None:
    add_user(world.site, "olga", role="admin")
    add_user(world.site, "sam", site_admin=True)
    add_user(world.site, "eddie", role="editor")
    assert sign_in(client, "eddie").status_code == 201  # not an admin: as before
    step = step_now()
    for username in ("olga", "sam"):
        refused = sign_in(client, username, scopes=["read", "write", "admin"])
        assert refused.status_code == 403, refused.text
        problem = refused.json()
        assert problem["second_factor"] == "setup-required"
        assert problem["setup"] == SETUP and SETUP in problem["detail"]
        # A code does not help without an enrolment.
        assert sign_in(client, username, "123456").status_code == 403
        secret, _ = enrol(client, username, step)
        assert sign_in(client, username).status_code == 401
        signed = sign_in(client, username, totp_code(secret, step + 1), scopes=["admin"])
        assert signed.status_code == 201, signed.text
        me = client.get("/api/v1/me", headers=bearer(signed.json()["token"]))
        assert me.json()["username"] == username and me.json()["second_factor"] is True


def test_a_wrong_password_is_refused_before_the_second_factor(
    world: World, client: TestClient
) -> None:
    add_user(world.site, "olga", role="admin")
    add_user(world.site, "carol")
    step = step_now()
    secret, _ = enrol(client, "carol", step)
    for username in ("olga", "carol"):
        wrong = client.post(
            SIGN_IN, json={"username": username, "password": "x" * 20, "code": "123456"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "Wrong username or password."
        assert "second_factor" not in wrong.json()
    # A right code with a wrong password is refused, and the code is still unused.
    good = totp_code(secret, step + 1)
    bad_password = client.post(
        SIGN_IN, json={"username": "carol", "password": "x" * 20, "code": good}
    )
    assert bad_password.status_code == 401
    assert sign_in(client, "carol", good).status_code == 201


def test_the_secret_is_stored_encrypted(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    step = step_now()
    started = client.post(SETUP, json={"username": "carol", "password": PASSWORD}).json()
    secret = started["secret"]
    confirmed = client.post(
        CONFIRM,
        json={"username": "carol", "password": PASSWORD, "code": totp_code(secret, step)},
    ).json()
    with world.site.engine.connect() as connection:
        stored = connection.execute(
            select(users_table.c.totp_secret).where(users_table.c.username == "carol")
        ).scalar_one()
        hashes = connection.execute(select(recovery_codes.c.code_hash)).scalars().all()
    assert stored and secret not in stored and secret.lower() not in stored.lower()
    assert base64.b32decode(secret) not in stored.encode()
    assert len(hashes) == 10
    for code in confirmed["recovery_codes"]:
        assert all(code not in value and code.replace("-", "") not in value for value in hashes)
    admin = world.headers("siteadmin")
    for listed in (
        client.get("/api/v1/users", headers=admin).json(),
        [client.get("/api/v1/users/carol", headers=admin).json()],
    ):
        carol = next(user for user in listed if user["username"] == "carol")
        assert carol["second_factor"] is True
        assert not {"totp_secret", "totp_last_step", "totp_enabled_at"} & set(carol)
        assert stored not in str(listed)


def test_setup_and_confirm_refuse_what_does_not_fit(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    step = step_now()
    credentials = {"username": "carol", "password": PASSWORD}
    nothing_pending = client.post(CONFIRM, json={**credentials, "code": "123456"})
    assert nothing_pending.status_code == 409
    secret = client.post(SETUP, json=credentials).json()["secret"]
    wrong = client.post(CONFIRM, json={**credentials, "code": totp_code(secret, step + 3)})
    assert wrong.status_code == 400
    # A second setup replaces the pending secret: codes of the first no longer confirm.
    second = client.post(SETUP, json=credentials).json()["secret"]
    assert second != secret
    stale = client.post(CONFIRM, json={**credentials, "code": totp_code(secret, step)})
    assert stale.status_code == 400
    good = client.post(CONFIRM, json={**credentials, "code": totp_code(second, step)})
    assert good.status_code == 201
    assert client.post(SETUP, json=credentials).status_code == 409
    again = client.post(CONFIRM, json={**credentials, "code": totp_code(second, step + 1)})
    assert again.status_code == 409
    extra = client.post(SETUP, json={**credentials, "is_site_admin": True})
    assert extra.status_code == 400


# --- turning it off, new recovery codes -------------------------------------------------


def test_disable_needs_the_password_and_a_code(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    step = step_now()
    secret, codes = enrol(client, "carol", step)
    credentials = {"username": "carol", "password": PASSWORD}
    assert client.post(DISABLE, json={**credentials, "code": "000000"}).status_code == 401
    assert client.post(DISABLE, json=credentials).status_code == 400  # code is required
    wrong_password = {"username": "carol", "password": "x" * 20, "code": codes[0]}
    assert client.post(DISABLE, json=wrong_password).status_code == 401
    done = client.post(DISABLE, json={**credentials, "code": totp_code(secret, step + 1)})
    assert done.status_code == 204, done.text
    signed = sign_in(client, "carol")
    assert signed.status_code == 201
    me = client.get("/api/v1/me", headers=bearer(signed.json()["token"])).json()
    assert me["second_factor"] is False
    with world.site.engine.connect() as connection:
        row = connection.execute(select(users_table).where(users_table.c.username == "carol")).one()
        left = connection.execute(select(recovery_codes)).all()
    assert (row.totp_secret, row.totp_enabled_at, row.totp_last_step) == (None, None, None)
    assert left == []
    assert client.post(DISABLE, json={**credentials, "code": codes[1]}).status_code == 409


def test_an_admin_who_disables_must_enrol_again(world: World, client: TestClient) -> None:
    add_user(world.site, "olga", role="admin")
    step = step_now()
    _, codes = enrol(client, "olga", step)
    disabled = client.post(
        DISABLE, json={"username": "olga", "password": PASSWORD, "code": codes[3]}
    )
    assert disabled.status_code == 204
    assert sign_in(client, "olga").status_code == 403


def test_regenerating_recovery_codes_invalidates_the_old_ones(
    world: World, client: TestClient
) -> None:
    add_user(world.site, "carol")
    step = step_now()
    secret, old = enrol(client, "carol", step)
    credentials = {"username": "carol", "password": PASSWORD}
    wrong = client.post(RECOVERY, json={**credentials, "code": "999999"})
    assert wrong.status_code == 401
    renewed = client.post(RECOVERY, json={**credentials, "code": totp_code(secret, step + 1)})
    assert renewed.status_code == 201, renewed.text
    new = renewed.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert sign_in(client, "carol", old[0]).status_code == 401
    assert sign_in(client, "carol", new[0]).status_code == 201
    # A recovery code may also be the proof for new codes (after a lost phone).
    again = client.post(RECOVERY, json={**credentials, "code": new[1]})
    assert again.status_code == 201
    assert sign_in(client, "carol", new[2]).status_code == 401


def test_wrong_credentials_on_every_route_look_like_a_wrong_sign_in(
    world: World, client: TestClient
) -> None:
    add_user(world.site, "carol")
    _, codes = enrol(client, "carol", step_now())
    reference = client.post(SIGN_IN, json={"username": "carol", "password": "x" * 20})
    assert reference.status_code == 401
    for path in (SETUP, CONFIRM, DISABLE, RECOVERY):
        for username in ("carol", "nobody"):
            body = {"username": username, "password": "x" * 20}
            if path != SETUP:
                body["code"] = codes[0]
            answer = client.post(path, json=body)
            assert answer.status_code == 401, (path, username)
            assert answer.json()["detail"] == reference.json()["detail"], path
            assert answer.json()["type"] == reference.json()["type"]
            assert set(answer.json()) == set(reference.json()), path
    # The recovery code offered with wrong passwords was not used up.
    assert sign_in(client, "carol", codes[0]).status_code == 201


# --- audit ------------------------------------------------------------------------------


def test_sign_ins_and_second_factor_changes_are_audited(world: World, client: TestClient) -> None:
    add_user(world.site, "carol")
    add_user(world.site, "olga", role="admin")
    site = world.site
    start = last_seq(site)
    step = step_now()
    assert sign_in(client, "olga").status_code == 403
    secret, codes = enrol(client, "carol", step)
    assert sign_in(client, "carol").status_code == 401
    assert sign_in(client, "carol", "000000").status_code == 401
    assert sign_in(client, "carol", totp_code(secret, step + 1)).status_code == 201
    assert sign_in(client, "carol", codes[0]).status_code == 201
    client.post(SETUP, json={"username": "carol", "password": "x" * 20})
    entries = [
        (e["action"], e["outcome"], e["resource"].get("username"), e["detail"])
        for e in audit_entries(site, start)
        if e["action"].startswith("auth.")
    ]
    assert entries == [
        ("auth.sign-in", "deny", "olga", {"reason": "second-factor-required"}),
        ("auth.second-factor.setup", "allow", "carol", {}),
        ("auth.second-factor.enable", "allow", "carol", {"recovery_codes": 10}),
        ("auth.sign-in", "deny", "carol", {"reason": "second-factor-missing"}),
        ("auth.sign-in", "deny", "carol", {"reason": "second-factor-wrong"}),
        ("auth.sign-in", "allow", "carol", {"second_factor": "totp"}),
        ("auth.sign-in", "allow", "carol", {"second_factor": "recovery-code"}),
        ("auth.second-factor.setup", "deny", "carol", {"reason": "wrong-credentials"}),
    ]
    everything = str(audit_entries(site, start))
    assert secret not in everything and codes[0] not in everything and PASSWORD not in everything
    # Refusals the service audited are not logged a second time as access.refused.
    world.runtime.finish_background_work()
    refused = [e for e in audit_entries(site, start) if e["action"] == "access.refused"]
    assert refused == []


# --- the CLI ----------------------------------------------------------------------------


def test_the_cli_resets_a_lost_second_factor(world: World, client: TestClient) -> None:
    site = world.site
    add_user(site, "olga", role="admin")
    step = step_now()
    enrol(client, "olga", step)
    assert sign_in(client, "olga").status_code == 401
    runner = CliRunner()
    options = ["--data-dir", str(site.settings.data_dir)]
    options += ["--database-url", site.settings.resolved_database_url()]
    env = {"CITYSHARE_SECRET_KEY": "test-secret-key"}
    start = last_seq(site)
    result = runner.invoke(app, [*options, "user", "reset-second-factor", "olga"], env=env)
    assert result.exit_code == 0, result.output
    assert "Removed the second factor of olga" in result.output
    # Olga is an admin: she must enrol again before a password sign-in works.
    assert sign_in(client, "olga").status_code == 403
    with site.engine.connect() as connection:
        assert connection.execute(select(recovery_codes)).all() == []
    logged = [e for e in audit_entries(site, start) if e["action"] == "auth.second-factor.reset"]
    assert len(logged) == 1
    assert logged[0]["actor"]["username"] == "admin"
    assert logged[0]["resource"] == {"username": "olga"}
    assert logged[0]["detail"] == {"was_enabled": True}
    step = step_now()
    secret, _ = enrol(client, "olga", step)
    assert sign_in(client, "olga", totp_code(secret, step + 1)).status_code == 201
    # Only site administrators may reset, and only users that exist.
    refused = runner.invoke(
        app, [*options, "user", "reset-second-factor", "olga", "--as", "olga"], env=env
    )
    assert isinstance(refused.exception, Forbidden)
    unknown = runner.invoke(app, [*options, "user", "reset-second-factor", "nobody"], env=env)
    assert isinstance(unknown.exception, NotFound)
    assert sign_in(client, "olga").status_code == 401  # still enrolled: a code is asked for
