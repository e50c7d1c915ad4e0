"""log_in(): the failed-login throttle (state in Postgres), the per-worker bound on password checks,
and no pooled connection held while argon2 runs."""
import threading
import uuid

import pytest
import sqlalchemy as sa
from acme_platform import Database

from acme_identity import BadCredentials, LoginBusy, LoginThrottled, log_in, passwords
from acme_identity.throttle import Policy

PASSWORD = "correct horse battery"
POLICY = Policy(account_limit=10, address_limit=1000, window_seconds=900)


def _address() -> str:
    return f"192.0.2.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"   # unique per test


def _attempt(database, email, password, *, address, kind="customer", policy=POLICY):
    return log_in(database.unit_of_work, email=email, password=password, kind=kind,
                  client_address=address, policy=policy)


def test_the_eleventh_failure_is_throttled_with_the_rest_of_the_window(database, customer):
    address = _address()
    for _ in range(10):
        with pytest.raises(BadCredentials):
            _attempt(database, customer.email, "wrong password", address=address)
    with pytest.raises(LoginThrottled) as caught:
        _attempt(database, customer.email, PASSWORD, address=address)   # even the right password
    assert 890 <= caught.value.retry_after <= 900


def test_the_throttle_is_shared_by_separate_processes_pools(database, migrated_database_url, customer):
    # Two engines (two pools, as two services have): failures through one count for the other.
    other = Database(database.settings)
    try:
        for i in range(10):
            with pytest.raises(BadCredentials):
                _attempt(database if i % 2 else other, customer.email, "wrong password", address=_address())
        with pytest.raises(LoginThrottled):
            _attempt(other, customer.email, "wrong password", address=_address())
    finally:
        other.dispose()


def test_an_unknown_email_is_throttled_like_a_known_one(database, new_email):
    email, address = new_email("ghost"), _address()
    for _ in range(10):
        with pytest.raises(BadCredentials):
            _attempt(database, email, "whatever password", address=address)
    with pytest.raises(LoginThrottled):
        _attempt(database, email.upper(), "whatever password", address=address)   # the key is normalized


def test_one_address_trying_many_accounts_is_throttled(database, new_email):
    address, policy = _address(), Policy(account_limit=10, address_limit=5, window_seconds=900)
    for _ in range(5):
        with pytest.raises(BadCredentials):
            _attempt(database, new_email("spray"), "whatever password", address=address, policy=policy)
    with pytest.raises(LoginThrottled):
        _attempt(database, new_email("spray"), "whatever password", address=address, policy=policy)
    # Another address is not affected.
    with pytest.raises(BadCredentials):
        _attempt(database, new_email("spray"), "whatever password", address=_address(), policy=policy)


def test_a_success_clears_the_accounts_failures(database, customer):
    address = _address()
    for _ in range(9):
        with pytest.raises(BadCredentials):
            _attempt(database, customer.email, "wrong password", address=address)
    assert _attempt(database, customer.email, PASSWORD, address=address).token
    for _ in range(10):
        with pytest.raises(BadCredentials):
            _attempt(database, customer.email, "wrong password", address=address)


def test_a_window_that_ended_starts_over(database, migrated_database_url, customer):
    address = _address()
    for _ in range(11):
        with pytest.raises((BadCredentials, LoginThrottled)):
            _attempt(database, customer.email, "wrong password", address=address)
    admin = sa.create_engine(migrated_database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text("UPDATE identity.login_failures SET window_started_at = now() - interval '901 s' "
                             "WHERE scope = 'account' AND key = lower(:email)"), {"email": customer.email})
    admin.dispose()
    assert _attempt(database, customer.email, PASSWORD, address=address).token


def test_a_login_holds_no_connection_while_hashing(database, customer, monkeypatch):
    checked_out = []   # connections checked out of the pool at each argon2 call
    real = passwords.candidate_hash

    def spy(*args):
        checked_out.append(database.engine.pool.checkedout())
        return real(*args)

    monkeypatch.setattr(passwords, "candidate_hash", spy)
    assert _attempt(database, customer.email, PASSWORD, address=_address()).token
    assert checked_out == [0]


def test_a_login_beyond_the_workers_slots_is_refused_at_once(database, customer, monkeypatch):
    monkeypatch.setenv(passwords.SLOTS_ENV, "1")
    monkeypatch.setattr(passwords, "_slots", {})
    inside, release = threading.Event(), threading.Event()
    real = passwords.candidate_hash

    def slow(*args):
        inside.set()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(passwords, "candidate_hash", slow)
    results = []
    first = threading.Thread(target=lambda: results.append(_attempt(database, customer.email, PASSWORD,
                                                                    address=_address())))
    first.start()
    try:
        assert inside.wait(10)
        with pytest.raises(LoginBusy) as caught:
            _attempt(database, customer.email, PASSWORD, address=_address())
        assert caught.value.retry_after == 1
    finally:
        release.set()
        first.join(10)
    assert results and results[0].token
