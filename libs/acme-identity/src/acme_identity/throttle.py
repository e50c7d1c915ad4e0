"""The failed-login throttle, with its counters in Postgres (identity.login_failures, migration id0003).

Why Postgres: a service runs as several gunicorn workers, on several hosts, and storefront and
backoffice both log people in. A counter in one process would give an attacker a fresh budget per
worker, per instance and per service; the database is the one thing they all share.

The policy is a fixed window per key: the first counted attempt starts a window of WINDOW seconds;
at most LIMIT attempts are let through in it; the next ones answer 429 with Retry-After = the rest of
the window. Keys:
  - 'account': the normalized email (known or not, so a 429 reveals nothing about which emails exist);
  - 'address': the client address (acme_platform.web.client_address), for one source trying many
    accounts.
An attempt is charged BEFORE its password is checked, in its own short transaction: concurrent
attempts each see the others' charges, so a burst of 40 parallel guesses cannot all slip in under the
limit. A successful login gives its charge back (the account's counter is cleared, the address's
decremented): only failures accumulate.

Trade-off, deliberately accepted: anyone can lock an account's logins for one window by failing 10
times. The window is short and nothing else about the account is affected.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from acme_platform import UnitOfWork
from acme_platform.config import env_int

from . import repository

ACCOUNT_LIMIT_ENV = "ACME_IDENTITY_LOGIN_ACCOUNT_LIMIT"
ADDRESS_LIMIT_ENV = "ACME_IDENTITY_LOGIN_ADDRESS_LIMIT"
WINDOW_ENV = "ACME_IDENTITY_LOGIN_WINDOW_SECONDS"

ACCOUNT = "account"
ADDRESS = "address"
_KEY_MAX = 320
# One charge in this many also purges expired windows: the table stays as small as the last window's
# distinct keys without a scheduler.
_PURGE_EVERY = 64


@dataclass(frozen=True)
class Policy:
    account_limit: int = 10
    address_limit: int = 100
    window_seconds: int = 900


def policy_from_env() -> Policy:
    return Policy(
        account_limit=env_int(ACCOUNT_LIMIT_ENV, Policy.account_limit, 1, 1_000_000),
        address_limit=env_int(ADDRESS_LIMIT_ENV, Policy.address_limit, 1, 1_000_000),
        window_seconds=env_int(WINDOW_ENV, Policy.window_seconds, 1, 86_400),
    )


def account_key(email: object) -> str | None:
    if not isinstance(email, str):
        return None
    key = email.strip().lower()[:_KEY_MAX]
    return key or None


def address_key(address: str | None) -> str | None:
    return address[:_KEY_MAX] if address else None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0   # seconds until the fullest window ends (when not allowed)


def charge(uow: UnitOfWork, policy: Policy, *, account: str | None, address: str | None) -> Verdict:
    """Count one login attempt against its keys; not allowed if any key is over its limit."""
    keyed = [(scope, key) for scope, key in ((ACCOUNT, account), (ADDRESS, address)) if key]
    if not keyed:
        return Verdict(True)
    # Keys in a fixed order: two attempts touching the same two rows lock them in the same order.
    keyed.sort()
    rows = repository.charge_attempts(uow.connection, keyed, policy.window_seconds)
    limits = {ACCOUNT: policy.account_limit, ADDRESS: policy.address_limit}
    over = [row for row in rows if row.attempts > limits[row.scope]]
    if random.randrange(_PURGE_EVERY) == 0:
        repository.purge_attempts(uow.connection, policy.window_seconds)
    if not over:
        return Verdict(True)
    return Verdict(False, max(1, max(math.ceil(float(row.remaining)) for row in over)))


def forgive(uow: UnitOfWork, *, account: str | None, address: str | None) -> None:
    """A login succeeded: its charge was not a failure."""
    if account:
        repository.forgive_account(uow.connection, account)
    if address:
        repository.forgive_address(uow.connection, address)
