"""Orders as values, their lifecycle, and the rules an order request must satisfy. Pure Python, no I/O."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Mapping, NamedTuple, Sequence

from .errors import InvalidOrder, InvalidTransition

MAX_LINES = 50
MIN_QUANTITY, MAX_QUANTITY = 1, 100
MAX_IDEMPOTENCY_KEY = 200
MAX_SKU = 200
MAX_PAGE = 100
IDEMPOTENCY_FIELD = "Idempotency-Key"


class OrderStatus(StrEnum):
    PLACED = "placed"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


# The whole lifecycle. Fulfilled and cancelled are terminal: stock has been committed or released and
# money kept or refunded, so nothing may move an order out of them.
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.FULFILLED, OrderStatus.CANCELLED}),
    OrderStatus.FULFILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def can_transition(current: str, target: str) -> bool:
    return OrderStatus(target) in TRANSITIONS[OrderStatus(current)]


def sources_of(target: str) -> tuple[str, ...]:
    """Statuses from which `target` may be reached: the guard of the UPDATE that performs it."""
    return tuple(sorted(s.value for s, targets in TRANSITIONS.items() if OrderStatus(target) in targets))


def check_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(
            f"an order that is {current} cannot become {target}", status=str(current), target=str(target)
        )


class OrderItem(NamedTuple):
    """One line of an order as the customer asks for it: which product, how many; no price yet.

    The one shape order lines have from the HTTP layer into the domain: the service builds these once
    from the request and place_order hands the very same values to acme_catalog.reserve_many, whose
    declared line shape, (sku, quantity), a NamedTuple already is.
    """
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderLine:
    """One line of a placed order: the item, priced when it was reserved."""
    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    status: str
    total_cents: int
    currency: str
    items: tuple[OrderLine, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    replayed: bool  # True: an earlier request with the same idempotency key placed it


@dataclass(frozen=True)
class Page:
    items: list[Order]
    next: str | None


# -- validating requests ---------------------------------------------------------------------------

def normalize_items(items: Any) -> tuple[OrderItem, ...]:
    """The requested lines as OrderItems, skus stripped and upper-cased, in request order.

    A line is an OrderItem, or any other (sku, quantity) pair (an OrderItem *is* one). `{"sku",
    "quantity"}` mappings are still read, as before 1.2, so existing callers keep working; new callers
    build OrderItems."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise InvalidOrder("items must be a list of (sku, quantity) lines", field="items")
    if not 1 <= len(items) <= MAX_LINES:
        raise InvalidOrder(f"an order has 1 to {MAX_LINES} lines, got {len(items)}", field="items")
    lines: list[OrderItem] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        sku, quantity = _split_line(item, i)
        sku = _normalize_sku(sku, i)
        quantity = _check_quantity(quantity, i)
        if sku in seen:
            raise InvalidOrder(f"sku {sku} appears more than once", field="items", sku=sku)
        seen.add(sku)
        lines.append(OrderItem(sku, quantity))
    return tuple(lines)


def _split_line(item: Any, i: int) -> tuple[Any, Any]:
    if isinstance(item, Mapping):
        missing = [k for k in ("sku", "quantity") if k not in item]
        if missing:
            raise InvalidOrder(f"line {i} lacks {missing[0]}", field=f"items.{i}.{missing[0]}")
        return item["sku"], item["quantity"]
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    raise InvalidOrder(f"line {i} must be an OrderItem (sku, quantity)", field=f"items.{i}")


def _normalize_sku(sku: Any, i: int) -> str:
    if not isinstance(sku, str):
        raise InvalidOrder(f"line {i}: sku must be a string", field=f"items.{i}.sku")
    sku = sku.strip().upper()
    if not sku or len(sku) > MAX_SKU or not sku.isprintable():
        raise InvalidOrder(f"line {i}: sku must be 1 to {MAX_SKU} printable characters", field=f"items.{i}.sku")
    return sku


def _check_quantity(quantity: Any, i: int) -> int:
    # bool is an int subclass; True as "1 item" is a client bug, not an order.
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidOrder(f"line {i}: quantity must be an integer", field=f"items.{i}.quantity")
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(
            f"line {i}: quantity must be between {MIN_QUANTITY} and {MAX_QUANTITY}, got {quantity}",
            field=f"items.{i}.quantity",
        )
    return quantity


def check_idempotency_key(key: Any) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidOrder(
            f"the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters", field=IDEMPOTENCY_FIELD
        )
    return key


def request_hash(lines: Sequence[tuple[str, int]]) -> str:
    """Fingerprint of what was ordered, independent of line order: replay only the *same* request."""
    canonical = json.dumps(sorted([sku, qty] for sku, qty in lines), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def single_currency(currencies: Sequence[str]) -> str:
    distinct = sorted(set(currencies))
    if len(distinct) != 1:
        raise InvalidOrder(f"all products of an order must share one currency, got {', '.join(distinct)}",
                           field="items")
    return distinct[0]


def parse_order_id(order_id: Any) -> uuid.UUID | None:
    """The uuid, or None for anything that cannot be an order id (callers answer 'not found')."""
    if isinstance(order_id, uuid.UUID):
        return order_id
    if not isinstance(order_id, str):
        return None
    try:
        return uuid.UUID(order_id)
    except ValueError:
        return None


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidOrder(f"limit must be an integer between 1 and {MAX_PAGE}", field="limit")
    return limit


def check_status(status: Any) -> str | None:
    if status is None:
        return None
    try:
        return OrderStatus(status).value
    except ValueError:
        raise InvalidOrder(
            f"status must be one of {', '.join(s.value for s in OrderStatus)}", field="status"
        ) from None


# -- keyset cursors ------------------------------------------------------------------------------
# Opaque to clients so the sort key can change without breaking them; "iso-timestamp|uuid" inside.

def encode_cursor(created_at: datetime, order_id: str) -> str:
    raw = f"{created_at.isoformat()}|{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: Any) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    bad = InvalidOrder("the pagination cursor is not one this service issued", field="after")
    if not isinstance(cursor, str) or not 1 <= len(cursor) <= 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        created_at = datetime.fromisoformat(stamp)
        order_id = uuid.UUID(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    if created_at.tzinfo is None:
        raise bad
    return created_at, order_id
