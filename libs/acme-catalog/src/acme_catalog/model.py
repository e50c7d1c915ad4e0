"""Catalog values and the rules for valid input. Pure Python: no I/O, so the rules are unit-testable.

The same rules are repeated as CHECK constraints in the `catalog` schema (see the migrations):
Python rejects bad input with a precise, typed error; the database is the last line of defence
against any code path that skips Python.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Iterable, TypeVar

from .errors import InvalidProduct, InvalidQuantity, ProductNotFound

SKU_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{2,31}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
NAME_MAX = 200
DESCRIPTION_MAX = 2000
PRICE_MAX = 100_000_000
STOCK_MAX = 1_000_000
LIMIT_MAX = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    active: bool
    on_hand: int
    reserved: int
    version: int          # bumped by every change; events carry it so readers can discard stale copies
    updated_at: datetime  # timezone-aware UTC

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    on_hand: int
    reserved: int
    available: int


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None = None   # pass as `after` to get the following page; None on the last page


def _is_int(value: Any) -> bool:
    # bool is an int subclass; True as a price or quantity is always a caller bug.
    return isinstance(value, int) and not isinstance(value, bool)


def normalize_sku(raw: Any) -> str:
    """The canonical form of a new SKU (create): stripped, upper case, format checked."""
    if not isinstance(raw, str):
        raise InvalidProduct("sku must be a string", field="sku")
    sku = raw.strip().upper()
    if not SKU_PATTERN.fullmatch(sku):
        raise InvalidProduct(
            "sku must be 3-32 characters of A-Z, 0-9 and '-', not starting with '-'", field="sku", sku=sku
        )
    return sku


def lookup_sku(raw: Any) -> str | None:
    """The canonical form of a SKU used to find a product, or None if no product can have it."""
    if not isinstance(raw, str):
        return None
    sku = raw.strip().upper()
    return sku if SKU_PATTERN.fullmatch(sku) else None


def existing_sku(raw: Any) -> str:
    """A SKU that must name an existing product: a malformed one is simply not found (no query)."""
    sku = lookup_sku(raw)
    if sku is None:
        raise ProductNotFound(f"no product with sku {raw!r}", sku=raw if isinstance(raw, str) else None)
    return sku


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidProduct("name is required", field="name")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidProduct(f"name is longer than {NAME_MAX} characters", field="name")
    return name


def validate_description(description: Any) -> str:
    if not isinstance(description, str):
        raise InvalidProduct("description must be a string", field="description")
    if len(description) > DESCRIPTION_MAX:
        raise InvalidProduct(f"description is longer than {DESCRIPTION_MAX} characters", field="description")
    return description


def validate_price(price_cents: Any) -> int:
    if not _is_int(price_cents):
        raise InvalidProduct("price_cents must be an integer number of minor units", field="price_cents")
    if not 0 <= price_cents <= PRICE_MAX:
        raise InvalidProduct(f"price_cents must be between 0 and {PRICE_MAX}", field="price_cents")
    return price_cents


def validate_currency(currency: Any) -> str:
    if not isinstance(currency, str) or not CURRENCY_PATTERN.fullmatch(currency):
        raise InvalidProduct("currency must be a 3-letter upper-case ISO 4217 code", field="currency")
    return currency


def validate_active(active: Any) -> bool:
    if not isinstance(active, bool):
        raise InvalidProduct("active must be true or false", field="active")
    return active


def validate_stock(stock: Any) -> int:
    if not _is_int(stock) or not 0 <= stock <= STOCK_MAX:
        raise InvalidProduct(f"stock must be an integer between 0 and {STOCK_MAX}", field="stock")
    return stock


def validate_quantity(quantity: Any, sku: str | None = None) -> int:
    if not _is_int(quantity) or not 1 <= quantity <= STOCK_MAX:
        raise InvalidQuantity(
            f"quantity must be an integer between 1 and {STOCK_MAX}", field="quantity", sku=sku
        )
    return quantity


def validate_delta(delta: Any, sku: str | None = None) -> int:
    if not _is_int(delta) or delta == 0 or abs(delta) > STOCK_MAX:
        raise InvalidQuantity(
            f"delta must be a non-zero integer between -{STOCK_MAX} and {STOCK_MAX}", field="delta", sku=sku
        )
    return delta


def validate_limit(limit: Any) -> int:
    if not _is_int(limit) or not 1 <= limit <= LIMIT_MAX:
        raise InvalidProduct(f"limit must be an integer between 1 and {LIMIT_MAX}", field="limit")
    return limit


def validate_after(after: Any) -> str | None:
    if after is None:
        return None
    sku = lookup_sku(after)
    if sku is None:
        raise InvalidProduct("after must be a sku (the `next` value of the previous page)", field="after")
    return sku


def merge_lines(lines: Iterable[tuple[Any, Any]]) -> list[tuple[str, int]]:
    """Validate order lines and add up repeated SKUs, keeping the caller's order of first appearance.

    Merging matters for correctness, not just tidiness: one UPDATE changes each row at most once, so
    two lines for the same SKU would otherwise silently reserve only one of them.
    """
    merged: dict[str, int] = {}
    for line in lines:
        try:
            raw_sku, quantity = line
        except (TypeError, ValueError):
            raise InvalidQuantity("each line must be a (sku, quantity) pair", field="lines") from None
        sku = existing_sku(raw_sku)
        merged[sku] = merged.get(sku, 0) + validate_quantity(quantity, sku)
    for sku, quantity in merged.items():
        validate_quantity(quantity, sku)
    return list(merged.items())
