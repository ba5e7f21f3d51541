"""The accounts services answer with models that list what is shown: a private field (a
password hash, a second-factor secret, a token's hash) is in no answer, because no model
names it (issue 18, part 3)."""

from __future__ import annotations

from cityshare.access import totp
from cityshare.access.tokens import token_digest
from cityshare.accounts import second_factor, tokens, users
from cityshare.accounts.models import Me, NewToken, Token, User, UserDetail
from cityshare.resource import Resource
from tests.accounts.people import PASSWORD, People, give_password, user_row

PRIVATE = {"password_hash", "totp_secret", "totp_enabled_at", "totp_last_step", "token_hash"}
USER_FIELDS = {
    "id",
    "username",
    "email",
    "display_name",
    "is_site_admin",
    "created_at",
    "second_factor",
}
TOKEN_FIELDS = {"id", "name", "prefix", "scopes", "created_at", "expires_at"}


def test_the_models_name_exactly_the_shown_fields() -> None:
    """Adding a field to one of these models shows it to callers: it must be added here
    too, on purpose."""
    assert set(User.model_fields) == USER_FIELDS
    assert set(UserDetail.model_fields) == USER_FIELDS | {"memberships"}
    assert set(Me.model_fields) == USER_FIELDS | {"memberships", "scopes"}
    assert set(Token.model_fields) == TOKEN_FIELDS | {"revoked_at", "last_used_at"}
    assert set(NewToken.model_fields) == TOKEN_FIELDS | {"token"}
    for model in (User, UserDetail, Me, Token, NewToken):
        assert not PRIVATE & set(model.model_fields), model


def shown(answer: Resource) -> str:
    """An answer as the API writes it."""
    return answer.model_dump_json()


def test_a_users_answers_hold_no_hash_and_no_second_factor_secret(people: People) -> None:
    created = users.create_user(people.site, people.admin, username="kay", email="k@example.org")
    give_password(people.site, "kay")
    secret = second_factor.begin_setup(people.site, "kay", PASSWORD).secret
    second_factor.confirm_setup(
        people.site, "kay", PASSWORD, totp.code_at(secret, totp.current_step())
    )
    row = user_row(people.site, "kay")
    assert row.password_hash and row.totp_secret  # there are secrets to leak
    seen = users.get_user(people.site, people.admin, "kay")
    [listed] = [user for user in users.list_users(people.site, people.admin) if user.id == seen.id]
    for answer in (created, seen, listed):
        assert type(answer) in (User, UserDetail)
        for field in PRIVATE:
            assert not hasattr(answer, field), field
        assert set(answer.model_dump()) <= USER_FIELDS | {"memberships"}
        for private in (row.password_hash, row.totp_secret, secret):
            assert private not in shown(answer)
    assert seen.second_factor is True and listed.second_factor is True


def test_a_tokens_answers_hold_no_hash(people: People) -> None:
    created = tokens.create_token(people.site, people.actor("loner"), name="laptop")
    digest = token_digest(created.token)
    [listed] = tokens.list_tokens(people.site, people.actor("loner"))
    assert isinstance(listed, Token) and isinstance(created, NewToken)
    for answer in (created, listed):
        assert not hasattr(answer, "token_hash")
        assert digest not in shown(answer)
    assert not hasattr(listed, "token") and created.token not in shown(listed)
