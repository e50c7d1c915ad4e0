"""Identity use cases. Each takes the caller's unit of work first and never commits."""
from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, ContextManager

from acme_platform import Principal, UnitOfWork, publish

from . import events, passwords, repository, throttle
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
    inserted = repository.insert_account(uow.connection, id=account.id, email=email, name=name, kind=kind,
                                         password_hash=password_hash, created_at=account.created_at)
    if not inserted:
        raise EmailTaken("an account with this email already exists", field="email")
    publish(uow, events.ACCOUNT_REGISTERED, account.id, events.account_registered(account.id, kind))
    return account


def get_account(uow: UnitOfWork, account_id: str) -> Account:
    parsed = _as_uuid(account_id)
    row = None if parsed is None else repository.account(uow.connection, str(parsed))
    if row is None:
        raise AccountNotFound(f"no account {account_id!r}", account_id=str(account_id))
    return Account(id=row.id, email=row.email, name=row.name, kind=row.kind, created_at=row.created_at)


# -- tokens ----------------------------------------------------------------------------------

def issue_token(uow: UnitOfWork, *, email: str, password: str, kind: str = CUSTOMER,
                ttl: timedelta = timedelta(hours=24)) -> IssuedToken:
    """Check the password and issue a token inside the caller's transaction.

    For trusted callers only (the CLI, tests): it is not throttled, and it hashes while the caller's
    connection is checked out. Anything that answers the network logs in with log_in()."""
    _check_login_args(kind, ttl)
    if not _well_formed(email, password):
        passwords.burn_verification(password if isinstance(password, str) else "")
        raise BadCredentials()
    row = repository.password_challenge(uow.connection, email.strip())
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
            row = (repository.password_challenge(uow.connection, email.strip())
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
    return candidate is not None and repository.password_matches(uow.connection, row.account_id, candidate)


def _store_rehash(uow: UnitOfWork, account_id: str, new_hash: str) -> None:
    repository.store_rehash(uow.connection, str(account_id), new_hash)


def _insert_token(uow: UnitOfWork, account_id: str, kind: str, ttl: timedelta) -> IssuedToken:
    secret = new_token_secret()
    now = utcnow()
    issued = IssuedToken(token=secret, token_id=str(uuid.uuid4()), expires_at=now + ttl,
                         scopes=SCOPES_BY_KIND[kind])
    repository.insert_token(uow.connection, id=issued.token_id, token_hash=token_hash(secret), account_id=account_id,
                            scopes=sorted(issued.scopes), created_at=now, expires_at=issued.expires_at)
    return issued


@dataclass(frozen=True)
class TokenRecord:
    """What authenticate() learns from the database about one token (cached by Authenticator)."""
    principal: Principal
    expires_at: datetime


def load_token(uow: UnitOfWork, digest: bytes, now: datetime) -> TokenRecord:
    """The token's record if it exists, is not revoked and has not expired; else the typed error."""
    row = repository.token_by_hash(uow.connection, digest)
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
        _revoked(uow, repository.revoke_by_id(uow.connection, str(parsed), utcnow()))


def revoke_token_secret(uow: UnitOfWork, token: str) -> None:
    """Revoke by the secret itself (log out). Idempotent like revoke_token."""
    if not is_well_formed_token(token):
        return
    _revoked(uow, repository.revoke_by_hash(uow.connection, token_hash(token), utcnow()))


def _revoked(uow: UnitOfWork, row) -> None:
    # Only the transaction whose guarded UPDATE actually revoked the token gets a row, and publishes.
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
