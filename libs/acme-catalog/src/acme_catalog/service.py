"""Catalog use cases. Each takes the caller's unit of work first and runs inside its transaction:
a failure raises a typed error and the caller's rollback undoes everything, events included."""
from __future__ import annotations

from typing import Any, Sequence

from acme_platform import UnitOfWork, publish, publish_many

from . import events, model, repository
from .errors import (
    DuplicateSku,
    InsufficientStock,
    InvalidQuantity,
    ProductInactive,
    ProductNotFound,
    ReleaseExceedsReserved,
    StockWouldGoNegative,
)
from .model import Page, Product, StockLevel
from .repository import COMMIT, RELEASE, RESERVE, StockOp, StockState


def _changed(uow: UnitOfWork, product: Product, changes: list[str]) -> None:
    publish(uow, events.PRODUCT_CHANGED, product.sku, events.product_changed(product.sku, product.version, changes))


def _not_found(sku: str) -> ProductNotFound:
    return ProductNotFound(f"no product with sku {sku!r}", sku=sku)


# -- products ----------------------------------------------------------------------------------

def create_product(
    uow: UnitOfWork,
    *,
    sku: str,
    name: str,
    price_cents: int,
    currency: str,
    description: str = "",
    stock: int = 0,
    active: bool = True,
) -> Product:
    values = dict(
        sku=model.normalize_sku(sku),
        name=model.validate_name(name),
        description=model.validate_description(description),
        price_cents=model.validate_price(price_cents),
        currency=model.validate_currency(currency),
        on_hand=model.validate_stock(stock),
        active=model.validate_active(active),
    )
    product = repository.insert_product(uow.connection, values)
    if product is None:
        raise DuplicateSku(f"a product with sku {values['sku']!r} already exists", sku=values["sku"])
    _changed(uow, product, [events.CREATED])
    return product


def update_product(
    uow: UnitOfWork,
    sku: str,
    *,
    name: str | None = None,
    description: str | None = None,
    price_cents: int | None = None,
    active: bool | None = None,
) -> Product:
    """Change only the given fields. Nothing actually different -> no new version, no event."""
    sku = model.existing_sku(sku)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = model.validate_name(name)
    if description is not None:
        changes["description"] = model.validate_description(description)
    if price_cents is not None:
        changes["price_cents"] = model.validate_price(price_cents)
    if active is not None:
        changes["active"] = model.validate_active(active)
    if changes:
        result = repository.update_fields(uow.connection, sku, changes)
        if result is not None:
            product, changed = result
            _changed(uow, product, changed)
            return product
    return get_product(uow, sku)


def get_product(uow: UnitOfWork, sku: str) -> Product:
    normalized = model.existing_sku(sku)
    product = repository.select_product(uow.connection, normalized)
    if product is None:
        raise _not_found(normalized)
    return product


def get_products(uow: UnitOfWork, skus: Sequence[str]) -> dict[str, Product]:
    """Products by normalised sku; unknown (or malformed) skus are simply absent. One query."""
    wanted = list(dict.fromkeys(s for s in map(model.lookup_sku, skus) if s is not None))
    if not wanted:
        return {}
    return {p.sku: p for p in repository.select_products(uow.connection, wanted)}


def list_products(
    uow: UnitOfWork, *, limit: int = 20, after: str | None = None, include_inactive: bool = False
) -> Page[Product]:
    """Products in sku order, keyset-paginated: page n+1 costs the same as page 1, and rows inserted
    or deleted meanwhile never shift a page boundary."""
    limit = model.validate_limit(limit)
    rows = repository.select_page(
        uow.connection, limit=limit, after=model.validate_after(after), include_inactive=include_inactive
    )
    if len(rows) > limit:
        items = rows[:limit]
        return Page(items=items, next=items[-1].sku)
    return Page(items=rows, next=None)


# -- stock -------------------------------------------------------------------------------------

def _failure(op: StockOp, sku: str, quantity: int, state: StockState | None) -> Exception:
    if state is None:
        return _not_found(sku)
    if op is RESERVE:
        if not state.active:
            return ProductInactive(f"{sku} is not for sale", sku=sku)
        available = state.on_hand - state.reserved
        return InsufficientStock(
            f"cannot reserve {quantity} of {sku}: {available} available",
            sku=sku, requested=quantity, available=available,
        )
    return ReleaseExceedsReserved(
        f"cannot {op.name} {quantity} of {sku}: only {state.reserved} reserved",
        sku=sku, requested=quantity, reserved=state.reserved,
    )


