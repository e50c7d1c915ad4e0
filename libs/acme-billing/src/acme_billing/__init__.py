"""acme-billing: one account per customer and a double-entry ledger (credits, charges, refunds).

Public API: the names in __all__. Everything else may change without notice.
"""
from acme_platform import instrument_domain

from .domain import DOMAIN
from .errors import (
    AccountNotFound,
    BillingError,
    CurrencyMismatch,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    InvalidField,
    RefundExceedsCharge,
)
from .events import BALANCE_CHANGED
from .model import WALLET_CURRENCY, Balance, LedgerReport, Posting
from .service import charge, check_ledger, credit, get_balance, open_account, refund

__all__ = [
    "Balance",
    "Posting",
    "LedgerReport",
    "open_account",
    "get_balance",
    "credit",
    "charge",
    "refund",
    "check_ledger",
    "BillingError",
    "AccountNotFound",
    "InsufficientFunds",
    "CurrencyMismatch",
    "IdempotencyKeyReused",
    "InvalidAmount",
    "InvalidField",
    "RefundExceedsCharge",
    "BALANCE_CHANGED",
    "WALLET_CURRENCY",
    "DOMAIN",
]

# Last: every function in __all__ becomes an observed call (a span, metrics per function), so
# `from acme_billing import f` anywhere gets the observed one. Written by the platform, not by this domain.
instrument_domain(__name__)
