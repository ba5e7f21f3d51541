"""The demo's editor: made once, with a password kept in the data folder, and able to sign
in with that password alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cityshare.accounts import users
from cityshare.accounts.console import console_actor, initialise
from cityshare.demo.loader import (
    ADMIN,
    EDITOR,
    EDITOR_PASSWORD_FILE,
    ensure_editor,
    ensure_organisations,
)
from cityshare.demo.samples import ORGANISATIONS
from cityshare.site import Site


@pytest.fixture
def demo_site(site: Site) -> Site:
    """A store with the demo's administrator and organisations, as ``cityshare demo`` makes."""
    initialise(site, ADMIN)
    ensure_organisations(site)
    return site


def test_the_editor_is_made_once_and_keeps_its_password(demo_site: Site, tmp_path: Path) -> None:
    password = ensure_editor(demo_site)
    assert password is not None and len(password) >= 12
    assert ensure_editor(demo_site) == password  # a second run: same password, no failure
    password_file = tmp_path / EDITOR_PASSWORD_FILE
    assert password_file.read_text().strip() == password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    admin = console_actor(demo_site, ADMIN)
    everyone = [user.username for user in users.list_users(demo_site, admin)]
    assert everyone.count(EDITOR) == 1
    editor = users.get_user(demo_site, admin, EDITOR)
    expected = [{"organisation": name, "role": "editor"} for name, _, _ in ORGANISATIONS]
    joined = [membership.model_dump() for membership in editor.memberships]
    assert sorted(joined, key=str) == sorted(expected, key=str)
    signed_in = users.sign_in(demo_site, EDITOR, password)  # no second factor needed
    assert signed_in.username == EDITOR and not signed_in.is_site_admin


def test_a_removed_password_file_is_not_replaced_by_a_wrong_password(
    demo_site: Site, tmp_path: Path
) -> None:
    assert ensure_editor(demo_site) is not None
    (tmp_path / EDITOR_PASSWORD_FILE).unlink()
    assert ensure_editor(demo_site) is None
    assert not (tmp_path / EDITOR_PASSWORD_FILE).exists()
