"""Password attempts are throttled per account, whatever address they come from, and
whichever service takes the password (sign-in or a second-factor change)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cityshare.access import totp
from cityshare.accounts import second_factor, users
from cityshare.accounts.console import console_actor, initialise
from cityshare.errors import TooManyRequests, Unauthorized
from cityshare.site import Site
from tests.accounts.people import PASSWORD, account_state, user_row
from tests.world import make_site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A site allowing a burst of three password attempts per account, then one a minute."""
    opened = make_site(
        database_url, tmp_path, rate_limit_sign_in_per_minute=1, rate_limit_sign_in_burst=3
    )
    initialise(opened, "admin")
    admin = console_actor(opened, "admin")
    users.create_user(opened, admin, username="alice", password=PASSWORD)
    users.create_user(opened, admin, username="bob", password=PASSWORD)
    yield opened
    opened.close()


def test_guessing_one_password_is_throttled_per_account(site: Site) -> None:
    for _ in range(3):
        with pytest.raises(Unauthorized):
            users.sign_in(site, "alice", "wrong guess")
    with pytest.raises(TooManyRequests) as refused:
        users.sign_in(site, "alice", PASSWORD)
    assert refused.value.retry_after >= 1
    with pytest.raises(TooManyRequests):
        users.sign_in(site, "ALICE", "wrong guess")  # the same account, however written
    assert users.sign_in(site, "bob", PASSWORD).username == "bob"


def test_second_factor_changes_spend_the_same_attempts_as_sign_in(site: Site) -> None:
    """The routes that take a password (set up, confirm, disable, new recovery codes) are
    password guesses too: they share the account's attempts with sign-in."""
    with pytest.raises(Unauthorized):
        second_factor.begin_setup(site, "alice", "wrong guess")
    with pytest.raises(Unauthorized):
        second_factor.confirm_setup(site, "alice", "wrong guess", "123456")
    with pytest.raises(Unauthorized):
        second_factor.disable(site, "alice", "wrong guess", "123456")
    before = account_state(site)
    for attempt in (
        lambda: second_factor.begin_setup(site, "alice", PASSWORD),
        lambda: second_factor.regenerate_recovery_codes(site, "alice", PASSWORD, "123456"),
        lambda: users.sign_in(site, "alice", PASSWORD),
    ):
        with pytest.raises(TooManyRequests):
            attempt()
    assert account_state(site) == before
    assert second_factor.begin_setup(site, "bob", PASSWORD).secret


def test_a_throttled_right_code_is_not_spent(site: Site) -> None:
    secret = second_factor.begin_setup(site, "bob", PASSWORD).secret
    second_factor.confirm_setup(site, "bob", PASSWORD, totp.code_at(secret, totp.current_step()))
    with pytest.raises(Unauthorized):
        users.sign_in(site, "bob", "wrong guess")
    before = account_state(site)
    last_step = user_row(site, "bob").totp_last_step
    code = totp.code_at(secret, max(totp.current_step(), last_step + 1))
    with pytest.raises(TooManyRequests):
        users.sign_in(site, "bob", PASSWORD, code)
    assert account_state(site) == before
