"""Products and stock (staff view: inactive products included)."""
from __future__ import annotations

import acme_billing
import acme_catalog
from acme_platform.web import ProblemException, current_uow, problem, problems
from flask import Blueprint
from spectree import Response

from ..auth import BEARER, staff_required
from ..schemas import ProductIn, ProductOut, ProductPage, ProductPatch, ProductQuery, StockIn, StockOut


def blueprint(spec) -> Blueprint:
    bp = Blueprint("products", __name__)

    @bp.post("/v1/products")
    @staff_required
    @spec.validate(json=ProductIn, resp=Response(HTTP_201=ProductOut, **problems(401, 403, 409, 415, 422)),
                   tags=["products"], security=BEARER)
    def create(json: ProductIn):
        """Create a product (409 if the sku exists; 422 naming `currency` unless priced in the wallets' currency)."""
        _refuse_unpayable_currency(json.currency)
        product = acme_catalog.create_product(
            current_uow(), sku=json.sku, name=json.name, description=json.description,
            price_cents=json.price_cents, currency=json.currency, stock=json.stock,
        )
        return ProductOut.of(product), 201

    @bp.get("/v1/products")
    @staff_required
    @spec.validate(query=ProductQuery, resp=Response(HTTP_200=ProductPage, **problems(401, 403, 422)), tags=["products"],
                   security=BEARER)
    def list_(query: ProductQuery):
        """Products in sku order; pass `next` as `after` for the following page."""
        page = acme_catalog.list_products(current_uow(), limit=query.limit, after=query.after,
                                          include_inactive=query.include_inactive)
        return ProductPage(items=[ProductOut.of(p) for p in page.items], next=page.next)

    @bp.get("/v1/products/<sku>")
    @staff_required
    @spec.validate(resp=Response(HTTP_200=ProductOut, **problems(401, 403, 404)), tags=["products"], security=BEARER)
    def get(sku: str):
        """One product, active or not."""
        return ProductOut.of(acme_catalog.get_product(current_uow(), sku))

    @bp.patch("/v1/products/<sku>")
    @staff_required
    @spec.validate(json=ProductPatch, resp=Response(HTTP_200=ProductOut, **problems(401, 403, 404, 415, 422)),
                   tags=["products"], security=BEARER)
    def update(sku: str, json: ProductPatch):
        """Change name, description, price or active; storefronts see it within a second
        (catalog publishes catalog.product_changed with this transaction)."""
        return ProductOut.of(acme_catalog.update_product(current_uow(), sku, **json.changes()))

    @bp.post("/v1/products/<sku>/stock")
    @staff_required
    @spec.validate(json=StockIn, resp=Response(HTTP_200=StockOut, **problems(401, 403, 404, 409, 415, 422)),
                   tags=["products"], security=BEARER)
    def adjust(sku: str, json: StockIn):
        """Goods received (+delta) or written off (-delta); 409 if on hand would drop below reserved."""
        level = acme_catalog.adjust_stock(current_uow(), sku, json.delta)
        return StockOut(sku=level.sku, on_hand=level.on_hand, reserved=level.reserved, available=level.available)

    return bp


def _refuse_unpayable_currency(currency: str) -> None:
    """Every wallet is opened in billing's WALLET_CURRENCY and a charge must match the wallet, so a price in
    any other currency could never be paid: every order of it would fail with billing.currency_mismatch.
    Refused at creation, where the staff member can fix it, rather than at every customer's checkout."""
    if currency != acme_billing.WALLET_CURRENCY:
        raise ProblemException(problem(
            422, "Currency not payable",
            f"prices must be in {acme_billing.WALLET_CURRENCY}: every customer wallet is in "
            f"{acme_billing.WALLET_CURRENCY}, so a product priced in {currency!r} could never be bought",
            code="backoffice.currency_not_payable", field="currency", accepted=[acme_billing.WALLET_CURRENCY]))
