"""Billing use cases. Each takes the unit of work first and runs inside the caller's transaction:
a raised error means the caller's unit of work rolls back, so nothing here commits or rolls back."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from acme_platform import UnitOfWork, publish

from . import repository
from .errors import AccountNotFound, CurrencyMismatch, IdempotencyKeyReused, InsufficientFunds, RefundExceedsCharge
from .events import BALANCE_CHANGED, balance_changed
from .model import (
    GRANTS_PREFIX,
    IDEMPOTENCY_FIELD,
    MAX_CREDIT_CENTS,
    REVENUE_PREFIX,
    WALLET_CURRENCY,
    Balance,
    LedgerReport,
    Posting,
    check_idempotency_key,
    credit_request_hash,
    customer_delta,
    grants_account,
    revenue_account,
    validate_amount,
    validate_currency,
    validate_text,
)

# A refused charge is re-read to explain the refusal; if a concurrent credit made it affordable in
# between, the charge is simply tried again (it wrote nothing). Bounded so a flapping balance can't loop.
_CHARGE_ATTEMPTS = 3


def open_account(uow: UnitOfWork, owner_id: str, currency: str = WALLET_CURRENCY) -> Balance:
    """The customer's account, created (balance 0) if it does not exist yet. Idempotent."""
    validate_text(owner_id, "owner_id")
    validate_currency(currency)
    conn = uow.connection
    row = repository.open_account(
        conn, owner_id=owner_id, currency=currency, ids=[str(uuid.uuid4()) for _ in range(3)],
        grants_owner=grants_account(currency), revenue_owner=revenue_account(currency),
    )
    if row is None:
        # Created by a concurrent transaction that committed after this statement's snapshot:
        # our INSERT waited for it and did nothing; a new statement sees it.
        row = repository.balance(conn, owner_id)
    if row.currency != currency:
        raise CurrencyMismatch(
            f"account of {owner_id!r} is in {row.currency}, not {currency}", expected=row.currency, got=currency,
        )
    return Balance(owner_id=owner_id, balance_cents=row.balance_cents, currency=row.currency)


def get_balance(uow: UnitOfWork, owner_id: str) -> Balance:
    validate_text(owner_id, "owner_id")
    row = repository.balance(uow.connection, owner_id)
    if row is None:
        raise AccountNotFound(owner_id)
    return Balance(owner_id=owner_id, balance_cents=row.balance_cents, currency=row.currency)


def credit(uow: UnitOfWork, owner_id: str, amount_cents: int, *, reference: str,
           granted_by: str | None = None, idempotency_key: str | None = None) -> Posting:
    """A staff grant, drawn from the currency's grants account. Never opens an account.

    With an idempotency key (scoped to the wallet's owner), a retry of the same grant (same amount,
    same granter) returns the first attempt's posting and posts nothing; the same key with another
    grant raises IdempotencyKeyReused naming `Idempotency-Key`.
    """
    validate_text(owner_id, "owner_id")
    validate_amount(amount_cents, maximum=MAX_CREDIT_CENTS)
    validate_text(reference, "reference")
    if granted_by is not None:
        validate_text(granted_by, "granted_by")
    key = check_idempotency_key(idempotency_key)
    posting_id, now = str(uuid.uuid4()), _now()
    if key is not None:
        fingerprint = credit_request_hash(amount_cents, granted_by)
        if not repository.claim_credit_key(uow.connection, owner_id, key, fingerprint, posting_id):
            return _replayed_credit(uow, owner_id, key, fingerprint)
    row = repository.post_credit(
        uow.connection, posting_id=posting_id, owner_id=owner_id, amount_cents=amount_cents,
        delta=customer_delta("credit", amount_cents), reference=reference, granted_by=granted_by,
        created_at=now, system_owner_prefix=GRANTS_PREFIX,
    )
    if row is None:
        raise AccountNotFound(owner_id)
    return _posted(uow, posting_id, "credit", owner_id, amount_cents, row.currency, reference, now, row.balance_cents)


def _replayed_credit(uow: UnitOfWork, owner_id: str, key: str, fingerprint: str) -> Posting:
    row = repository.keyed_credit(uow.connection, owner_id, key)
    if row is None:
        # The key and its posting commit together (the FK is checked at commit): only damage by hand
        # gets here, so fail loudly rather than guess.
        raise RuntimeError(f"idempotency key {key!r} of {owner_id!r} has no posting")
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused("this idempotency key was already used for a different credit",
                                   field=IDEMPOTENCY_FIELD)
    return Posting(id=row.id, kind=row.kind, owner_id=row.owner_id, amount_cents=row.amount_cents,
                   currency=row.currency, reference=row.reference, created_at=row.created_at.astimezone(timezone.utc),
                   balance_after_cents=row.balance_after_cents)


