"""POST /v1/customers: sign up. Every customer gets a wallet in the same transaction."""
from __future__ import annotations

import acme_billing
import acme_identity
from acme_platform.web import current_uow, problems
from flask import Blueprint
from spectree import Response, SpecTree

from ..schemas import CustomerIn, CustomerOut

def blueprint(spec: SpecTree) -> Blueprint:
    bp = Blueprint("customers", __name__)

    @bp.post("/v1/customers")
    @spec.validate(json=CustomerIn, resp=Response(HTTP_201=CustomerOut, **problems(409, 415, 422)),
                   tags=["customers"])
    def register(json: CustomerIn):
        """Create a customer account and its wallet.

        409 if the email is taken; 422 for a malformed email, a password under 10 characters or a bad name.
        """
        uow = current_uow()
        account = acme_identity.register_customer(uow, email=json.email, password=json.password, name=json.name)
        # Same unit of work: either both the account and its wallet exist, or neither.
        acme_billing.open_account(uow, account.id, acme_billing.WALLET_CURRENCY)
        return CustomerOut.model_validate(account), 201

    return bp
