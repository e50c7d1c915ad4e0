"""Billing's expected failures. Each has a stable `code`; its category decides the HTTP status upstream."""
from __future__ import annotations

from acme_platform import Conflict, DomainError, InvalidInput, NotFound, PaymentRequired


class BillingError(DomainError):
    """Base of every billing failure, so a caller can catch the whole domain at once."""

    code = "billing.error"


class AccountNotFound(BillingError, NotFound):
    code = "billing.account_not_found"
    title = "Billing account not found"

    def __init__(self, owner_id: str):
        super().__init__(f"no billing account for owner {owner_id!r}", owner_id=owner_id)


class InsufficientFunds(BillingError, PaymentRequired):
    code = "billing.insufficient_funds"
    title = "Insufficient funds"

    def __init__(self, owner_id: str, balance_cents: int, required_cents: int):
        super().__init__(
            f"balance {balance_cents} is less than the {required_cents} required",
            owner_id=owner_id, balance_cents=balance_cents, required_cents=required_cents,
        )


class CurrencyMismatch(BillingError, InvalidInput):
    code = "billing.currency_mismatch"
    title = "Currency does not match the account"

    def __init__(self, detail: str, *, expected: str, got: str):
        super().__init__(detail, field="currency", expected=expected, got=got)


class InvalidAmount(BillingError, InvalidInput):
    code = "billing.invalid_amount"
    title = "Invalid amount"

    def __init__(self, detail: str):
        super().__init__(detail, field="amount_cents")


class InvalidField(BillingError, InvalidInput):
    """A malformed owner id, reference, granter or currency code; `field` names which."""

    code = "billing.invalid_field"
    title = "Invalid field"

    def __init__(self, detail: str, *, field: str):
        super().__init__(detail, field=field)


class RefundExceedsCharge(BillingError, Conflict):
    code = "billing.refund_exceeds_charge"
    title = "Refund exceeds what was charged"

    def __init__(self, owner_id: str, reference: str, requested_cents: int, refundable_cents: int):
        super().__init__(
            f"only {refundable_cents} of reference {reference!r} can still be refunded "
            f"({requested_cents} requested)",
            owner_id=owner_id, reference=reference, requested_cents=requested_cents,
            refundable_cents=refundable_cents,
        )


class IdempotencyKeyReused(BillingError, Conflict):
    code = "billing.idempotency_key_reused"
    title = "Idempotency key reused with a different request"
