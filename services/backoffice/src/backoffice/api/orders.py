"""Order search across all customers (staff)."""
from __future__ import annotations

import acme_orders
from acme_platform import Principal
from acme_platform.web import current_uow, problems
from flask import Blueprint
from spectree import Response

from ..auth import BEARER, staff_required
from ..schemas import OrderOut, OrderPage, OrderQuery


def blueprint(spec) -> Blueprint:
    bp = Blueprint("orders", __name__)

    @bp.get("/v1/orders")
    @staff_required
    @spec.validate(query=OrderQuery, resp=Response(HTTP_200=OrderPage, **problems(401, 403, 422)), tags=["orders"],
                   security=BEARER)
    def search(query: OrderQuery, principal: Principal):
        """Orders, newest first, optionally by status and/or customer; pass `next` as `after`."""
        page = acme_orders.find_orders(
            current_uow(), principal, status=query.status,
            customer_id=str(query.customer_id) if query.customer_id else None,
            limit=query.limit, after=query.after,
        )
        return OrderPage(items=[OrderOut.of(o) for o in page.items], next=page.next)

    @bp.get("/v1/orders/<order_id>")
    @staff_required
    @spec.validate(resp=Response(HTTP_200=OrderOut, **problems(401, 403, 404)), tags=["orders"], security=BEARER)
    def get(order_id: str, principal: Principal):
        """Any customer's order."""
        return OrderOut.of(acme_orders.get_order(current_uow(), principal, order_id))

    return bp
