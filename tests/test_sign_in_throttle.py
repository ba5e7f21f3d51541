"""Password attempts are throttled per account, whatever address they come from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cityshare.accounts import users
from cityshare.cli_support import console_actor, initialise
from cityshare.errors import TooManyRequests, Unauthorized
from cityshare.site import Site
from tests.world import make_site


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A site allowing a burst of three password attempts per account, then one a minute."""
    opened = make_site(
        database_url, tmp_path, rate_limit_sign_in_per_minute=1, rate_limit_sign_in_burst=3
    )
    initialise(opened, "admin")
    admin = console_actor(opened, "admin")
    users.create_user(opened, admin, username="alice", password="correct horse battery")
    users.create_user(opened, admin, username="bob", password="correct horse battery")
    yield opened
    opened.close()


def test_guessing_one_password_is_throttled_per_account(site: Site) -> None:
    for _ in range(3):
        with pytest.raises(Unauthorized):
            users.sign_in(site, "alice", "wrong guess")
    with pytest.raises(TooManyRequests) as refused:
        users.sign_in(site, "alice", "correct horse battery")
    assert refused.value.retry_after >= 1
    with pytest.raises(TooManyRequests):
        users.sign_in(site, "ALICE", "wrong guess")  # the same account, however written
    assert users.sign_in(site, "bob", "correct horse battery").username == "bob"