def _apply_one(uow: UnitOfWork, op: StockOp, sku: str, quantity: int) -> Product:
    sku = model.existing_sku(sku)
    quantity = model.validate_quantity(quantity, sku)
    product = repository.apply_one(uow.connection, op, sku, quantity)
    if product is None:
        # Only on failure: one more query to say why (unknown, inactive, short).
        raise _failure(op, sku, quantity, repository.stock_state(uow.connection, sku))
    _changed(uow, product, [events.STOCK])
    return product


def _apply_many(uow: UnitOfWork, op: StockOp, lines: Sequence[tuple[str, int]]) -> dict[str, Product]:
    merged = model.merge_lines(lines)
    if not merged:
        return {}
    updated, states = repository.apply_many(uow.connection, op, merged)
    if states:
        for sku, quantity in merged:   # the caller's first failing line decides the error
            state = states.get(sku)
            if state is None or not _passes(op, state, quantity):
                raise _failure(op, sku, quantity, state)
        # Every line passed on the locked rows yet not all were updated: the statement's own guards
        # disagree with its verdict. Never expected; fail loudly rather than report a partial result.
        raise RuntimeError(f"catalog {op.name}_many updated {len(updated)} of {len(merged)} lines")
    # One outbox statement for all lines: place_order's round trips stay flat in the number of skus.
    publish_many(uow, events.PRODUCT_CHANGED, [
        (sku, events.product_changed(sku, updated[sku].version, [events.STOCK])) for sku, _ in merged
    ])
    return {sku: updated[sku] for sku, _ in merged}


def _passes(op: StockOp, state: StockState, quantity: int) -> bool:
    if op is RESERVE:
        return state.active and state.on_hand - state.reserved >= quantity
    return state.reserved >= quantity


def reserve(uow: UnitOfWork, sku: str, quantity: int) -> Product:
    """Hold `quantity` units for an order; never more than on hand, whatever runs concurrently."""
    return _apply_one(uow, RESERVE, sku, quantity)


def reserve_many(uow: UnitOfWork, lines: Sequence[tuple[str, int]]) -> dict[str, Product]:
    """Reserve every line or none (one statement); raises the error of the first failing line."""
    return _apply_many(uow, RESERVE, lines)


def release(uow: UnitOfWork, sku: str, quantity: int) -> Product:
    """Give back reserved units (order cancelled)."""
    return _apply_one(uow, RELEASE, sku, quantity)


def release_many(uow: UnitOfWork, lines: Sequence[tuple[str, int]]) -> dict[str, Product]:
    return _apply_many(uow, RELEASE, lines)


def commit_reservation(uow: UnitOfWork, sku: str, quantity: int) -> Product:
    """Fulfilment: reserved units leave the warehouse (on_hand and reserved drop together)."""
    return _apply_one(uow, COMMIT, sku, quantity)


def commit_many(uow: UnitOfWork, lines: Sequence[tuple[str, int]]) -> dict[str, Product]:
    return _apply_many(uow, COMMIT, lines)


def adjust_stock(uow: UnitOfWork, sku: str, delta: int) -> StockLevel:
    """Goods received (+) or written off (-). on_hand may not drop below what is reserved."""
    sku = model.existing_sku(sku)
    delta = model.validate_delta(delta, sku)
    row = repository.adjust(uow.connection, sku, delta, model.STOCK_MAX)
    if row is None:
        state = repository.stock_state(uow.connection, sku)
        if state is None:
            raise _not_found(sku)
        if state.on_hand + delta > model.STOCK_MAX:
            raise InvalidQuantity(
                f"{sku} would hold more than {model.STOCK_MAX} units", field="delta", sku=sku
            )
        raise StockWouldGoNegative(
            f"cannot adjust {sku} by {delta}: {state.on_hand} on hand, {state.reserved} reserved",
            sku=sku, on_hand=state.on_hand, reserved=state.reserved, delta=delta,
        )
    sku, on_hand, reserved, version = row
    publish(uow, events.PRODUCT_CHANGED, sku, events.product_changed(sku, version, [events.STOCK]))
    return StockLevel(sku=sku, on_hand=on_hand, reserved=reserved, available=on_hand - reserved)
