"""The caller's orders: place (idempotently), list, read, cancel."""
from __future__ import annotations

import acme_orders
from acme_platform import Principal
from acme_platform.web import current_uow, problems
from flask import Blueprint
from spectree import Response, SpecTree

from ..auth import BEARER, customer_required
from ..schemas import IdempotencyHeaders, OrderIn, OrderOut, OrderPage, OrdersQuery


def blueprint(spec: SpecTree) -> Blueprint:
    bp = Blueprint("orders", __name__)

    @bp.post("/v1/orders")
    @customer_required
    @spec.validate(json=OrderIn, headers=IdempotencyHeaders,
                   resp=Response(HTTP_201=OrderOut, HTTP_200=OrderOut, **problems(401, 402, 403, 409, 415, 422)),
                   tags=["orders"], security=BEARER)
    def place_order(principal: Principal, json: OrderIn, headers: IdempotencyHeaders):
        """Reserve stock, charge the wallet and record the order, all or nothing.

        409 when a sku lacks stock (names it), 402 when the wallet cannot pay, 422 for an unknown or
        withdrawn sku. With an Idempotency-Key, a retry of the same body returns the first order with
        200; the same key with a different body is refused, naming Idempotency-Key.
        """
        # The one conversion of the request's lines: from here into catalog they stay these OrderItems.
        items = [acme_orders.OrderItem(line.sku, line.quantity) for line in json.items]
        placed = acme_orders.place_order(current_uow(), principal, items, idempotency_key=headers.idempotency_key)
        return OrderOut.model_validate(placed.order), 200 if placed.replayed else 201

    @bp.get("/v1/orders")
    @customer_required
    @spec.validate(query=OrdersQuery, resp=Response(HTTP_200=OrderPage, **problems(401, 403, 422)),
                   tags=["orders"], security=BEARER)
    def list_orders(principal: Principal, query: OrdersQuery):
        """The caller's orders, newest first. Pass `next` as `after` for the following page."""
        page = acme_orders.list_orders(current_uow(), principal, limit=query.limit, after=query.after)
        return OrderPage(items=[OrderOut.model_validate(o) for o in page.items], next=page.next)

    @bp.get("/v1/orders/<order_id>")
    @customer_required
    @spec.validate(resp=Response(HTTP_200=OrderOut, **problems(401, 403, 404)), tags=["orders"],
                   security=BEARER)
    def get_order(principal: Principal, order_id: str):
        """One of the caller's orders; 404 for anyone else's (or a malformed id)."""
        return OrderOut.model_validate(acme_orders.get_order(current_uow(), principal, order_id))

    @bp.post("/v1/orders/<order_id>/cancel")
    @customer_required
    @spec.validate(resp=Response(HTTP_200=OrderOut, **problems(401, 403, 404, 409)), tags=["orders"],
                   security=BEARER)
    def cancel_order(principal: Principal, order_id: str):
        """Cancel a placed order: its stock is released and its total refunded. 409 once fulfilled or cancelled."""
        return OrderOut.model_validate(acme_orders.cancel_order(current_uow(), principal, order_id))

    return bp
