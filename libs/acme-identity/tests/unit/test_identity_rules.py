"""Email, password, name and token rules: pure functions, no database."""
import base64
import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acme_identity import InvalidEmail, InvalidName, TokenInvalid, WeakPassword
from acme_identity.model import (
    check_kind,
    check_password,
    is_well_formed_token,
    new_token_secret,
    normalize_email,
    normalize_name,
    token_hash,
)

# -- email -------------------------------------------------------------------------------------

@pytest.mark.parametrize("email", [
    "a@b.co",
    "Ann.Lee@Example.COM",
    "first.last+tag@sub.example.org",
    "o'brien@example.ie",
    "x_y-z@a-b.example.io",
    "user@xn--80ak6aa92e.com",
    "user@example.xn--p1ai",
])
def test_reasonable_emails_are_accepted_and_kept_as_typed(email):
    assert normalize_email(email) == email


def test_email_surrounding_whitespace_is_stripped_but_case_kept():
    assert normalize_email("  Ann@Example.com\n") == "Ann@Example.com"


@pytest.mark.parametrize("email", [
    "", "   ", "plain", "@example.com", "user@", "user@example", "user@@example.com",
    "us er@example.com", "user@exa mple.com", ".user@example.com", "user.@example.com",
    "us..er@example.com", "user@-example.com", "user@example-.com", "user@example..com",
    "user@example.c", "user@example.123", "a\n@example.com", "user@example.com\nx",
    "user@example.com.", "üser@example.com", "user@exämple.com",
])
def test_malformed_emails_are_refused_with_field(email):
    with pytest.raises(InvalidEmail) as info:
        normalize_email(email)
    assert info.value.extra == {"field": "email"}
    assert info.value.code == "identity.invalid_email"


def test_email_length_limits():
    local = "l" * 64
    domain = "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com"     # 189 characters
    at_254 = f"{local}@{domain}"
    assert len(at_254) == 254
    assert normalize_email(at_254) == at_254
    with pytest.raises(InvalidEmail):
        normalize_email(f"{local}@g{domain}")                         # 255
    with pytest.raises(InvalidEmail):
        normalize_email("l" * 65 + "@example.com")                    # local part over 64


def test_non_string_email_is_invalid():
    with pytest.raises(InvalidEmail):
        normalize_email(None)


_atext = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=20)
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(local=st.lists(_atext, min_size=1, max_size=3).map(".".join),
       labels=st.lists(_label, min_size=1, max_size=3),
       tld=st.from_regex(r"[a-zA-Z]{2,10}", fullmatch=True))
def test_generated_valid_emails_round_trip(local, labels, tld):
    email = f"{local}@{'.'.join(labels)}.{tld}"
    assert normalize_email(f" {email} ") == email


@given(st.text(max_size=300))
def test_any_text_is_either_a_valid_email_or_invalid_email(text):
    try:
        result = normalize_email(text)
    except InvalidEmail:
        return
    assert result == text.strip() and "@" in result and len(result) <= 254


# -- password ------------------------------------------------------------------------------------

def test_password_length_bounds():
    assert check_password("x" * 10) == "x" * 10
    assert check_password("x" * 256) == "x" * 256
    for bad in ("", "x" * 9, "x" * 257):
        with pytest.raises(WeakPassword) as info:
            check_password(bad)
        assert info.value.extra == {"field": "password"}
        assert info.value.code == "identity.weak_password"


def test_password_is_taken_exactly_and_never_stripped():
    assert check_password("  padded pw  ") == "  padded pw  "
    with pytest.raises(WeakPassword):
        check_password("  short  ")   # 9 characters counting the spaces


def test_password_length_counts_characters_not_bytes():
    assert check_password("ü" * 10) == "ü" * 10


def test_password_error_never_echoes_the_password():
    with pytest.raises(WeakPassword) as info:
        check_password("s3cr3t!")
    assert "s3cr3t!" not in str(info.value) and "s3cr3t!" not in repr(info.value.to_dict())


def test_non_string_password_is_weak():
    with pytest.raises(WeakPassword):
        check_password(1234567890123)


# -- name ----------------------------------------------------------------------------------------

def test_name_is_stripped_and_bounded():
    assert normalize_name("  Ada Lovelace ") == "Ada Lovelace"
    assert normalize_name("n" * 200) == "n" * 200
    assert normalize_name("Zoë 李") == "Zoë 李"
    for bad in ("", "   ", "n" * 201, "bell\x07", "new\nline", None):
        with pytest.raises(InvalidName) as info:
            normalize_name(bad)
        assert info.value.extra == {"field": "name"}
        assert info.value.code == "identity.invalid_name"


def test_kind_must_be_customer_or_staff():
    assert check_kind("staff") == "staff"
    with pytest.raises(ValueError):
        check_kind("admin")


# -- tokens --------------------------------------------------------------------------------------

def test_token_format_carries_32_random_bytes():
    token = new_token_secret()
    assert token.startswith("acme_") and len(token) == 48
    raw = base64.urlsafe_b64decode(token[5:] + "=")
    assert len(raw) == 32
    assert is_well_formed_token(token)


def test_tokens_do_not_repeat():
    assert len({new_token_secret() for _ in range(2000)}) == 2000


def test_token_hash_is_sha256_of_the_token():
    token = new_token_secret()
    assert token_hash(token) == hashlib.sha256(token.encode()).digest()
    assert len(token_hash(token)) == 32


@pytest.mark.parametrize("bad", [
    "", "acme_", "Bearer acme_x", "acm_" + "A" * 43, "acme_" + "A" * 42, "acme_" + "A" * 44,
    "acme_" + "A" * 42 + "=", "acme_" + "A" * 42 + "+", "acme_" + "A" * 43 + "\n", " acme_" + "A" * 43,
    None, b"acme_" + b"A" * 43,
])
def test_malformed_tokens_are_invalid(bad):
    assert not is_well_formed_token(bad)
    with pytest.raises(TokenInvalid) as info:
        token_hash(bad)
    assert info.value.code == "identity.token_invalid"


@given(st.text(max_size=60))
def test_only_token_shaped_text_hashes(text):
    if is_well_formed_token(text):
        assert len(token_hash(text)) == 32
    else:
        with pytest.raises(TokenInvalid):
            token_hash(text)
