"""Use cases. Each takes the caller's unit of work first and never commits: a raised error makes the
caller roll back everything this call (and the catalog and billing calls it made) wrote."""
from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

import acme_billing
import acme_catalog
from acme_platform import Principal, UnitOfWork, publish

from . import repository
from .errors import (
    IdempotencyKeyReused,
    InvalidOrder,
    InvalidTransition,
    OrderNotFound,
    ProductUnavailable,
    StaffOnly,
    UnknownProduct,
)
from .events import ORDER_CANCELLED, ORDER_FULFILLED, ORDER_PLACED, order_payload
from .model import (
    IDEMPOTENCY_FIELD,
    Order,
    OrderItem,
    OrderLine,
    OrderStatus,
    Page,
    PlacedOrder,
    check_idempotency_key,
    check_limit,
    check_status,
    check_transition,
    decode_cursor,
    encode_cursor,
    normalize_items,
    parse_order_id,
    request_hash,
    single_currency,
    sources_of,
)


def place_order(
    uow: UnitOfWork,
    principal: Principal,
    items: Sequence[OrderItem],
    *,
    idempotency_key: str | None = None,
) -> PlacedOrder:
    """Reserve, price, charge and record an order in the caller's transaction.

    `items` are OrderItems (sku, quantity) built once by the caller; they travel unchanged (checked and
    sorted) into acme_catalog.reserve_many, and come back priced as the order's OrderLines.
    Round trips on the hot path: [key claim] + reserve_many + charge + order-and-lines insert + publish.
    """
    customer_id = principal.subject_id
    lines = tuple(sorted(normalize_items(items)))  # sorted: one lock order for every order touching these skus
    key = check_idempotency_key(idempotency_key)
    order_id = uuid.uuid4()

    if key is not None:
        fingerprint = request_hash(lines)
        if not repository.claim_idempotency_key(uow.connection, customer_id, key, fingerprint, order_id):
            return _replay(uow, customer_id, key, fingerprint)

    products = _reserve(uow, lines)
    currency = single_currency([products[item.sku].currency for item in lines])
    priced = tuple(OrderLine(item.sku, item.quantity, int(products[item.sku].price_cents)) for item in lines)
    total = sum(line.quantity * line.unit_price_cents for line in priced)
    if total > 0:  # a free order has nothing to charge (and billing rightly refuses zero amounts)
        acme_billing.charge(uow, customer_id, total, currency, reference=_reference(order_id))

    created_at, updated_at = repository.insert_order(
        uow.connection, order_id=order_id, customer_id=customer_id, status=OrderStatus.PLACED.value,
        total_cents=total, currency=currency, lines=priced,
    )
    order = Order(id=str(order_id), customer_id=customer_id, status=OrderStatus.PLACED.value, total_cents=total,
                  currency=currency, items=priced, created_at=created_at, updated_at=updated_at)
    publish(uow, ORDER_PLACED, order.id, order_payload(order))
    return PlacedOrder(order=order, replayed=False)


def _replay(uow: UnitOfWork, customer_id: str, key: str, fingerprint: str) -> PlacedOrder:
    found = repository.keyed_order(uow.connection, customer_id, key)
    if found is None:
        # The key row and its order commit together (the FK is checked at commit), so this means the
        # data was damaged by hand: fail loudly rather than guess.
        raise RuntimeError(f"idempotency key {key!r} of customer {customer_id} has no order")
    stored_hash, order = found
    if stored_hash != fingerprint:
        raise IdempotencyKeyReused("this idempotency key was already used for a different order",
                                   field=IDEMPOTENCY_FIELD)
    return PlacedOrder(order=order, replayed=True)


def _reserve(uow: UnitOfWork, lines: Sequence[OrderItem]) -> Mapping[str, Any]:
    # Catalog's not-found / inactive are about *this order's input*, so they become orders errors
    # (422 with the sku); InsufficientStock is a state conflict that catalog already names well.
    try:
        return acme_catalog.reserve_many(uow, lines)  # OrderItems are the (sku, quantity) lines it declares
    except acme_catalog.ProductNotFound as exc:
        sku = _sku_of(exc)
        raise UnknownProduct(f"there is no product {sku}", sku=sku) from exc
    except acme_catalog.ProductInactive as exc:
        sku = _sku_of(exc)
        raise ProductUnavailable(f"product {sku} is not for sale", sku=sku) from exc


