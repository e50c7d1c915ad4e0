"""GET /v1/wallet: the caller's balance."""
from __future__ import annotations

import acme_billing
from acme_platform import Principal
from acme_platform.web import current_uow, problems
from flask import Blueprint
from spectree import Response, SpecTree

from ..auth import BEARER, customer_required
from ..schemas import WalletOut


def blueprint(spec: SpecTree) -> Blueprint:
    bp = Blueprint("wallet", __name__)

    @bp.get("/v1/wallet")
    @customer_required
    @spec.validate(resp=Response(HTTP_200=WalletOut, **problems(401, 403, 404)), tags=["wallet"],
                   security=BEARER)
    def get_wallet(principal: Principal):
        """The caller's wallet balance in minor units."""
        return WalletOut.model_validate(acme_billing.get_balance(current_uow(), principal.subject_id))

    return bp
