"""A second factor (TOTP and recovery codes): enrol, sign in, disable, regenerate and
reset, called as services.

Codes come from ``cityshare.access.totp.code_at``, which tests/access/test_totp.py holds
to RFC 6238's test vectors. A code of step s is accepted while the clock is in steps s-1
to s+1, so a test that computes its code just before sending it needs no wait: enrolment
takes the code of now, and each later use the code of :func:`next_code`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from cityshare.access import ANONYMOUS, totp
from cityshare.access.actions import Role
from cityshare.accounts import second_factor, users
from cityshare.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from cityshare.site import Site
from cityshare.storage.schema import recovery_codes
from tests.accounts.people import (
    PASSWORD,
    READ_ONLY,
    People,
    account_state,
    last_audit_seq,
    user_row,
)
from tests.world import audit_entries

WRONG = "Wrong username or password."


@dataclass(frozen=True)
class Enrolled:
    """A user's second factor as its owner knows it."""

    username: str
    secret: str
    recovery_codes: list[str]


def enrol(site: Site, username: str) -> Enrolled:
    """Set up and confirm a second factor for ``username`` with the code of now."""
    secret = second_factor.begin_setup(site, username, PASSWORD).secret
    code = totp.code_at(secret, totp.current_step())
    codes = second_factor.confirm_setup(site, username, PASSWORD, code)
    return Enrolled(username, secret, codes.recovery_codes)


def next_code(site: Site, enrolled: Enrolled) -> str:
    """A code the site accepts now: of a step later than the last one it accepted."""
    used = user_row(site, enrolled.username).totp_last_step
    return totp.code_at(enrolled.secret, max(totp.current_step(), used + 1))


def wrong_code(secret: str) -> str:
    """Six digits that are none of the codes accepted in the next minute or two."""
    now = totp.current_step()
    near = {totp.code_at(secret, step) for step in range(now - 2, now + 4)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


def unused_recovery_codes(site: Site, username: str) -> int:
    user_id = user_row(site, username).id
    with site.engine.connect() as connection:
        return len(
            connection.execute(
                select(recovery_codes.c.id).where(
                    recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
                )
            ).all()
        )


def assert_cleared(site: Site, username: str) -> None:
    row = user_row(site, username)
    assert (row.totp_secret, row.totp_enabled_at, row.totp_last_step) == (None, None, None)
    with site.engine.connect() as connection:
        left = connection.execute(select(recovery_codes).where(recovery_codes.c.user_id == row.id))
        assert left.all() == []


# --- enrolment -----------------------------------------------------------------------------


def test_setup_gives_a_secret_kept_encrypted_and_not_yet_used(people: People) -> None:
    before = last_audit_seq(people.site)
    setup = second_factor.begin_setup(people.site, "city-member", PASSWORD)
    assert set(setup.model_dump()) == {"secret", "otpauth_uri", "qr_svg"}
    secret = setup.secret
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert setup.otpauth_uri.startswith("otpauth://totp/cityshare:city-member?secret=" + secret)
    assert setup.qr_svg.startswith("<svg") and setup.qr_svg.rstrip().endswith("</svg>")
    row = user_row(people.site, "city-member")
    assert secret not in row.totp_secret
    assert totp.decrypt_secret(people.site.secret_key, row.totp_secret) == secret
    assert row.totp_enabled_at is None
    assert users.sign_in(people.site, "city-member", PASSWORD).username == "city-member"
    assert [entry["action"] for entry in audit_entries(people.site, before)] == [
        "auth.second-factor.setup",
        "auth.sign-in",
    ]


def test_setup_again_replaces_the_pending_secret(people: People) -> None:
    first = second_factor.begin_setup(people.site, "loner", PASSWORD).secret
    second = second_factor.begin_setup(people.site, "loner", PASSWORD).secret
    assert first != second
    old_code = totp.code_at(first, totp.current_step())
    if old_code != totp.code_at(second, totp.current_step()):
        with pytest.raises(BadRequest):
            second_factor.confirm_setup(people.site, "loner", PASSWORD, old_code)
    new_code = totp.code_at(second, totp.current_step())
    confirmed = second_factor.confirm_setup(people.site, "loner", PASSWORD, new_code)
    assert len(confirmed.recovery_codes) == 10


def test_confirm_enables_it_and_keeps_only_hashes_of_ten_recovery_codes(people: People) -> None:
    before = last_audit_seq(people.site)
    enrolled = enrol(people.site, "city-editor")
    codes = enrolled.recovery_codes
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}", code) for code in codes)
    row = user_row(people.site, "city-editor")
    assert row.totp_enabled_at is not None and row.totp_last_step is not None
    with people.site.engine.connect() as connection:
        stored = set(
            connection.execute(
                select(recovery_codes.c.code_hash).where(recovery_codes.c.user_id == row.id)
            ).scalars()
        )
    assert stored == {totp.recovery_code_hash(code) for code in codes}
    assert users.get_user(people.site, people.admin, "city-editor").second_factor is True
    enabled = [e for e in audit_entries(people.site, before) if e["action"].endswith("enable")]
    assert [entry["detail"] for entry in enabled] == [{"recovery_codes": 10}]


