"""Identity values and rules: pure Python, no I/O."""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from .errors import InvalidEmail, InvalidName, TokenInvalid, WeakPassword

CUSTOMER = "customer"
STAFF = "staff"
KINDS = (CUSTOMER, STAFF)
SCOPES_BY_KIND: dict[str, frozenset[str]] = {
    CUSTOMER: frozenset({"customer"}),
    STAFF: frozenset({"staff"}),
}

EMAIL_MAX = 254          # RFC 5321 path limit
EMAIL_LOCAL_MAX = 64
PASSWORD_MIN = 10
# The upper bound caps what one login attempt can make argon2 chew on.
PASSWORD_MAX = 256
NAME_MAX = 200

TOKEN_PREFIX = "acme_"
TOKEN_BYTES = 32
# Prefix + unpadded urlsafe base64 of 32 bytes. The prefix lets secret scanners and humans
# recognise a leaked Acme token. These patterns are used with fullmatch: `$` would let a trailing
# newline through.
_TOKEN_RE = re.compile(r"acme_[A-Za-z0-9_-]{43}")

# RFC 5322 dot-atom local part (ASCII) and a DNS host name with an alphabetic (or IDNA) TLD.
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})")


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    name: str
    kind: str            # "customer" | "staff"
    created_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    # repr=False: the secret must not end up in logs or tracebacks that print the object.
    token: str = field(repr=False)
    token_id: str
    expires_at: datetime
    scopes: frozenset[str]


def normalize_email(email: object) -> str:
    """The email as it will be stored (surrounding whitespace removed), or InvalidEmail.

    Uniqueness and lookups are case-insensitive (lower(email) in Postgres); the spelling the person
    typed is kept for display and for mail.
    """
    if not isinstance(email, str):
        raise InvalidEmail("email must be a string", field="email")
    value = email.strip()
    if not value:
        raise InvalidEmail("email is required", field="email")
    if len(value) > EMAIL_MAX:
        raise InvalidEmail(f"email must be at most {EMAIL_MAX} characters", field="email")
    local, at, domain = value.rpartition("@")
    if (not at or len(local) > EMAIL_LOCAL_MAX or not _LOCAL_RE.fullmatch(local)
            or len(domain) > 253 or not _DOMAIN_RE.fullmatch(domain)):
        raise InvalidEmail("email must look like name@example.com", field="email")
    return value


def check_password(password: object) -> str:
    """The password unchanged (never stripped: spaces are characters too), or WeakPassword."""
    if not isinstance(password, str):
        raise WeakPassword("password must be a string", field="password")
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"password must be at least {PASSWORD_MIN} characters", field="password")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"password must be at most {PASSWORD_MAX} characters", field="password")
    return password


def normalize_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidName("name must be a string", field="name")
    value = name.strip()
    if not 1 <= len(value) <= NAME_MAX:
        raise InvalidName(f"name must be 1 to {NAME_MAX} characters", field="name")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidName("name must not contain control characters", field="name")
    return value


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        # A programming error in the calling service, not user input.
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def new_token_secret() -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")


def is_well_formed_token(token: object) -> bool:
    return isinstance(token, str) and _TOKEN_RE.fullmatch(token) is not None


def token_hash(token: object) -> bytes:
    """sha256 of the token: what the database stores and is searched by.

    A fast hash is right here (argon2 is for passwords): the secret has 256 random bits, so there is
    nothing to brute-force, and this runs on every request.
    """
    if not is_well_formed_token(token):
        raise TokenInvalid()
    return hashlib.sha256(token.encode("ascii")).digest()  # type: ignore[union-attr]
