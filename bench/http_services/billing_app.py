"""H mode: the billing service (charges, refunds). Verifies every caller with identity and only lets a
customer's own token move that customer's money."""
from __future__ import annotations

import acme_billing
from acme_platform import Forbidden
from acme_platform.web import current_uow
from flask import jsonify, request

from common import make_app, verify_caller


def _owner_checked(owner_id: str) -> str:
    principal = verify_caller()
    if owner_id != principal.subject_id and not principal.is_staff:
        raise Forbidden("a customer may only move their own money")
    return owner_id


def create_app():
    app = make_app(__name__, "billing", ["billing"])

    @app.post("/v1/charges")
    def charge():
        body = request.get_json()
        owner = _owner_checked(body["owner_id"])
        posting = acme_billing.charge(current_uow(), owner, body["amount_cents"], body["currency"],
                                      reference=body["reference"])
        return jsonify(id=posting.id, balance_after_cents=posting.balance_after_cents), 201

    @app.post("/v1/refunds")
    def refund():
        # Compensation of a charge whose order failed later.
        body = request.get_json()
        owner = _owner_checked(body["owner_id"])
        posting = acme_billing.refund(current_uow(), owner, body["amount_cents"], reference=body["reference"])
        return jsonify(id=posting.id, balance_after_cents=posting.balance_after_cents), 201

    @app.get("/v1/hop/balance")
    def hop_balance():
        principal = verify_caller()
        balance = acme_billing.get_balance(current_uow(), principal.subject_id)
        return jsonify(balance_cents=balance.balance_cents, currency=balance.currency)

    return app
