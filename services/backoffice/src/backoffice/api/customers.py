"""Customer wallets: staff grants credit."""
from __future__ import annotations

import uuid

import acme_billing
import acme_identity
from acme_platform import Principal
from acme_platform.web import current_uow, problems
from flask import Blueprint
from spectree import Response

from ..auth import BEARER, staff_required
from ..schemas import CreditIn, CreditOut, IdempotencyHeaders


def blueprint(spec) -> Blueprint:
    bp = Blueprint("customers", __name__)

    @bp.post("/v1/customers/<customer_id>/credits")
    @staff_required
    @spec.validate(json=CreditIn, headers=IdempotencyHeaders,
                   resp=Response(HTTP_200=CreditOut, **problems(401, 403, 404, 409, 415, 422)),
                   tags=["customers"], security=BEARER)
    def grant(customer_id: str, json: CreditIn, headers: IdempotencyHeaders, principal: Principal):
        """Grant credit to a customer's wallet (404 unless the id is a customer account).

        With an Idempotency-Key, a retry of the same grant returns the first posting (one credit); the
        same key with another amount, or from another staff member, is 409 naming Idempotency-Key.
        """
        uow = current_uow()
        account = acme_identity.get_account(uow, customer_id)   # unknown id -> 404
        if account.kind != "customer":
            # Staff accounts have no wallet; same answer as an unknown id.
            raise acme_identity.AccountNotFound(f"no customer {customer_id!r}", account_id=customer_id)
        try:
            acme_billing.get_balance(uow, account.id)
        except acme_billing.AccountNotFound:
            # A customer who never had a wallet gets one (billing's default currency) with the grant.
            acme_billing.open_account(uow, account.id)
        # A fresh reference per grant: two identical grants are two grants, each visible in the ledger,
        # unless they carry one idempotency key (a retry), which replays the first posting.
        posting = acme_billing.credit(uow, account.id, json.amount_cents, reference=f"grant:{uuid.uuid4()}",
                                      granted_by=principal.subject_id,
                                      idempotency_key=headers.idempotency_key)
        return CreditOut(customer_id=account.id, balance_cents=posting.balance_after_cents,
                         currency=posting.currency, posting_id=posting.id, reference=posting.reference)

    return bp
