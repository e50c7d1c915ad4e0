"""Identity use cases. Each takes the caller's unit of work first and never commits."""
from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, ContextManager

import sqlalchemy as sa
from acme_platform import Principal, UnitOfWork, publish
from sqlalchemy.dialects.postgresql import insert as pg_insert

from . import events, passwords, throttle
from .errors import (AccountNotFound, BadCredentials, EmailTaken, LoginThrottled, MissingScope, TokenExpired,
                     TokenInvalid, TokenRevoked)
from .model import (
    CUSTOMER,
    PASSWORD_MAX,
    SCOPES_BY_KIND,
    STAFF,
    Account,
    IssuedToken,
    check_kind,
    check_password,
    is_well_formed_token,
    new_token_secret,
    normalize_email,
    normalize_name,
    token_hash,
)
from .tables import accounts, tokens


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- accounts --------------------------------------------------------------------------------

def register_customer(uow: UnitOfWork, *, email: str, password: str, name: str) -> Account:
    return _register(uow, CUSTOMER, email=email, password=password, name=name)


def register_staff(uow: UnitOfWork, *, email: str, password: str, name: str) -> Account:
    return _register(uow, STAFF, email=email, password=password, name=name)


def _register(uow: UnitOfWork, kind: str, *, email: str, password: str, name: str) -> Account:
    email = normalize_email(email)
    check_password(password)
    name = normalize_name(name)
    # Hash before touching the database: a concurrent registration of the same email waits on our
    # uncommitted row, and should not also wait for argon2.
    password_hash = passwords.hash_password(password)
    account = Account(id=str(uuid.uuid4()), email=email, name=name, kind=kind, created_at=utcnow())
    # ON CONFLICT DO NOTHING instead of catching a unique violation: an error would abort the
    # caller's whole transaction, which may already hold other domains' work. A racing registration
    # blocks here until the first commits (then gets no row) or rolls back (then inserts).
    inserted = uow.connection.execute(
        pg_insert(accounts)
        .values(id=account.id, email=email, name=name, kind=kind, password_hash=password_hash,
                created_at=account.created_at)
        .on_conflict_do_nothing(index_elements=[sa.func.lower(accounts.c.email)])
        .returning(accounts.c.id)
    ).first()
    if inserted is None:
        raise EmailTaken("an account with this email already exists", field="email")
    publish(uow, events.ACCOUNT_REGISTERED, account.id, events.account_registered(account.id, kind))
    return account


def get_account(uow: UnitOfWork, account_id: str) -> Account:
    parsed = _as_uuid(account_id)
    row = None if parsed is None else uow.connection.execute(
        sa.select(accounts.c.id, accounts.c.email, accounts.c.name, accounts.c.kind, accounts.c.created_at)
        .where(accounts.c.id == str(parsed))
    ).first()
    if row is None:
        raise AccountNotFound(f"no account {account_id!r}", account_id=str(account_id))
    return Account(id=row.id, email=row.email, name=row.name, kind=row.kind, created_at=row.created_at)


# -- tokens ----------------------------------------------------------------------------------

# Services cannot read password_hash: the database hands out the parameters and salt, and says whether
# a candidate hash equals the stored one (SECURITY DEFINER functions of migration id0002).
_PASSWORD_CHALLENGE = sa.text(
    "SELECT account_id, kind, params, digest_chars FROM identity.password_challenge(:email)")
_PASSWORD_MATCHES = sa.text("SELECT identity.password_matches(:account_id, :candidate)")