def _sku_of(exc: Exception) -> str | None:
    extra = getattr(exc, "extra", None) or {}
    return extra.get("sku", getattr(exc, "sku", None))


def _reference(order_id: uuid.UUID | str) -> str:
    return f"order:{order_id}"


def cancel_order(uow: UnitOfWork, principal: Principal, order_id: str) -> Order:
    """Cancel a placed order (its customer or staff): release its stock, refund its total."""
    oid = _order_id(order_id)
    owner = None if principal.is_staff else principal.subject_id
    order = _move(uow, oid, OrderStatus.CANCELLED, owner=owner)
    acme_catalog.release_many(uow, [(line.sku, line.quantity) for line in order.items])
    if order.total_cents > 0:
        acme_billing.refund(uow, order.customer_id, order.total_cents, reference=_reference(order.id))
    publish(uow, ORDER_CANCELLED, order.id, order_payload(order))
    return order


def mark_fulfilled(uow: UnitOfWork, order_id: str) -> Order:
    """Ship a placed order (system/staff use): its reserved stock leaves the warehouse for good."""
    order = _move(uow, _order_id(order_id), OrderStatus.FULFILLED, owner=None)
    acme_catalog.commit_many(uow, [(line.sku, line.quantity) for line in order.items])
    publish(uow, ORDER_FULFILLED, order.id, order_payload(order))
    return order


def _move(uow: UnitOfWork, oid: uuid.UUID, target: OrderStatus, *, owner: str | None) -> Order:
    order = repository.transition(uow.connection, oid, target=target.value, sources=sources_of(target),
                                  owner=owner)
    if order is not None:
        return order
    # Nothing matched: either the caller may not see it, or its status forbids the move. Only the
    # failure path pays for this second query.
    current = repository.status_of(uow.connection, oid, owner=owner)
    if current is None:
        raise OrderNotFound(f"no order {oid}", order_id=str(oid))
    check_transition(current, target.value)
    # Unreachable while the lifecycle has no cycles (a row that failed the guard cannot pass it later).
    # Should one ever be added, report the status we saw rather than retry in a loop.
    raise InvalidTransition(f"order {oid} changed concurrently", status=current, target=target.value)


def _order_id(order_id: Any) -> uuid.UUID:
    oid = parse_order_id(order_id)
    if oid is None:
        # Same answer as for an order that exists but is not yours: ids reveal nothing.
        raise OrderNotFound(f"no order {order_id!s:.64}", order_id=str(order_id)[:64])
    return oid


def get_order(uow: UnitOfWork, principal: Principal, order_id: str) -> Order:
    oid = _order_id(order_id)
    order = repository.get(uow.connection, oid, owner=None if principal.is_staff else principal.subject_id)
    if order is None:
        raise OrderNotFound(f"no order {oid}", order_id=str(oid))
    return order


def list_orders(uow: UnitOfWork, principal: Principal, *, limit: int = 20, after: str | None = None) -> Page:
    """The caller's own orders, newest first."""
    return _page(uow, customer_id=principal.subject_id, status=None, limit=limit, after=after)


def find_orders(uow: UnitOfWork, principal: Principal, *, status: str | None = None,
                customer_id: str | None = None, limit: int = 20, after: str | None = None) -> Page:
    """Any customer's orders, optionally by status and/or customer (staff only), newest first."""
    if not principal.is_staff:
        raise StaffOnly("only staff may search all orders")
    if customer_id is not None and (not isinstance(customer_id, str) or not customer_id):
        raise InvalidOrder("customer_id must be a non-empty string", field="customer_id")
    return _page(uow, customer_id=customer_id, status=check_status(status), limit=limit, after=after)


def _page(uow: UnitOfWork, *, customer_id: str | None, status: str | None, limit: int,
          after: str | None) -> Page:
    limit = check_limit(limit)
    cursor = decode_cursor(after)
    orders, more = repository.page(uow.connection, customer_id=customer_id, status=status, after=cursor,
                                   limit=limit)
    last = orders[-1] if orders else None
    return Page(items=orders, next=encode_cursor(last.created_at, last.id) if more and last else None)
