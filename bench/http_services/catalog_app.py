"""H mode: the catalog service (products, reservations). Verifies every write's caller with identity."""
from __future__ import annotations

import acme_catalog
from acme_platform.web import current_uow, platform
from flask import jsonify, request

from common import make_app, product_json, verify_caller


def product_cache() -> acme_catalog.ProductCache:
    return platform().per_process("bench.product_cache", lambda p: acme_catalog.ProductCache(p.listener))


def _lines() -> list[tuple[str, int]]:
    return [(sku, qty) for sku, qty in request.get_json()["lines"]]


def create_app():
    app = make_app(__name__, "catalog", ["catalog"])

    @app.get("/v1/products/<sku>")
    def get_product(sku: str):
        # Public read, as in the storefront: the same per-process, event-invalidated cache.
        product = product_cache().get(current_uow(), sku)
        if not product.active:
            raise acme_catalog.ProductNotFound(f"no product with sku {sku!r}", sku=product.sku)
        return jsonify(sku=product.sku, name=product.name, description=product.description,
                       price_cents=product.price_cents, currency=product.currency, available=product.available)

    @app.post("/v1/reservations")
    def reserve():
        verify_caller()
        products = acme_catalog.reserve_many(current_uow(), _lines())
        return jsonify(products=[product_json(p) for p in products.values()]), 201

    @app.post("/v1/releases")
    def release():
        # Compensation of a reservation whose order failed later (there is no cross-service transaction).
        verify_caller()
        acme_catalog.release_many(current_uow(), _lines())
        return jsonify(released=True)

    @app.get("/v1/hop/products/<sku>")
    def hop_product(sku: str):
        verify_caller()
        return jsonify(product_json(acme_catalog.get_product(current_uow(), sku)))

    return app