def issue_token(uow: UnitOfWork, *, email: str, password: str, kind: str = CUSTOMER,
                ttl: timedelta = timedelta(hours=24)) -> IssuedToken:
    """Check the password and issue a token inside the caller's transaction.

    For trusted callers only (the CLI, tests): it is not throttled, and it hashes while the caller's
    connection is checked out. Anything that answers the network logs in with log_in()."""
    _check_login_args(kind, ttl)
    if not _well_formed(email, password):
        passwords.burn_verification(password if isinstance(password, str) else "")
        raise BadCredentials()
    row = uow.connection.execute(_PASSWORD_CHALLENGE, {"email": email.strip()}).first()
    if row is None:
        passwords.burn_verification(password)
        raise BadCredentials()
    # Verify before looking at the kind so that every failure costs one argon2 verification.
    candidate = passwords.candidate_hash(row.params, row.digest_chars, password)
    if not _matches(uow, row, candidate) or row.kind != kind:
        raise BadCredentials()
    if passwords.params_need_rehash(row.params, row.digest_chars):
        # Parameters were raised since this hash was made: upgrade it now that we know the password.
        _store_rehash(uow, row.account_id, passwords.hash_password(password))
    return _insert_token(uow, row.account_id, kind, ttl)


UnitsOfWork = Callable[[], ContextManager[UnitOfWork]]


def log_in(units: UnitsOfWork, *, email: str, password: str, kind: str = CUSTOMER,
           client_address: str | None = None, ttl: timedelta = timedelta(hours=24),
           policy: throttle.Policy | None = None) -> IssuedToken:
    """The network-facing login: throttled and bounded, and never hashing while holding a connection.

    `units` opens a unit of work (Database.unit_of_work): each database step is its own short
    transaction, and the argon2 work between them holds no pooled connection and no open transaction.
      1. a password-check slot of this worker (passwords.hashing_slot): none free -> LoginBusy (429) at
         once, before any database work;
      2. transaction 1: charge the attempt to the account and the client address (throttle.charge;
         over a limit -> LoginThrottled, 429 with Retry-After) and fetch the password challenge;
      3. argon2, no connection held;
      4. transaction 2: compare, and on success issue the token and give the charge back;
      5. only when the stored hash's parameters are outdated: re-hash (if a slot is free) and store it.
    """
    _check_login_args(kind, ttl)
    policy = policy or throttle.policy_from_env()
    account = throttle.account_key(email)
    address = throttle.address_key(client_address)
    well_formed = _well_formed(email, password)
    with passwords.hashing_slot():
        with units() as uow:
            verdict = throttle.charge(uow, policy, account=account, address=address)
            row = (uow.connection.execute(_PASSWORD_CHALLENGE, {"email": email.strip()}).first()
                   if verdict.allowed and well_formed else None)
        if not verdict.allowed:
            raise LoginThrottled("too many failed logins; retry later", retry_after=verdict.retry_after)
        if row is None:
            # Cannot match any account; still cost what a real attempt costs.
            passwords.burn_verification(password if isinstance(password, str) else "")
            raise BadCredentials()
        candidate = passwords.candidate_hash(row.params, row.digest_chars, password)
    issued = None
    with units() as uow:
        if _matches(uow, row, candidate) and row.kind == kind:
            issued = _insert_token(uow, row.account_id, kind, ttl)
            throttle.forgive(uow, account=account, address=address)
    if issued is None:
        raise BadCredentials()
    if passwords.params_need_rehash(row.params, row.digest_chars):
        _rehash_if_idle(units, row.account_id, password)
    return issued


def _rehash_if_idle(units: UnitsOfWork, account_id: str, password: str) -> None:
    # An upgrade, not a duty: skipped when the worker is busy, done on a later login.
    from .errors import LoginBusy

    with contextlib.suppress(LoginBusy), passwords.hashing_slot():
        new_hash = passwords.hash_password(password)
        with units() as uow:
            _store_rehash(uow, account_id, new_hash)


def _check_login_args(kind: str, ttl: timedelta) -> None:
    check_kind(kind)
    if ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive, got {ttl!r}")


def _well_formed(email: object, password: object) -> bool:
    return (isinstance(email, str) and isinstance(password, str) and len(password) <= PASSWORD_MAX
            and "\x00" not in email)