def charge(uow: UnitOfWork, owner_id: str, amount_cents: int, currency: str, *, reference: str) -> Posting:
    """Move money from the customer to revenue. Refused (nothing written) if the balance can't cover it.

    One round trip on success: guarded UPDATE + posting INSERT + entries INSERT in one statement.
    """
    validate_text(owner_id, "owner_id")
    validate_amount(amount_cents)
    validate_currency(currency)
    validate_text(reference, "reference")
    conn = uow.connection
    for _ in range(_CHARGE_ATTEMPTS):
        posting_id, now = str(uuid.uuid4()), _now()
        row = repository.post_charge(
            conn, posting_id=posting_id, owner_id=owner_id, amount_cents=amount_cents, currency=currency,
            delta=customer_delta("charge", amount_cents), reference=reference, created_at=now,
            system_owner_prefix=REVENUE_PREFIX,
        )
        if row is not None:
            return _posted(uow, posting_id, "charge", owner_id, amount_cents, currency, reference, now,
                           row.balance_cents)
        current = repository.balance(conn, owner_id)
        if current is None:
            raise AccountNotFound(owner_id)
        if current.currency != currency:
            raise CurrencyMismatch(
                f"account of {owner_id!r} is in {current.currency}, not {currency}",
                expected=current.currency, got=currency,
            )
        if current.balance_cents < amount_cents:
            raise InsufficientFunds(owner_id, balance_cents=current.balance_cents, required_cents=amount_cents)
    raise InsufficientFunds(owner_id, balance_cents=current.balance_cents, required_cents=amount_cents)


def refund(uow: UnitOfWork, owner_id: str, amount_cents: int, *, reference: str) -> Posting:
    """Give back up to what was charged for `reference`, less what was already refunded for it."""
    validate_text(owner_id, "owner_id")
    validate_amount(amount_cents)
    validate_text(reference, "reference")
    conn = uow.connection
    if not repository.lock_charges(conn, owner_id, reference):
        if repository.balance(conn, owner_id) is None:
            raise AccountNotFound(owner_id)
        raise RefundExceedsCharge(owner_id, reference, requested_cents=amount_cents, refundable_cents=0)
    posting_id, now = str(uuid.uuid4()), _now()
    row = repository.post_refund(
        conn, posting_id=posting_id, owner_id=owner_id, amount_cents=amount_cents,
        delta=customer_delta("refund", amount_cents), reference=reference, created_at=now,
        system_owner_prefix=REVENUE_PREFIX,
    )
    if row.balance_cents is None:
        # A charge exists, so the account does too: only the refundable guard can have refused.
        raise RefundExceedsCharge(owner_id, reference, requested_cents=amount_cents,
                                  refundable_cents=max(row.refundable, 0))
    return _posted(uow, posting_id, "refund", owner_id, amount_cents, row.currency, reference, now, row.balance_cents)


def check_ledger(uow: UnitOfWork) -> LedgerReport:
    """Prove the ledger: every posting is two entries summing to zero (customer side = the posting's
    signed amount, the other side its currency's system account); every customer's cached balance equals
    the sum of its entries and is not negative; no reference refunded beyond what was charged.
    One statement, so every rule is judged against the same snapshot."""
    rows = repository.ledger_rows(uow.connection, grants_prefix=GRANTS_PREFIX, revenue_prefix=REVENUE_PREFIX)
    checked, problems = 0, []
    for row in rows:
        d = row.detail
        if row.problem == "count":
            checked = int(d["postings"])
        elif row.problem == "posting":
            problems.append(_posting_problem(d))
        elif row.problem == "account":
            problems.append(_account_problem(d))
        elif row.problem == "reference":
            problems.append(
                f"reference {d['reference']!r} of {d['owner_id']!r}: refunded {d['refunded']} "
                f"exceeds charged {d['charged']}"
            )
    return LedgerReport(balanced=not problems, postings_checked=checked, problems=problems)


def _posting_problem(d: dict) -> str:
    reasons = []
    if d["total"] != 0:
        reasons.append(f"entries sum to {d['total']}, not 0")
    if d["entry_count"] != 2:
        reasons.append(f"{d['entry_count']} entries, not 2")
    if d["customer_side"] != d["expected"]:
        reasons.append(f"customer side is {d['customer_side']}, not {d['expected']}")
    if d["system_side"] != -d["expected"]:
        reasons.append(f"system side is {d['system_side']}, not {-d['expected']}")
    if d["foreign_entries"]:
        reasons.append(f"{d['foreign_entries']} entries on accounts not in {d['currency']}")
    if d["unknown_accounts"]:
        reasons.append(f"{d['unknown_accounts']} entries on unknown accounts")
    return (f"posting {d['id']} ({d['kind']} {d['amount_cents']} {d['currency']} for {d['owner_id']!r}): "
            + "; ".join(reasons))


def _account_problem(d: dict) -> str:
    reasons = []
    if d["balance_cents"] != d["derived"]:
        reasons.append(f"cached balance {d['balance_cents']} != sum of entries {d['derived']}")
    if (d["balance_cents"] is not None and d["balance_cents"] < 0) or d["derived"] < 0:
        reasons.append("negative balance")
    return f"account of {d['owner_id']!r}: " + "; ".join(reasons)


def _posted(uow: UnitOfWork, posting_id: str, kind: str, owner_id: str, amount_cents: int, currency: str,
            reference: str, created_at: datetime, balance_after_cents: int) -> Posting:
    publish(uow, BALANCE_CHANGED, owner_id, balance_changed(owner_id, posting_id))
    return Posting(id=posting_id, kind=kind, owner_id=owner_id, amount_cents=amount_cents, currency=currency,
                   reference=reference, created_at=created_at, balance_after_cents=balance_after_cents)


def _now() -> datetime:
    return datetime.now(timezone.utc)
