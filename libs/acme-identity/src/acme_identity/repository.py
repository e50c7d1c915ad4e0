"""The SQL identity runs: accounts, the password check, tokens and the login throttle's counters.

SQL texts fixed at import, in psycopg's `%(name)s` style, sent with `exec_driver_sql`: the
data-access convention of every acme domain (README "Data access"). Ids come back as text (`::text`),
as the domain's values carry them; psycopg alone would hand back uuid.UUID objects. Each function is
one round trip; the use cases in service.py and throttle.py decide what the rows mean.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

# -- accounts ----------------------------------------------------------------------------------

# ON CONFLICT DO NOTHING on the case-insensitive email index instead of catching a unique violation:
# an error would abort the caller's whole transaction, which may already hold other domains' work.
INSERT_ACCOUNT = (
    "INSERT INTO identity.accounts (id, email, name, kind, password_hash, created_at) "
    "VALUES (%(id)s::uuid, %(email)s, %(name)s, %(kind)s, %(password_hash)s, %(created_at)s) "
    "ON CONFLICT (lower(email)) DO NOTHING "
    "RETURNING id::text AS id"
)

ACCOUNT_BY_ID = (
    "SELECT a.id::text AS id, a.email, a.name, a.kind, a.created_at "
    "FROM identity.accounts AS a WHERE a.id = %(id)s::uuid"
)

STORE_REHASH = "UPDATE identity.accounts SET password_hash = %(password_hash)s WHERE id = %(id)s::uuid"


def insert_account(conn: Connection, *, id: str, email: str, name: str, kind: str, password_hash: str,
                   created_at: datetime) -> bool:
    """False if an account with this email (any case) exists. A racing registration blocks here until
    the first commits (then False) or rolls back (then True)."""
    params = {"id": id, "email": email, "name": name, "kind": kind, "password_hash": password_hash,
              "created_at": created_at}
    return conn.exec_driver_sql(INSERT_ACCOUNT, params).first() is not None


def account(conn: Connection, account_id: str) -> Row[Any] | None:
    """(id, email, name, kind, created_at), or None. `account_id` must already be a well-formed uuid."""
    return conn.exec_driver_sql(ACCOUNT_BY_ID, {"id": account_id}).first()


def store_rehash(conn: Connection, account_id: str, password_hash: str) -> None:
    conn.exec_driver_sql(STORE_REHASH, {"id": account_id, "password_hash": password_hash})


# -- the password check ------------------------------------------------------------------------

# Services cannot read password_hash: the database hands out the parameters and salt, and says whether
# a candidate hash equals the stored one (SECURITY DEFINER functions of migration id0002).
PASSWORD_CHALLENGE = (
    "SELECT account_id, kind, params, digest_chars FROM identity.password_challenge(%(email)s)"
)
PASSWORD_MATCHES = "SELECT identity.password_matches(%(account_id)s, %(candidate)s)"


def password_challenge(conn: Connection, email: str) -> Row[Any] | None:
    """(account_id, kind, params, digest_chars) of the account with this email, or None."""
    return conn.exec_driver_sql(PASSWORD_CHALLENGE, {"email": email}).first()


def password_matches(conn: Connection, account_id: Any, candidate: str) -> bool:
    return bool(conn.exec_driver_sql(PASSWORD_MATCHES, {"account_id": account_id, "candidate": candidate}).scalar())


# -- tokens ------------------------------------------------------------------------------------

INSERT_TOKEN = (
    "INSERT INTO identity.tokens (id, token_hash, account_id, scopes, created_at, expires_at) "
    "VALUES (%(id)s::uuid, %(token_hash)s, %(account_id)s::uuid, %(scopes)s::text[], %(created_at)s, "
    "%(expires_at)s)"
)

# The hot path of authentication: one statement, one unique-index probe on token_hash plus the
# account's primary key. (bench/floor.py runs this very text.)
TOKEN_BY_HASH = (
    "SELECT t.id::text AS id, t.account_id::text AS account_id, t.scopes, t.expires_at, t.revoked_at, "
    "a.kind, a.email "
    "FROM identity.tokens AS t JOIN identity.accounts AS a ON a.id = t.account_id "
    "WHERE t.token_hash = %(token_hash)s"
)

# The `revoked_at IS NULL` guard makes the UPDATE the arbiter: only the transaction that actually
# revokes gets a row back (and publishes).
_REVOKE = (
    "UPDATE identity.tokens SET revoked_at = %(now)s "
    "WHERE {which} AND revoked_at IS NULL "
    "RETURNING id::text AS id, account_id::text AS account_id"
)
REVOKE_BY_ID = _REVOKE.format(which="id = %(id)s::uuid")
REVOKE_BY_HASH = _REVOKE.format(which="token_hash = %(token_hash)s")


def insert_token(conn: Connection, *, id: str, token_hash: bytes, account_id: Any, scopes: list[str],
                 created_at: datetime, expires_at: datetime) -> None:
    conn.exec_driver_sql(INSERT_TOKEN, {
        "id": id, "token_hash": token_hash, "account_id": str(account_id), "scopes": scopes,
        "created_at": created_at, "expires_at": expires_at,
    })


def token_by_hash(conn: Connection, digest: bytes) -> Row[Any] | None:
    """(id, account_id, scopes, expires_at, revoked_at, kind, email) of the token, or None."""
    return conn.exec_driver_sql(TOKEN_BY_HASH, {"token_hash": digest}).first()


def revoke_by_id(conn: Connection, token_id: str, now: datetime) -> Row[Any] | None:
    """(id, account_id) if this call revoked the token; None if unknown or already revoked."""
    return conn.exec_driver_sql(REVOKE_BY_ID, {"id": token_id, "now": now}).first()


def revoke_by_hash(conn: Connection, digest: bytes, now: datetime) -> Row[Any] | None:
    return conn.exec_driver_sql(REVOKE_BY_HASH, {"token_hash": digest, "now": now}).first()


# -- the login throttle's counters (throttle.py decides; migration id0003) -----------------------

# Counts one attempt per key; a key whose window has ended starts a new one. RETURNING sees the row
# as written, so the decision and the count are one atomic step per key.
CHARGE_ATTEMPTS = """
    INSERT INTO identity.login_failures AS f (scope, key, attempts, window_started_at)
    SELECT scope, key, 1, now() FROM unnest(CAST(%(scopes)s AS text[]), CAST(%(keys)s AS text[])) AS k (scope, key)
    ON CONFLICT (scope, key) DO UPDATE SET
        attempts = CASE WHEN f.window_started_at <= now() - make_interval(secs => %(window)s)
                        THEN 1 ELSE f.attempts + 1 END,
        window_started_at = CASE WHEN f.window_started_at <= now() - make_interval(secs => %(window)s)
                                 THEN now() ELSE f.window_started_at END
    RETURNING f.scope, f.attempts,
              ceil(extract(epoch FROM f.window_started_at + make_interval(secs => %(window)s) - now())) AS remaining
    """
PURGE_ATTEMPTS = """
    DELETE FROM identity.login_failures WHERE ctid IN (
        SELECT ctid FROM identity.login_failures
        WHERE window_started_at <= now() - make_interval(secs => %(window)s)
        LIMIT 1000 FOR UPDATE SKIP LOCKED)
    """
FORGIVE_ACCOUNT = "DELETE FROM identity.login_failures WHERE scope = 'account' AND key = %(key)s"
FORGIVE_ADDRESS = (
    "UPDATE identity.login_failures SET attempts = greatest(attempts - 1, 0) WHERE scope = 'address' AND key = %(key)s"
)


def charge_attempts(conn: Connection, keyed: list[tuple[str, str]], window_seconds: int) -> list[Row[Any]]:
    """(scope, attempts, remaining seconds of the window) per (scope, key), after counting this attempt."""
    return list(conn.exec_driver_sql(CHARGE_ATTEMPTS, {
        "scopes": [s for s, _ in keyed], "keys": [k for _, k in keyed], "window": window_seconds}))


def purge_attempts(conn: Connection, window_seconds: int) -> None:
    conn.exec_driver_sql(PURGE_ATTEMPTS, {"window": window_seconds})


def forgive_account(conn: Connection, key: str) -> None:
    conn.exec_driver_sql(FORGIVE_ACCOUNT, {"key": key})


def forgive_address(conn: Connection, key: str) -> None:
    conn.exec_driver_sql(FORGIVE_ADDRESS, {"key": key})
