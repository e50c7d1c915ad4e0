"""acme-orders: placing, cancelling and fulfilling orders, across catalog and billing, in one transaction.

Public API: the names in __all__. Everything else may change without notice.
"""
from acme_platform import instrument_domain

from .domain import DOMAIN
from .errors import (
    IdempotencyKeyReused,
    InvalidOrder,
    InvalidTransition,
    OrderNotFound,
    OrdersError,
    ProductUnavailable,
    StaffOnly,
    UnknownProduct,
)
from .events import ORDER_CANCELLED, ORDER_FULFILLED, ORDER_PLACED
from .model import TRANSITIONS, Order, OrderItem, OrderLine, OrderStatus, Page, PlacedOrder
from .service import cancel_order, find_orders, get_order, list_orders, mark_fulfilled, place_order

__all__ = [
    "DOMAIN",
    # use cases
    "place_order",
    "cancel_order",
    "mark_fulfilled",
    "get_order",
    "list_orders",
    "find_orders",
    # values
    "OrderItem",
    "Order",
    "OrderLine",
    "PlacedOrder",
    "Page",
    "OrderStatus",
    "TRANSITIONS",
    # errors
    "OrdersError",
    "InvalidOrder",
    "UnknownProduct",
    "ProductUnavailable",
    "OrderNotFound",
    "InvalidTransition",
    "IdempotencyKeyReused",
    "StaffOnly",
    # event topics
    "ORDER_PLACED",
    "ORDER_CANCELLED",
    "ORDER_FULFILLED",
]

# Last: every function in __all__ becomes an observed call (a span, metrics per function), so
# `from acme_orders import f` anywhere gets the observed one. Written by the platform, not by this domain.
instrument_domain(__name__)
