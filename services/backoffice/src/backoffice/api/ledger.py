"""The ledger's own consistency proof, for operators and drills."""
from __future__ import annotations

import acme_billing
from acme_platform.web import current_uow, problems
from flask import Blueprint
from spectree import Response

from ..auth import BEARER, staff_required
from ..schemas import LedgerOut


def blueprint(spec) -> Blueprint:
    bp = Blueprint("ledger", __name__)

    @bp.get("/v1/ledger/check")
    @staff_required
    @spec.validate(resp=Response(HTTP_200=LedgerOut, **problems(401, 403)), tags=["ledger"], security=BEARER)
    def check():
        """Every posting balanced, every cached balance equal to its entries, no over-refund."""
        report = acme_billing.check_ledger(current_uow())
        return LedgerOut(balanced=report.balanced, postings_checked=report.postings_checked,
                         problems=list(report.problems))

    return bp
