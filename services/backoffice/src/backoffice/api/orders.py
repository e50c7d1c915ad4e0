"""Order search across all customers (staff)."""
from __future__ import annotations

import acme_orders
from acme_platform.web import current_uow
from flask import Blueprint
from spectree import Response

from ..auth import BEARER, current_principal, require_staff
from ..schemas import OrderOut, OrderPage, OrderQuery, problems


def blueprint(spec) -> Blueprint:
    bp = Blueprint("orders", __name__)
    bp.before_request(require_staff)

    @bp.get("/v1/orders")
    @spec.validate(query=OrderQuery, resp=Response(HTTP_200=OrderPage, **problems(401, 403, 422)), tags=["orders"],
                   security=BEARER)
    def search(query: OrderQuery):
        """Orders, newest first, optionally by status and/or customer; pass `next` as `after`."""
        page = acme_orders.find_orders(
            current_uow(), current_principal(), status=query.status,
            customer_id=str(query.customer_id) if query.customer_id else None,
            limit=query.limit, after=query.after,
        )
        return OrderPage(items=[OrderOut.of(o) for o in page.items], next=page.next)

    @bp.get("/v1/orders/<order_id>")
    @spec.validate(resp=Response(HTTP_200=OrderOut, **problems(401, 403, 404)), tags=["orders"], security=BEARER)
    def get(order_id: str):
        """Any customer's order."""
        return OrderOut.of(acme_orders.get_order(current_uow(), current_principal(), order_id))

    return bp
