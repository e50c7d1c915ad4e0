"""The public product catalogue: only products that are for sale."""
from __future__ import annotations

import acme_catalog
from acme_platform.web import current_uow, platform, problems
from flask import Blueprint
from spectree import Response, SpecTree

from ..schemas import ProductOut, ProductPage, ProductsQuery


def product_cache() -> acme_catalog.ProductCache:
    # One per process: emptied by catalog.product_changed events (a backoffice edit shows within a
    # second), not by a TTL.
    return platform().per_process("storefront.product_cache", lambda p: acme_catalog.ProductCache(p.listener))


def blueprint(spec: SpecTree) -> Blueprint:
    bp = Blueprint("products", __name__)

    @bp.get("/v1/products")
    @spec.validate(query=ProductsQuery, resp=Response(HTTP_200=ProductPage, **problems(422)), tags=["products"])
    def list_products(query: ProductsQuery):
        """Products for sale, by sku. Pass `next` as `after` for the following page (null on the last)."""
        page = acme_catalog.list_products(current_uow(), limit=query.limit, after=query.after)
        return ProductPage(items=[ProductOut.model_validate(p) for p in page.items], next=page.next)

    @bp.get("/v1/products/<sku>")
    @spec.validate(resp=Response(HTTP_200=ProductOut, **problems(404)), tags=["products"])
    def get_product(sku: str):
        """One product for sale; 404 if there is none or it is not for sale."""
        product = product_cache().get(current_uow(), sku)
        if not product.active:
            # Customers cannot tell a withdrawn product from one that never existed.
            raise acme_catalog.ProductNotFound(f"no product with sku {sku!r}", sku=product.sku)
        return ProductOut.model_validate(product)

    return bp
