"""Typed failures of the orders domain; each has a stable code the web layer and clients can rely on.

Catalog's InsufficientStock and billing's InsufficientFunds are NOT wrapped: they already carry a stable
code and the context a client needs (sku/requested/available, amounts), and services map them directly.
"""
from __future__ import annotations

from acme_platform import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class OrdersError(DomainError):
    """Marker base: every error raised by acme_orders itself also is an instance of this."""

    code = "orders.error"


class InvalidOrder(OrdersError, InvalidInput):
    code = "orders.invalid_order"
    title = "Invalid order"


class UnknownProduct(OrdersError, InvalidInput):
    code = "orders.unknown_product"
    title = "Unknown product"


class ProductUnavailable(OrdersError, InvalidInput):
    code = "orders.product_unavailable"
    title = "Product unavailable"


class OrderNotFound(OrdersError, NotFound):
    code = "orders.order_not_found"
    title = "Order not found"


class InvalidTransition(OrdersError, Conflict):
    code = "orders.invalid_transition"
    title = "Invalid order status transition"


class IdempotencyKeyReused(OrdersError, Conflict):
    code = "orders.idempotency_key_reused"
    title = "Idempotency key reused with a different request"


class StaffOnly(OrdersError, Forbidden):
    code = "orders.staff_only"
    title = "Staff only"