def test_confirm_refuses_a_code_that_does_not_match(people: People) -> None:
    secret = second_factor.begin_setup(people.site, "city-member", PASSWORD).secret
    right = totp.code_at(secret, totp.current_step())
    full_width = right.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    before = account_state(people.site)
    for code in (wrong_code(secret), "", "12345", right + "0", "abcdef", full_width):
        seq = last_audit_seq(people.site)
        with pytest.raises(BadRequest) as refused:
            second_factor.confirm_setup(people.site, "city-member", PASSWORD, code)
        assert refused.value.extra == {"parameter": "code"}
        [entry] = audit_entries(people.site, seq)
        assert (entry["outcome"], entry["detail"]) == ("deny", {"reason": "code"})
    assert account_state(people.site) == before


def test_confirm_needs_a_pending_setup_and_setup_a_disabled_factor(people: People) -> None:
    with pytest.raises(Conflict, match="No second-factor setup is pending"):
        second_factor.confirm_setup(people.site, "loner", PASSWORD, "123456")
    enrolled = enrol(people.site, "loner")
    before = account_state(people.site)
    with pytest.raises(Conflict, match="already enabled"):
        code = next_code(people.site, enrolled)
        second_factor.confirm_setup(people.site, "loner", PASSWORD, code)
    with pytest.raises(Conflict, match="already enabled"):
        second_factor.begin_setup(people.site, "loner", PASSWORD)
    assert account_state(people.site) == before


def test_a_pending_setup_is_no_second_factor_yet(people: People) -> None:
    secret = second_factor.begin_setup(people.site, "city-admin", PASSWORD).secret
    code = totp.code_at(secret, totp.current_step())
    with pytest.raises(Forbidden, match="second factor"):
        users.sign_in(people.site, "city-admin", PASSWORD, code)
    # The code was not spent: it still confirms the setup.
    confirmed = second_factor.confirm_setup(people.site, "city-admin", PASSWORD, code)
    assert len(confirmed.recovery_codes) == 10


# --- signing in ----------------------------------------------------------------------------


def test_a_code_from_a_user_without_a_second_factor_is_ignored(people: People) -> None:
    before = last_audit_seq(people.site)
    actor = users.sign_in(people.site, "city-member", PASSWORD, "123456")
    assert actor.username == "city-member"
    [entry] = audit_entries(people.site, before)
    assert (entry["action"], entry["outcome"]) == ("auth.sign-in", "allow")


def test_sign_in_takes_each_code_once(people: People) -> None:
    enrolled = enrol(people.site, "city-admin")
    confirming = totp.code_at(enrolled.secret, user_row(people.site, "city-admin").totp_last_step)
    with pytest.raises(Unauthorized, match="already used"):
        users.sign_in(people.site, "city-admin", PASSWORD, confirming)
    code = next_code(people.site, enrolled)
    actor = users.sign_in(people.site, "city-admin", PASSWORD, code)
    assert actor.username == "city-admin" and list(actor.roles.values()) == [Role.ADMIN]
    with pytest.raises(Unauthorized) as replayed:
        users.sign_in(people.site, "city-admin", PASSWORD, code)
    assert replayed.value.extra == {"second_factor": "totp"}


def test_a_missing_code_is_asked_for(people: People) -> None:
    enrol(people.site, "city-member")
    for code in (None, ""):
        before = last_audit_seq(people.site)
        with pytest.raises(Unauthorized, match="uses a second factor") as refused:
            users.sign_in(people.site, "city-member", PASSWORD, code)
        assert refused.value.extra == {"second_factor": "totp"}
        [entry] = audit_entries(people.site, before)
        assert entry["detail"] == {"reason": "second-factor-missing"}