def _matches(uow: UnitOfWork, row, candidate: str | None) -> bool:
    return candidate is not None and bool(uow.connection.execute(
        _PASSWORD_MATCHES, {"account_id": row.account_id, "candidate": candidate}).scalar())


def _store_rehash(uow: UnitOfWork, account_id: str, new_hash: str) -> None:
    uow.connection.execute(sa.update(accounts).where(accounts.c.id == account_id).values(password_hash=new_hash))


def _insert_token(uow: UnitOfWork, account_id: str, kind: str, ttl: timedelta) -> IssuedToken:
    secret = new_token_secret()
    now = utcnow()
    issued = IssuedToken(token=secret, token_id=str(uuid.uuid4()), expires_at=now + ttl,
                         scopes=SCOPES_BY_KIND[kind])
    uow.connection.execute(
        sa.insert(tokens).values(id=issued.token_id, token_hash=token_hash(secret), account_id=account_id,
                                 scopes=sorted(issued.scopes), created_at=now, expires_at=issued.expires_at)
    )
    return issued


@dataclass(frozen=True)
class TokenRecord:
    """What authenticate() learns from the database about one token (cached by Authenticator)."""
    principal: Principal
    expires_at: datetime


# The hot path: one statement, one unique-index probe on token_hash plus the account's primary key.
_TOKEN_BY_HASH = (
    sa.select(tokens.c.id, tokens.c.account_id, tokens.c.scopes, tokens.c.expires_at, tokens.c.revoked_at,
              accounts.c.kind, accounts.c.email)
    .select_from(tokens.join(accounts, accounts.c.id == tokens.c.account_id))
    .where(tokens.c.token_hash == sa.bindparam("token_hash"))
)


def load_token(uow: UnitOfWork, digest: bytes, now: datetime) -> TokenRecord:
    """The token's record if it exists, is not revoked and has not expired; else the typed error."""
    row = uow.connection.execute(_TOKEN_BY_HASH, {"token_hash": digest}).first()
    if row is None:
        raise TokenInvalid()
    if row.revoked_at is not None:
        raise TokenRevoked()
    record = TokenRecord(
        principal=Principal(subject_id=row.account_id, kind=row.kind, scopes=frozenset(row.scopes),
                            token_id=row.id, email=row.email),
        expires_at=row.expires_at,
    )
    check_access(record, now, None)
    return record


def check_access(record: TokenRecord, now: datetime, required_scope: str | None) -> Principal:
    if now >= record.expires_at:
        raise TokenExpired()
    if required_scope is not None and required_scope not in record.principal.scopes:
        raise MissingScope(f"this token lacks the {required_scope!r} scope", required=required_scope)
    return record.principal


def authenticate(uow: UnitOfWork, token: str, *, required_scope: str | None = None) -> Principal:
    now = utcnow()
    return check_access(load_token(uow, token_hash(token), now), now, required_scope)


def revoke_token(uow: UnitOfWork, token_id: str) -> None:
    """Make the token unusable. Idempotent: an already revoked or unknown id is not an error."""
    parsed = _as_uuid(token_id)
    if parsed is not None:
        _revoke(uow, tokens.c.id == str(parsed))


def revoke_token_secret(uow: UnitOfWork, token: str) -> None:
    """Revoke by the secret itself (log out). Idempotent like revoke_token."""
    if not is_well_formed_token(token):
        return
    _revoke(uow, tokens.c.token_hash == token_hash(token))


def _revoke(uow: UnitOfWork, which) -> None:
    # The guard makes the UPDATE the arbiter: only the transaction that actually revokes publishes.
    row = uow.connection.execute(
        sa.update(tokens).where(which, tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow())
        .returning(tokens.c.id, tokens.c.account_id)
    ).first()
    if row is not None:
        publish(uow, events.TOKEN_REVOKED, row.id, events.token_revoked(row.id, row.account_id))


def _as_uuid(value: object) -> uuid.UUID | None:
    # A malformed id must not reach Postgres: the cast error would abort the caller's transaction.
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
