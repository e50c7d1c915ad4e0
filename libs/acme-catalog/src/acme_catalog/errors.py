"""Catalog failures. Each has a stable `code`; the web layer maps the category (NotFound, Conflict,
InvalidInput) to an HTTP status, and `extra` (sku=, field=, requested=, ...) travels to the client."""
from __future__ import annotations

from acme_platform import Conflict, DomainError, InvalidInput, NotFound


class CatalogError(DomainError):
    """Base of every catalog failure, so a caller can catch the domain's errors as a group. Concrete
    errors also inherit a platform category, which decides the HTTP status."""

    code = "catalog.error"


class ProductNotFound(CatalogError, NotFound):
    code = "catalog.product_not_found"
    title = "Product not found"


class DuplicateSku(CatalogError, Conflict):
    code = "catalog.duplicate_sku"
    title = "SKU already exists"


class InvalidProduct(CatalogError, InvalidInput):
    code = "catalog.invalid_product"
    title = "Invalid product"


class InvalidQuantity(CatalogError, InvalidInput):
    code = "catalog.invalid_quantity"
    title = "Invalid quantity"


class ProductInactive(CatalogError, InvalidInput):
    code = "catalog.product_inactive"
    title = "Product is not for sale"


class InsufficientStock(CatalogError, Conflict):
    code = "catalog.insufficient_stock"
    title = "Insufficient stock"


class StockWouldGoNegative(CatalogError, Conflict):
    code = "catalog.stock_would_go_negative"
    title = "Stock would go negative"


class ReleaseExceedsReserved(CatalogError, Conflict):
    code = "catalog.release_exceeds_reserved"
    title = "More released than reserved"
