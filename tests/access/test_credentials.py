"""Token and password primitives: the shapes, the hashes and the constant-time checks."""

from __future__ import annotations

import hashlib
import re

from cityshare.access import passwords
from cityshare.access import tokens as token_format


def test_tokens_are_256_random_bits_with_a_visible_prefix() -> None:
    made = [token_format.mint_token() for _ in range(20)]
    assert len({new.secret for new in made}) == 20
    for new in made:
        assert re.fullmatch(r"cs_[A-Za-z0-9_-]{43}", new.secret)
        assert new.prefix == new.secret[:11]
        assert new.digest == hashlib.sha256(new.secret.encode()).hexdigest()
        assert token_format.looks_like_token(new.secret)


def test_only_a_tokens_shape_looks_like_a_token() -> None:
    secret = token_format.mint_token().secret
    for other in (
        "",
        secret[:-1],
        secret + "x",
        "CS_" + secret[3:],
        secret[:-1] + "+",
        secret[:-1] + "ä",
        "cs_" + "A" * 42 + "\n",
    ):
        assert not token_format.looks_like_token(other), other


def test_token_digests_are_compared_whole() -> None:
    digest = token_format.token_digest("cs_" + "A" * 43)
    assert token_format.digests_match(digest, digest)
    flipped = digest[:-1] + ("1" if digest[-1] == "0" else "0")
    assert not token_format.digests_match(digest, flipped)
    assert not token_format.digests_match(digest, "")


def test_passwords_are_argon2id_hashes_checked_leniently_to_nothing() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert passwords.verify_password(stored, "correct horse battery")
    for wrong in ("", "Correct horse battery", "correct horse battery ", "correct horse batterу"):
        assert not passwords.verify_password(stored, wrong), wrong
    # No hash (a user without a password), or a broken one, matches nothing.
    assert not passwords.verify_password(None, "")
    assert not passwords.verify_password(None, "correct horse battery")
    assert not passwords.verify_password("not a hash", "correct horse battery")