def test_wrong_and_look_alike_codes_are_refused_and_spend_nothing(people: People) -> None:
    enrolled = enrol(people.site, "city-member")
    right = next_code(people.site, enrolled)
    before = account_state(people.site)
    for code in (
        wrong_code(enrolled.secret),
        right[:5],
        right + right,
        right.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),  # Arabic-Indic digits
        right.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width
        enrolled.recovery_codes[0][:-1],
        "x" * 10_000,
    ):
        with pytest.raises(Unauthorized, match="Wrong or already used"):
            users.sign_in(people.site, "city-member", PASSWORD, code)
    assert account_state(people.site) == before
    assert users.sign_in(people.site, "city-member", PASSWORD, right).username == "city-member"


def test_a_wrong_password_with_a_right_code_spends_nothing(people: People) -> None:
    enrolled = enrol(people.site, "city-member")
    code = next_code(people.site, enrolled)
    before = account_state(people.site)
    for username, password in (("city-member", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(Unauthorized) as refused:
            users.sign_in(people.site, username, password, code)
        assert refused.value.detail == WRONG
    with pytest.raises(Unauthorized, match="Wrong username or password"):
        users.sign_in(people.site, "city-member", "wrong password!", enrolled.recovery_codes[0])
    assert account_state(people.site) == before
    assert users.sign_in(people.site, "city-member", PASSWORD, code).username == "city-member"


def test_a_recovery_code_works_once_however_it_is_typed(people: People) -> None:
    enrolled = enrol(people.site, "city-member")
    first, second = enrolled.recovery_codes[:2]
    before = last_audit_seq(people.site)
    typed = " " + first.upper().replace("-", " ") + " "
    assert users.sign_in(people.site, "city-member", PASSWORD, typed).username == "city-member"
    assert unused_recovery_codes(people.site, "city-member") == 9
    with pytest.raises(Unauthorized, match="already used"):
        users.sign_in(people.site, "city-member", PASSWORD, first)
    assert users.sign_in(people.site, "city-member", PASSWORD, second.replace("-", ""))
    assert unused_recovery_codes(people.site, "city-member") == 8
    allowed = [e for e in audit_entries(people.site, before) if e["outcome"] == "allow"]
    assert [entry["detail"] for entry in allowed] == [{"second_factor": "recovery-code"}] * 2


def test_a_recovery_code_is_tied_to_its_user(people: People) -> None:
    member = enrol(people.site, "city-member")
    editor = enrol(people.site, "city-editor")
    before = account_state(people.site)
    with pytest.raises(Unauthorized):
        users.sign_in(people.site, "city-editor", PASSWORD, member.recovery_codes[0])
    assert account_state(people.site) == before
    assert users.sign_in(people.site, "city-editor", PASSWORD, editor.recovery_codes[0])


def test_codes_stop_working_when_the_site_secret_changes(people: People) -> None:
    enrolled = enrol(people.site, "city-member")
    code = next_code(people.site, enrolled)
    moved = dataclasses.replace(people.site, secret_key=b"another site secret")
    before = account_state(people.site)
    with pytest.raises(Unauthorized, match="Wrong or already used"):
        users.sign_in(moved, "city-member", PASSWORD, code)
    assert account_state(people.site) == before


# --- disable, new recovery codes, reset -----------------------------------------------------


def test_disable_with_a_code_removes_the_secret_and_recovery_codes(people: People) -> None:
    enrolled = enrol(people.site, "city-member")
    before = last_audit_seq(people.site)
    second_factor.disable(people.site, "city-member", PASSWORD, next_code(people.site, enrolled))
    assert_cleared(people.site, "city-member")
    assert users.sign_in(people.site, "city-member", PASSWORD).username == "city-member"
    [disabled, _sign_in] = audit_entries(people.site, before)
    assert disabled["action"] == "auth.second-factor.disable"
    assert disabled["detail"] == {"second_factor": "totp"}


def test_disable_with_a_recovery_code(people: People) -> None:
    enrolled = enrol(people.site, "city-admin")
    second_factor.disable(people.site, "city-admin", PASSWORD, enrolled.recovery_codes[3])
    assert_cleared(people.site, "city-admin")
    with pytest.raises(Forbidden, match="second factor"):
        users.sign_in(people.site, "city-admin", PASSWORD)


def test_disable_and_new_codes_need_a_right_code_and_an_enabled_factor(people: People) -> None:
    with pytest.raises(Conflict, match="no second factor"):
        second_factor.disable(people.site, "loner", PASSWORD, "123456")
    with pytest.raises(Conflict, match="no second factor"):
        second_factor.regenerate_recovery_codes(people.site, "loner", PASSWORD, "123456")
    enrolled = enrol(people.site, "loner")
    before = account_state(people.site)
    for change in (second_factor.disable, second_factor.regenerate_recovery_codes):
        for code in (wrong_code(enrolled.secret), "", "zzzz-zzzz-zzzz"):
            with pytest.raises(Unauthorized, match="Wrong or already used"):
                change(people.site, "loner", PASSWORD, code)
    assert account_state(people.site) == before


def test_new_recovery_codes_replace_the_old_ones(people: People) -> None:
    enrolled = enrol(people.site, "city-member")
    users.sign_in(people.site, "city-member", PASSWORD, enrolled.recovery_codes[0])
    fresh = second_factor.regenerate_recovery_codes(
        people.site, "city-member", PASSWORD, enrolled.recovery_codes[1]
    ).recovery_codes
    assert len(fresh) == 10 and not set(fresh) & set(enrolled.recovery_codes)
    assert unused_recovery_codes(people.site, "city-member") == 10
    with pytest.raises(Unauthorized):
        users.sign_in(people.site, "city-member", PASSWORD, enrolled.recovery_codes[2])
    assert users.sign_in(people.site, "city-member", PASSWORD, fresh[0])


def test_wrong_credentials_on_every_change_look_like_a_wrong_sign_in(people: People) -> None:
    enrol(people.site, "city-editor")
    before = account_state(people.site)
    calls = {
        "auth.second-factor.setup": lambda u, p: second_factor.begin_setup(people.site, u, p),
        "auth.second-factor.enable": lambda u, p: second_factor.confirm_setup(
            people.site, u, p, "123456"
        ),
        "auth.second-factor.disable": lambda u, p: second_factor.disable(
            people.site, u, p, "123456"
        ),
        "auth.second-factor.recovery-codes": lambda u, p: second_factor.regenerate_recovery_codes(
            people.site, u, p, "123456"
        ),
    }
    for action, call in calls.items():
        for username, password in (("city-editor", "not the password"), ("ghost", PASSWORD)):
            seq = last_audit_seq(people.site)
            with pytest.raises(Unauthorized) as refused:
                call(username, password)
            assert refused.value.detail == WRONG
            [entry] = audit_entries(people.site, seq)
            assert (entry["action"], entry["outcome"]) == (action, "deny")
            assert entry["detail"] == {"reason": "wrong-credentials"}
    assert account_state(people.site) == before


def test_a_user_without_a_password_cannot_enrol(people: People) -> None:
    users.create_user(people.site, people.admin, username="robot")
    for password in ("", PASSWORD):
        with pytest.raises(Unauthorized, match="Wrong username or password"):
            second_factor.begin_setup(people.site, "robot", password)
    assert user_row(people.site, "robot").totp_secret is None


def test_site_admins_reset_a_lost_second_factor(people: People) -> None:
    enrol(people.site, "city-member")
    before = last_audit_seq(people.site)
    assert second_factor.reset(people.site, people.admin, "city-member") is True
    assert_cleared(people.site, "city-member")
    assert users.sign_in(people.site, "city-member", PASSWORD).username == "city-member"
    assert second_factor.reset(people.site, people.admin, "city-member") is False
    resets = [e for e in audit_entries(people.site, before) if e["action"].endswith("reset")]
    assert [entry["detail"] for entry in resets] == [{"was_enabled": True}, {"was_enabled": False}]
    with pytest.raises(NotFound, match="nobody"):
        second_factor.reset(people.site, people.admin, "nobody")


def test_only_site_admins_with_the_admin_scope_reset(people: People) -> None:
    enrol(people.site, "city-member")
    before = account_state(people.site)
    refused = [
        (ANONYMOUS, Unauthorized),
        (people.actor("city-admin"), Forbidden),
        (people.actor("city-member"), Forbidden),
        (people.token_actor("admin", READ_ONLY), Forbidden),
    ]
    after_tokens = account_state(people.site)  # the read-only token is one more row
    for actor, error in refused:
        with pytest.raises(error):
            second_factor.reset(people.site, actor, "city-member")
    assert account_state(people.site) == after_tokens
    assert before["users"] == after_tokens["users"]
