"""The public contract: exported names, dataclass shapes, error categories and codes, password hashing profile."""
import dataclasses
from datetime import datetime, timezone

import pytest
from acme_platform import ConfigError, Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated
from argon2 import PasswordHasher

import acme_identity
from acme_identity import (
    AccountNotFound,
    BadCredentials,
    EmailTaken,
    IdentityError,
    InvalidEmail,
    InvalidName,
    IssuedToken,
    MissingScope,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    WeakPassword,
)
from acme_identity import passwords


def test_public_names():
    assert sorted(acme_identity.__all__) == sorted([
        "Account", "IssuedToken", "register_customer", "register_staff", "issue_token", "log_in", "authenticate",
        "revoke_token", "revoke_token_secret", "get_account", "Authenticator", "IdentityError", "EmailTaken",
        "InvalidEmail", "WeakPassword", "InvalidName", "BadCredentials", "LoginThrottled", "LoginBusy", "TokenInvalid", "TokenExpired",
        "TokenRevoked", "MissingScope", "AccountNotFound", "TOKEN_REVOKED", "ACCOUNT_REGISTERED", "DOMAIN",
    ])
    assert acme_identity.TOKEN_REVOKED == "identity.token_revoked"
    assert acme_identity.ACCOUNT_REGISTERED == "identity.account_registered"


def test_domain_spec():
    d = acme_identity.DOMAIN
    assert (d.name, d.package, d.schema, d.migrations) == ("identity", "acme-identity", "identity",
                                                            "acme_identity.migrations")
    assert d.migrations_path.joinpath("versions", "id0001_initial.py").is_file()


def test_account_never_carries_a_password():
    names = [f.name for f in dataclasses.fields(acme_identity.Account)]
    assert names == ["id", "email", "name", "kind", "created_at"]
    assert dataclasses.is_dataclass(acme_identity.Account)
    with pytest.raises(dataclasses.FrozenInstanceError):
        acme_identity.Account("1", "a@b.co", "n", "customer", datetime.now(timezone.utc)).name = "x"


def test_issued_token_repr_hides_the_secret():
    issued = IssuedToken(token="acme_" + "S" * 43, token_id="tid", expires_at=datetime.now(timezone.utc),
                         scopes=frozenset({"customer"}))
    assert "S" * 43 not in repr(issued) and "tid" in repr(issued)
    assert [f.name for f in dataclasses.fields(IssuedToken)] == ["token", "token_id", "expires_at", "scopes"]


@pytest.mark.parametrize("error, category, code", [
    (EmailTaken, Conflict, "identity.email_taken"),
    (InvalidEmail, InvalidInput, "identity.invalid_email"),
    (WeakPassword, InvalidInput, "identity.weak_password"),
    (InvalidName, InvalidInput, "identity.invalid_name"),
    (BadCredentials, Unauthenticated, "identity.bad_credentials"),
    (TokenInvalid, Unauthenticated, "identity.token_invalid"),
    (TokenExpired, Unauthenticated, "identity.token_expired"),
    (TokenRevoked, Unauthenticated, "identity.token_revoked"),
    (MissingScope, Forbidden, "identity.missing_scope"),
    (AccountNotFound, NotFound, "identity.account_not_found"),
])
def test_error_categories_and_codes(error, category, code):
    assert issubclass(error, IdentityError) and issubclass(error, category) and issubclass(error, DomainError)
    assert error.code == code
    assert error().to_dict()["code"] == code


def test_missing_scope_names_the_scope():
    assert MissingScope("no", required="staff").to_dict() == {"code": "identity.missing_scope", "detail": "no",
                                                             "required": "staff"}


def test_bad_credentials_has_one_message():
    assert str(BadCredentials()) == "Email or password is incorrect"


# -- password hashing profile -----------------------------------------------------------------------

def test_default_profile_uses_argon2_cffi_defaults(monkeypatch):
    monkeypatch.delenv(passwords.PROFILE_ENV, raising=False)
    defaults = PasswordHasher()
    h = passwords.hasher()
    assert (h.time_cost, h.memory_cost, h.parallelism) == (defaults.time_cost, defaults.memory_cost,
                                                           defaults.parallelism)


def test_fast_profile_is_cheaper(monkeypatch):
    monkeypatch.setenv(passwords.PROFILE_ENV, "fast")
    assert passwords.hasher().memory_cost < PasswordHasher().memory_cost


def test_unknown_profile_is_a_config_error(monkeypatch):
    monkeypatch.setenv(passwords.PROFILE_ENV, "turbo")
    with pytest.raises(ConfigError) as info:
        passwords.hasher()
    assert info.value.variable == passwords.PROFILE_ENV


def test_hash_and_verify(monkeypatch):
    monkeypatch.setenv(passwords.PROFILE_ENV, "fast")
    h = passwords.hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and "correct horse" not in h
    assert passwords.verify_password(h, "correct horse battery")
    assert not passwords.verify_password(h, "correct horse batterz")
    assert not passwords.verify_password("not a hash", "correct horse battery")


def test_hashes_made_with_the_fast_profile_need_rehash_under_default(monkeypatch):
    monkeypatch.setenv(passwords.PROFILE_ENV, "fast")
    cheap = passwords.hash_password("correct horse battery")
    assert not passwords.needs_rehash(cheap)
    monkeypatch.delenv(passwords.PROFILE_ENV)
    assert passwords.needs_rehash(cheap)
