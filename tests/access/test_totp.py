"""The pure TOTP (RFC 6238) and recovery-code functions."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

from cityshare.access import totp

# RFC 6238, appendix B: the SHA-1 key is the ASCII "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = {59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"}


def test_codes_match_the_rfc_6238_test_vectors() -> None:
    for moment, code in RFC_VECTORS.items():
        assert totp.code_at(RFC_SECRET, totp.current_step(moment)) == code


def test_a_code_is_accepted_one_step_either_side_and_no_further() -> None:
    now = 1_700_000_015.0
    step = totp.current_step(now)
    for offset in (-1, 0, 1):
        code = totp.code_at(RFC_SECRET, step + offset)
        assert totp.matching_step(RFC_SECRET, code, now=now) == step + offset
    for offset in (-2, 2):
        code = totp.code_at(RFC_SECRET, step + offset)
        assert totp.matching_step(RFC_SECRET, code, now=now) is None


def test_a_step_already_accepted_never_matches_again() -> None:
    now = 1_700_000_015.0
    step = totp.current_step(now)
    code = totp.code_at(RFC_SECRET, step)
    assert totp.matching_step(RFC_SECRET, code, now=now, after=step - 1) == step
    assert totp.matching_step(RFC_SECRET, code, now=now, after=step) is None
    older = totp.code_at(RFC_SECRET, step - 1)
    assert totp.matching_step(RFC_SECRET, older, now=now, after=step) is None


def test_malformed_codes_never_match() -> None:
    now = 1_700_000_015.0
    good = totp.code_at(RFC_SECRET, totp.current_step(now))
    for code in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", good + "0"):
        assert totp.matching_step(RFC_SECRET, code, now=now) is None
    assert totp.matching_step(RFC_SECRET, f"{good[:3]} {good[3:]}", now=now) is not None


def test_secrets_are_160_random_bits_in_base32() -> None:
    made = {totp.new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert len(base64.b32decode(secret)) == 20


def test_the_provisioning_uri() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "priya.patel")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/cityshare:priya.patel")
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query == {
        "secret": "JBSWY3DPEHPK3PXP",
        "issuer": "cityshare",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }


def test_recovery_codes_are_ten_distinct_60_bit_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(
            r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}", code
        )
        assert totp.normalise_recovery_code(code) == code


def test_recovery_codes_are_read_leniently_and_hashed() -> None:
    assert totp.normalise_recovery_code(" K7PQ 2MZX A4RD ") == "k7pq-2mzx-a4rd"
    assert totp.normalise_recovery_code("k7pq2mzxa4rd") == "k7pq-2mzx-a4rd"
    assert totp.normalise_recovery_code("OIL0-1111-0000") == "0110-1111-0000"
    for bad in ("", "k7pq-2mzx", "k7pq-2mzx-a4rd-a4rd", "u7pq-2mzx-a4rd", "k7pq-2mzx-a4r!"):
        assert totp.normalise_recovery_code(bad) is None
    digest = totp.recovery_code_hash("k7pq-2mzx-a4rd")
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and "k7pq" not in digest
    assert totp.recovery_code_hash("K7PQ 2MZX A4RD") == digest
    assert totp.hashes_match(digest, totp.recovery_code_hash("k7pq2mzxa4rd"))
    assert not totp.hashes_match(digest, totp.recovery_code_hash("k7pq-2mzx-a4re"))


def test_secrets_are_encrypted_under_the_site_secret() -> None:
    secret = totp.new_secret()
    stored = totp.encrypt_secret(b"site secret one", secret)
    assert secret not in stored and len(stored) <= 300
    assert totp.encrypt_secret(b"site secret one", secret) != stored  # a fresh IV each time
    assert totp.decrypt_secret(b"site secret one", stored) == secret
    assert totp.decrypt_secret(b"another site secret", stored) is None
    assert totp.decrypt_secret(b"site secret one", stored[:-4] + "AAAA") is None
