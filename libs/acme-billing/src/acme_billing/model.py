"""Billing's value types and rules, pure Python (no I/O).

The ledger is double entry: every posting moves money between exactly two accounts, a customer's and
a per-currency system account, with entries that sum to zero.

    credit  (staff grant)  customer +x   system:grants:<CUR>   -x   (grants may go negative: it is the source)
    charge                 customer -x   system:revenue:<CUR>  +x
    refund                 customer +x   system:revenue:<CUR>  -x
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .errors import InvalidAmount, InvalidField

PostingKind = Literal["credit", "charge", "refund"]
POSTING_KINDS: tuple[str, ...] = ("credit", "charge", "refund")

# A staff grant above this is far more likely a typo (an extra zero or two) than intent.
MAX_CREDIT_CENTS = 10**9
# Largest amount a Postgres bigint balance can hold; above it the database would reject the row anyway.
MAX_AMOUNT_CENTS = 2**63 - 1
MAX_TEXT_LENGTH = 200
# Every wallet is opened in this currency (one per customer; credits take the wallet's currency). A price
# in any other currency can never be charged: callers refuse such prices up front (see the backoffice).
WALLET_CURRENCY = "USD"
MAX_IDEMPOTENCY_KEY = 200
# The HTTP header a caller sends the key in; errors about the key name it (as acme-orders does).
IDEMPOTENCY_FIELD = "Idempotency-Key"

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Balance:
    owner_id: str
    balance_cents: int
    currency: str


@dataclass(frozen=True)
class Posting:
    id: str
    kind: str               # "credit" | "charge" | "refund"
    owner_id: str
    amount_cents: int       # always positive; the direction is given by `kind`
    currency: str
    reference: str
    created_at: datetime    # timezone-aware UTC
    balance_after_cents: int


@dataclass(frozen=True)
class LedgerReport:
    balanced: bool
    postings_checked: int
    problems: list[str] = field(default_factory=list)


def validate_amount(amount_cents: object, *, maximum: int = MAX_AMOUNT_CENTS) -> int:
    # bool is an int subclass and floats "look" like cents; both are caller bugs, never money.
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise InvalidAmount(f"amount_cents must be an integer number of minor units, got {type(amount_cents).__name__}")
    if amount_cents <= 0:
        raise InvalidAmount(f"amount_cents must be positive, got {amount_cents}")
    if amount_cents > maximum:
        raise InvalidAmount(f"amount_cents must be at most {maximum}, got {amount_cents}")
    return amount_cents


def validate_currency(currency: object) -> str:
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidField(f"currency must be a 3-letter upper-case ISO 4217 code, got {currency!r}", field="currency")
    return currency


def validate_text(value: object, field_name: str) -> str:
    """Owner ids, references and granters: non-empty, bounded, no surrounding whitespace (which would
    make two references that look identical differ)."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise InvalidField(f"{field_name} must be a non-empty string without surrounding whitespace", field=field_name)
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidField(f"{field_name} must be at most {MAX_TEXT_LENGTH} characters", field=field_name)
    return value


def check_idempotency_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidField(f"the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters",
                           field=IDEMPOTENCY_FIELD)
    return key


def credit_request_hash(amount_cents: int, granted_by: str | None) -> str:
    """Fingerprint of a grant: a retry replays only the *same* grant by the same granter. The reference
    is not part of it: callers mint a fresh one per attempt, a retry included."""
    canonical = json.dumps([amount_cents, granted_by], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# Owner ids of the per-currency system accounts: prefix + currency code.
GRANTS_PREFIX = "system:grants:"     # the source staff grants are drawn from (goes negative)
REVENUE_PREFIX = "system:revenue:"   # charges pay into it, refunds are paid from it


def grants_account(currency: str) -> str:
    return GRANTS_PREFIX + currency


def revenue_account(currency: str) -> str:
    return REVENUE_PREFIX + currency


def customer_delta(kind: str, amount_cents: int) -> int:
    """The signed change a posting of this kind makes to the customer's balance."""
    if kind == "charge":
        return -amount_cents
    if kind in ("credit", "refund"):
        return amount_cents
    raise ValueError(f"unknown posting kind {kind!r}")


def refundable(charged_cents: int, refunded_cents: int) -> int:
    """What may still be refunded for one reference."""
    return max(charged_cents - refunded_cents, 0)
