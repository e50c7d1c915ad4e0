"""Topics this domain publishes (through its outbox, in the same transaction as the change).

Key = order id. Payloads carry ids and the new status, never the order itself: a consumer that needs
the lines or the total reads them with get_order, so a payload can never disagree with the database.
"""
from __future__ import annotations

from typing import Any

from .model import Order

ORDER_PLACED = "orders.order_placed"
ORDER_CANCELLED = "orders.order_cancelled"
ORDER_FULFILLED = "orders.order_fulfilled"


def order_payload(order: Order) -> dict[str, Any]:
    return {"order_id": order.id, "customer_id": order.customer_id, "status": order.status}
