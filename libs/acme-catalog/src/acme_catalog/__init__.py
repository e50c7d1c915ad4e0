"""acme-catalog: products, prices and stock (Postgres schema `catalog`).

Public API: the names in __all__. Every function takes the caller's UnitOfWork first and works
inside its transaction.
"""
from acme_platform import instrument_domain

from .cache import ProductCache
from .domain import DOMAIN
from .errors import (
    CatalogError,
    DuplicateSku,
    InsufficientStock,
    InvalidProduct,
    InvalidQuantity,
    ProductInactive,
    ProductNotFound,
    ReleaseExceedsReserved,
    StockWouldGoNegative,
)
from .events import PRODUCT_CHANGED
from .model import Page, Product, StockLevel
from .service import (
    adjust_stock,
    commit_many,
    commit_reservation,
    create_product,
    get_product,
    get_products,
    list_products,
    release,
    release_many,
    reserve,
    reserve_many,
    update_product,
)

__all__ = [
    # values
    "Product",
    "Page",
    "StockLevel",
    # products
    "create_product",
    "update_product",
    "get_product",
    "get_products",
    "list_products",
    # stock
    "reserve",
    "reserve_many",
    "release",
    "release_many",
    "commit_reservation",
    "commit_many",
    "adjust_stock",
    # events and caching
    "PRODUCT_CHANGED",
    "ProductCache",
    # errors
    "CatalogError",
    "ProductNotFound",
    "DuplicateSku",
    "InvalidProduct",
    "InvalidQuantity",
    "ProductInactive",
    "InsufficientStock",
    "StockWouldGoNegative",
    "ReleaseExceedsReserved",
    # registration
    "DOMAIN",
]

# Last: every function in __all__ becomes an observed call (a span, metrics per function), so
# `from acme_catalog import f` anywhere gets the observed one. Written by the platform, not by this domain.
instrument_domain(__name__)
