"""The cached authenticator: revocation anywhere reaches every process's cache quickly.

Uses a real ChangeListener on the test database (LISTEN/NOTIFY through Postgres), and a second engine
as "another process" doing the revoking.
"""
import time
from datetime import datetime, timedelta, timezone

import pytest
from acme_platform import ChangeListener

from acme_identity import (
    Authenticator,
    MissingScope,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    issue_token,
    revoke_token,
    revoke_token_secret,
)

PASSWORD = "correct horse battery"


def _issue(database, account, **kw):
    with database.unit_of_work() as uow:
        return issue_token(uow, email=account.email, password=PASSWORD, kind=account.kind, **kw)


def _auth(database, authenticator, token, **kw):
    with database.unit_of_work() as uow:
        return authenticator.authenticate(uow, token, **kw)


def _revoke_silently(database, token_id):
    """Revoke in the database WITHOUT the event: shows whether an answer came from the cache."""
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql(
            "UPDATE identity.tokens SET revoked_at = now() WHERE id = %(id)s", {"id": token_id})


def _refused_within(database, authenticator, token, seconds):
    """Poll until the token is refused; returns the elapsed time, or None if still accepted."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            _auth(database, authenticator, token)
        except TokenRevoked:
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def test_second_call_is_served_from_the_cache(database, listener, customer):
    auth = Authenticator(listener)
    issued = _issue(database, customer)
    first = _auth(database, auth, issued.token)
    _revoke_silently(database, issued.token_id)
    # The database says revoked, but no event was published: only a cache hit can still accept it.
    assert _auth(database, auth, issued.token) == first
    assert (auth.hits, auth.misses) == (1, 1)


@pytest.mark.parametrize("how", ["by_id", "by_secret"])
def test_revocation_from_another_connection_is_refused_within_one_second(
        database, other_database, listener, customer, how):
    auth = Authenticator(listener)
    issued = _issue(database, customer)
    _auth(database, auth, issued.token)
    _auth(database, auth, issued.token)
    assert auth.hits == 1     # cached

    with other_database.unit_of_work() as uow:
        if how == "by_id":
            revoke_token(uow, issued.token_id)
        else:
            revoke_token_secret(uow, issued.token)

    elapsed = _refused_within(database, auth, issued.token, 1.0)
    assert elapsed is not None, "revoked token still accepted 1 s after the revoking transaction committed"
    print(f"revocation ({how}) refused after {elapsed * 1000:.1f} ms")
    assert len(auth) == 0


def test_revoking_one_token_keeps_others_cached(database, other_database, listener, customer):
    auth = Authenticator(listener)
    keep, drop = _issue(database, customer), _issue(database, customer)
    _auth(database, auth, keep.token)
    _auth(database, auth, drop.token)
    with other_database.unit_of_work() as uow:
        revoke_token(uow, drop.token_id)
    assert _refused_within(database, auth, drop.token, 1.0) is not None
    hits = auth.hits
    _revoke_silently(database, keep.token_id)          # only a cache hit can still accept it now
    assert _auth(database, auth, keep.token).token_id == keep.token_id
    assert auth.hits == hits + 1


def test_missing_scope_is_checked_on_hits(database, listener, customer):
    auth = Authenticator(listener)
    issued = _issue(database, customer)
    _auth(database, auth, issued.token, required_scope="customer")
    with pytest.raises(MissingScope) as info:
        _auth(database, auth, issued.token, required_scope="staff")
    assert info.value.extra == {"required": "staff"}
    assert auth.hits == 1


def test_expiry_is_checked_on_hits(database, listener, customer):
    now = [datetime.now(timezone.utc)]
    auth = Authenticator(listener, clock=lambda: now[0])
    issued = _issue(database, customer, ttl=timedelta(minutes=5))
    _auth(database, auth, issued.token)
    now[0] = issued.expires_at
    with pytest.raises(TokenExpired):
        _auth(database, auth, issued.token)
    assert auth.hits == 1


def test_failures_are_not_cached(database, listener, customer):
    auth = Authenticator(listener)
    issued = _issue(database, customer)
    with database.unit_of_work() as uow:
        revoke_token(uow, issued.token_id)
    for _ in range(2):
        with pytest.raises(TokenRevoked):
            _auth(database, auth, issued.token)
        with pytest.raises(TokenInvalid):
            _auth(database, auth, "acme_" + "Z" * 43)
    assert auth.hits == 0 and len(auth) == 0


def test_nothing_is_served_or_stored_while_the_listener_is_disconnected(
        database, migrated_database_url, customer):
    # A slow reconnect keeps the disconnected window open long enough to look at it (the checks
    # below take milliseconds; the connected flag is asserted again at the end).
    listener = ChangeListener(migrated_database_url, reconnect_delay=2.0).start()
    try:
        assert listener.wait_connected(10)
        auth = Authenticator(listener)
        cached, fresh = _issue(database, customer), _issue(database, customer)
        _auth(database, auth, cached.token)
        assert len(auth) == 1

        listener.drop_connection()
        deadline = time.monotonic() + 5
        while listener.connected:
            assert time.monotonic() < deadline, "listener did not notice its connection was dropped"
            time.sleep(0.01)

        # A revocation whose notification this process may have missed: must be seen at once.
        _revoke_silently(database, cached.token_id)
        with pytest.raises(TokenRevoked):
            _auth(database, auth, cached.token)
        # Valid tokens still work, straight from the database, and nothing is kept.
        for _ in range(2):
            assert _auth(database, auth, fresh.token).token_id == fresh.token_id
        assert auth.hits == 0 and auth.misses == 4
        assert not listener.connected
    finally:
        listener.stop()


def test_cache_is_flushed_when_the_listener_reconnects(database, migrated_database_url, customer):
    listener = ChangeListener(migrated_database_url, reconnect_delay=0.05).start()
    try:
        assert listener.wait_connected(10)
        auth = Authenticator(listener)
        issued = _issue(database, customer)
        _auth(database, auth, issued.token)
        assert len(auth) == 1
        reconnects = listener.reconnects
        listener.drop_connection()
        deadline = time.monotonic() + 5
        # The listener flushes its caches right after it reconnects (just after `connected` turns true).
        while not (listener.reconnects > reconnects and listener.connected and len(auth) == 0):
            assert time.monotonic() < deadline, "cache not flushed after the listener reconnected"
            time.sleep(0.01)
    finally:
        listener.stop()


def test_an_authenticator_without_a_started_listener_never_caches(database, migrated_database_url, customer):
    auth = Authenticator(ChangeListener(migrated_database_url))     # never started: never connected
    issued = _issue(database, customer)
    for _ in range(3):
        _auth(database, auth, issued.token)
    assert (auth.hits, auth.misses, len(auth)) == (0, 3, 0)


def test_revocation_still_reaches_entries_after_the_id_index_is_pruned(
        database, other_database, listener, customer):
    # max_entries=2: the LRU evicts silently and the token_id index is rebuilt past 4 ids.
    auth = Authenticator(listener, max_entries=2)
    tokens = [_issue(database, customer) for _ in range(7)]
    for issued in tokens:
        _auth(database, auth, issued.token)
    assert len(auth) == 2
    assert len(auth._index) <= 4
    last = tokens[-1]
    with other_database.unit_of_work() as uow:
        revoke_token(uow, last.token_id)
    assert _refused_within(database, auth, last.token, 1.0) is not None
