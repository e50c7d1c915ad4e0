"""The SQL billing runs, each use case in as few round trips as the database allows.

A posting is ONE statement: data-modifying CTEs update the customer's cached balance behind a guard,
insert the posting, and insert both entries (one multi-row INSERT). When the guard fails the UPDATE
returns no row, so the INSERTs that select from it insert nothing: a refused posting writes nothing.
Statements are SQL texts fixed at import, in psycopg's `%(name)s` style, sent with `exec_driver_sql`
(the data-access convention of every acme domain: see README "Data access"); psycopg prepares them
server-side after a few uses. bench/floor.py imports the very same texts.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy.engine import Connection, Row

# The posting and its two entries, appended to a CTE named `account` that RETURNs the customer's
# (id, balance_cents, currency) after the change. `%(system_owner_prefix)s || currency` names the
# per-currency system account on the other side; `%(delta)s` is the customer's signed change.
_POST = """
, posting AS (
    INSERT INTO billing.postings
        (id, kind, owner_id, amount_cents, currency, reference, granted_by, balance_after_cents, created_at)
    SELECT CAST(%(posting_id)s AS uuid), %(kind)s, %(owner_id)s, CAST(%(amount)s AS bigint), account.currency,
           %(reference)s, %(granted_by)s, account.balance_cents, %(created_at)s
    FROM account
    RETURNING id
), moved AS (
    INSERT INTO billing.entries (posting_id, account_id, amount_cents)
    SELECT posting.id, e.account_id, e.amount_cents
    FROM posting, account, LATERAL (VALUES
        (account.id, CAST(%(delta)s AS bigint)),
        ((SELECT s.id FROM billing.accounts s
          WHERE s.kind = 'system' AND s.owner_id = %(system_owner_prefix)s || account.currency),
         -CAST(%(delta)s AS bigint))
    ) AS e(account_id, amount_cents)
)
"""

_OPEN = (
    """
    WITH created AS (
        INSERT INTO billing.accounts (id, owner_id, kind, currency, balance_cents)
        VALUES (CAST(%(customer_id)s AS uuid), %(owner_id)s, 'customer', %(currency)s, 0),
               (CAST(%(grants_id)s AS uuid), %(grants_owner)s, 'system', %(currency)s, NULL),
               (CAST(%(revenue_id)s AS uuid), %(revenue_owner)s, 'system', %(currency)s, NULL)
        ON CONFLICT ON CONSTRAINT accounts_kind_owner_key DO NOTHING
        RETURNING owner_id, kind, balance_cents, currency
    )
    SELECT balance_cents, currency FROM created WHERE kind = 'customer'
    UNION ALL
    SELECT balance_cents, currency FROM billing.accounts WHERE kind = 'customer' AND owner_id = %(owner_id)s
    """
)

BALANCE = (
    "SELECT balance_cents, currency FROM billing.accounts WHERE kind = 'customer' AND owner_id = %(owner_id)s"
)

_CREDIT = (
    """
    WITH account AS (
        UPDATE billing.accounts SET balance_cents = balance_cents + CAST(%(delta)s AS bigint)
        WHERE kind = 'customer' AND owner_id = %(owner_id)s
        RETURNING id, balance_cents, currency
    )"""
    + _POST
    + "SELECT balance_cents, currency FROM account"
)

# The guard is the whole concurrency story: a second charge waits for the first's row lock, then
# re-checks `balance_cents >= %(amount)s` against the committed balance, so two charges never overdraw.
CHARGE = (
    """
    WITH account AS (
        UPDATE billing.accounts SET balance_cents = balance_cents + CAST(%(delta)s AS bigint)
        WHERE kind = 'customer' AND owner_id = %(owner_id)s
          AND currency = %(currency)s AND balance_cents >= CAST(%(amount)s AS bigint)
        RETURNING id, balance_cents, currency
    )"""
    + _POST
    + "SELECT balance_cents, currency FROM account"
)

# Serialises refunds of one reference: the second waits here until the first commits. Charge rows are
# never updated, so only refunds of the same reference contend for these locks.
_LOCK_CHARGES = (
    """
    SELECT id FROM billing.postings
    WHERE owner_id = %(owner_id)s AND reference = %(reference)s AND kind = 'charge'
    ORDER BY id
    FOR UPDATE
    """
)

# Runs after _LOCK_CHARGES in its own statement, so (READ COMMITTED) its snapshot includes every refund
# committed while we waited for the lock.
_REFUND = (
    """
    WITH tally AS (
        SELECT CAST(coalesce(sum(amount_cents) FILTER (WHERE kind = 'charge'), 0)
                    - coalesce(sum(amount_cents) FILTER (WHERE kind = 'refund'), 0) AS bigint) AS refundable
        FROM billing.postings
        WHERE owner_id = %(owner_id)s AND reference = %(reference)s AND kind IN ('charge', 'refund')
    ), account AS (
        UPDATE billing.accounts SET balance_cents = balance_cents + CAST(%(delta)s AS bigint)
        WHERE kind = 'customer' AND owner_id = %(owner_id)s
          AND (SELECT refundable FROM tally) >= CAST(%(amount)s AS bigint)
        RETURNING id, balance_cents, currency
    )"""
    + _POST
    + """
    SELECT tally.refundable, account.balance_cents, account.currency
    FROM tally LEFT JOIN account ON true
    """
)

# Every invariant in one statement, so all of them are judged against the same snapshot.
_CHECK_LIMIT = 100
_CHECK = (
    f"""
    WITH posting_totals AS (
        SELECT p.id, p.kind, p.owner_id, p.amount_cents, p.currency,
               count(e.account_id) AS entry_count,
               coalesce(sum(e.amount_cents), 0) AS total,
               coalesce(sum(e.amount_cents) FILTER (
                   WHERE a.kind = 'customer' AND a.owner_id = p.owner_id), 0) AS customer_side,
               coalesce(sum(e.amount_cents) FILTER (
                   WHERE a.kind = 'system' AND a.owner_id =
                       CASE p.kind WHEN 'credit' THEN %(grants_prefix)s ELSE %(revenue_prefix)s END
                       || p.currency), 0) AS system_side,
               count(*) FILTER (WHERE a.currency <> p.currency) AS foreign_entries,
               count(*) FILTER (WHERE e.account_id IS NOT NULL AND a.id IS NULL) AS unknown_accounts,
               CASE p.kind WHEN 'charge' THEN -p.amount_cents ELSE p.amount_cents END AS expected
        FROM billing.postings p
        LEFT JOIN billing.entries e ON e.posting_id = p.id
        LEFT JOIN billing.accounts a ON a.id = e.account_id
        GROUP BY p.id
    ), account_totals AS (
        SELECT a.owner_id, a.balance_cents, coalesce(sum(e.amount_cents), 0) AS derived
        FROM billing.accounts a
        LEFT JOIN billing.entries e ON e.account_id = a.id
        WHERE a.kind = 'customer'
        GROUP BY a.id
    ), reference_totals AS (
        SELECT owner_id, reference,
               coalesce(sum(amount_cents) FILTER (WHERE kind = 'charge'), 0) AS charged,
               coalesce(sum(amount_cents) FILTER (WHERE kind = 'refund'), 0) AS refunded
        FROM billing.postings
        WHERE kind IN ('charge', 'refund')
        GROUP BY owner_id, reference
    )
    SELECT 'count' AS problem, jsonb_build_object('postings', count(*)) AS detail FROM posting_totals
    UNION ALL
    (SELECT 'posting', jsonb_build_object(
                'id', id, 'kind', kind, 'owner_id', owner_id, 'amount_cents', amount_cents,
                'currency', currency, 'entry_count', entry_count, 'total', total,
                'customer_side', customer_side, 'system_side', system_side,
                'foreign_entries', foreign_entries, 'unknown_accounts', unknown_accounts,
                'expected', expected)
     FROM posting_totals
     WHERE total <> 0 OR entry_count <> 2 OR customer_side <> expected OR system_side <> -expected
        OR foreign_entries > 0 OR unknown_accounts > 0
     ORDER BY id LIMIT {_CHECK_LIMIT})
    UNION ALL
    (SELECT 'account', jsonb_build_object(
                'owner_id', owner_id, 'balance_cents', balance_cents, 'derived', derived)
     FROM account_totals
     WHERE balance_cents IS DISTINCT FROM derived OR balance_cents < 0 OR derived < 0
     ORDER BY owner_id LIMIT {_CHECK_LIMIT})
    UNION ALL
    (SELECT 'reference', jsonb_build_object(
                'owner_id', owner_id, 'reference', reference, 'charged', charged, 'refunded', refunded)
     FROM reference_totals
     WHERE refunded > charged
     ORDER BY owner_id, reference LIMIT {_CHECK_LIMIT})
    """
)


def open_account(conn: Connection, *, owner_id: str, currency: str, ids: Sequence[str],
                 grants_owner: str, revenue_owner: str) -> Row | None:
    customer_id, grants_id, revenue_id = ids
    return conn.exec_driver_sql(_OPEN, {
        "customer_id": customer_id, "grants_id": grants_id, "revenue_id": revenue_id,
        "owner_id": owner_id, "currency": currency,
        "grants_owner": grants_owner, "revenue_owner": revenue_owner,
    }).first()


def balance(conn: Connection, owner_id: str) -> Row | None:
    return conn.exec_driver_sql(BALANCE, {"owner_id": owner_id}).first()


def _posting_params(*, posting_id: str, kind: str, owner_id: str, amount_cents: int, delta: int,
                    reference: str, created_at: datetime, system_owner_prefix: str,
                    granted_by: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "posting_id": posting_id, "kind": kind, "owner_id": owner_id, "amount": amount_cents,
        "delta": delta, "reference": reference, "granted_by": granted_by, "created_at": created_at,
        "system_owner_prefix": system_owner_prefix, **extra,
    }


def post_credit(conn: Connection, **params: Any) -> Row | None:
    return conn.exec_driver_sql(_CREDIT, _posting_params(kind="credit", **params)).first()


def post_charge(conn: Connection, *, currency: str, **params: Any) -> Row | None:
    return conn.exec_driver_sql(CHARGE, _posting_params(kind="charge", currency=currency, **params)).first()


def lock_charges(conn: Connection, owner_id: str, reference: str) -> list[str]:
    return list(conn.exec_driver_sql(_LOCK_CHARGES, {"owner_id": owner_id, "reference": reference}).scalars())


def post_refund(conn: Connection, **params: Any) -> Row:
    return conn.exec_driver_sql(_REFUND, _posting_params(kind="refund", **params)).one()


def ledger_rows(conn: Connection, *, grants_prefix: str, revenue_prefix: str) -> list[Row]:
    return list(conn.exec_driver_sql(_CHECK, {"grants_prefix": grants_prefix, "revenue_prefix": revenue_prefix}))


# -- idempotency of credits ----------------------------------------------------------------------

_CLAIM_CREDIT_KEY = (
    "INSERT INTO billing.credit_keys (owner_id, key, request_hash, posting_id) "
    "VALUES (%(owner_id)s, %(key)s, %(request_hash)s, CAST(%(posting_id)s AS uuid)) "
    "ON CONFLICT (owner_id, key) DO NOTHING RETURNING posting_id"
)

_KEYED_CREDIT = (
    "SELECT k.request_hash, p.id::text AS id, p.kind, p.owner_id, p.amount_cents, p.currency, p.reference, "
    "p.created_at, p.balance_after_cents "
    "FROM billing.credit_keys AS k JOIN billing.postings AS p ON p.id = k.posting_id "
    "WHERE k.owner_id = %(owner_id)s AND k.key = %(key)s"
)


def claim_credit_key(conn: Connection, owner_id: str, key: str, fingerprint: str, posting_id: str) -> bool:
    """True if this transaction now owns the key. A concurrent owner makes this wait on the primary key
    until it commits (then False) or rolls back (then True): that wait is what serialises duplicates."""
    params = {"owner_id": owner_id, "key": key, "request_hash": fingerprint, "posting_id": posting_id}
    return conn.exec_driver_sql(_CLAIM_CREDIT_KEY, params).first() is not None


def keyed_credit(conn: Connection, owner_id: str, key: str) -> Row | None:
    """The request hash and posting stored under the key, read in a fresh snapshot (a new statement)."""
    return conn.exec_driver_sql(_KEYED_CREDIT, {"owner_id": owner_id, "key": key}).first()
