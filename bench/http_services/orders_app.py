"""H mode: the orders service, which is also the gateway clients call for orders.

It runs the real `acme_orders.place_order`, but the two cross-domain calls inside it go over HTTP:
`acme_orders.service` reaches catalog and billing through its module attributes `acme_catalog` and
`acme_billing`, which are replaced here by proxies that call the catalog and billing services. So
the orders code, SQL and idempotency are those of L; what changes is the architecture:

  gateway -> identity (who is calling?)
  gateway -> catalog  (reserve)  -> identity (catalog verifies the caller)
  gateway -> billing  (charge)   -> identity (billing verifies the caller)
  gateway: its own transaction (idempotency key, order, outbox)

Four transactions instead of one. A failure after the reservation (charge refused, order insert or
commit failing) leaves committed work in other services, so the gateway compensates: refund the
charge, release the reservation. A crash between the two leaves them until some reconciliation runs;
L's single transaction has no such window.
"""
from __future__ import annotations

import logging
from datetime import datetime

import acme_billing
import acme_catalog
import acme_orders
import acme_orders.service as orders_service
from acme_catalog import Product
from acme_platform.web import ProblemException, current_uow, platform
from flask import Response, g, jsonify, request

from common import TIMEOUT, call, forward_headers, http, make_app, principal_from, url, verify_caller

log = logging.getLogger("bench.orders")

_CATALOG_ERRORS = {
    "catalog.product_not_found": acme_catalog.ProductNotFound,
    "catalog.product_inactive": acme_catalog.ProductInactive,
    "catalog.insufficient_stock": acme_catalog.InsufficientStock,
}


def _post_domain(service: str, path: str, body: dict, errors: dict) -> dict:
    response = http().post(url(service, path), json=body, headers=forward_headers(), timeout=TIMEOUT)
    if response.status_code < 400:
        return response.json()
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    error = errors.get(problem.get("code"))
    if error is not None:
        # Re-raised as the domain's own error so acme_orders maps it exactly as it does in-process.
        extra = {k: v for k, v in problem.items()
                 if k not in ("type", "title", "status", "detail", "code", "request_id")}
        raise error(problem.get("detail"), **extra)
    raise ProblemException(Response(response.content, status=response.status_code,
                                    mimetype="application/problem+json"))


class RemoteCatalog:
    """The part of acme_catalog that acme_orders.place_order uses, over HTTP."""

    def __getattr__(self, name):
        return getattr(acme_catalog, name)   # error classes, values

    def reserve_many(self, uow, lines):  # noqa: ARG002 - the remote service has its own transaction
        lines = [[sku, qty] for sku, qty in lines]
        data = _post_domain("catalog", "/v1/reservations", {"lines": lines}, _CATALOG_ERRORS)
        g.bench_reserved = lines
        return {p["sku"]: Product(p["sku"], p["name"], p["description"], p["price_cents"], p["currency"],
                                  p["active"], p["on_hand"], p["reserved"], p["version"],
                                  datetime.fromisoformat(p["updated_at"]))
                for p in data["products"]}


class RemoteBilling:
    def __getattr__(self, name):
        return getattr(acme_billing, name)

    def charge(self, uow, owner_id, amount_cents, currency, *, reference):  # noqa: ARG002
        body = {"owner_id": owner_id, "amount_cents": amount_cents, "currency": currency, "reference": reference}
        data = _post_domain("billing", "/v1/charges", body, {})
        g.bench_charged = body
        return data


def _compensate() -> None:
    """Undo what other services committed for an order that failed. Best effort, as in any saga."""
    charged = g.pop("bench_charged", None)
    reserved = g.pop("bench_reserved", None)
    try:
        if charged is not None:
            call("POST", "billing", "/v1/refunds", json={k: charged[k] for k in ("owner_id", "amount_cents",
                                                                                  "reference")})
        if reserved is not None:
            call("POST", "catalog", "/v1/releases", json={"lines": reserved})
    except Exception:
        # A real system would queue this for retry; until it succeeds stock or money is stranded.
        log.exception("compensation failed: charged=%s reserved=%s", charged, reserved)


def order_json(order) -> dict:
    return {"id": order.id, "status": order.status, "total_cents": order.total_cents, "currency": order.currency,
            "items": [{"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}
                      for i in order.items],
            "created_at": order.created_at.isoformat()}


def create_app():
    orders_service.acme_catalog = RemoteCatalog()
    orders_service.acme_billing = RemoteBilling()
    app = make_app(__name__, "orders", ["orders"])

    @app.post("/v1/orders")
    def place_order():
        principal = verify_caller(scope="customer")
        body = request.get_json()
        try:
            # Our own transaction, committed here so that a failed COMMIT is compensated too.
            with platform().database.unit_of_work() as uow:
                items = [acme_orders.OrderItem(line["sku"], line["quantity"]) for line in body["items"]]
                placed = acme_orders.place_order(uow, principal, items,
                                                 idempotency_key=request.headers.get("Idempotency-Key"))
        except BaseException:
            _compensate()
            raise
        return jsonify(order_json(placed.order)), 200 if placed.replayed else 201

    @app.get("/v1/orders/<order_id>")
    def get_order(order_id: str):
        principal = verify_caller(scope="customer")
        return jsonify(order_json(acme_orders.get_order(current_uow(), principal, order_id)))

    @app.get("/v1/hops/<int:n>")
    def hops(n: int):
        # Domains in the order identity, catalog, billing, orders; the first n are touched.
        principal = principal_from(call("GET", "identity", "/v1/hop/authenticate"))
        touched = ["identity"]
        if n >= 2:
            call("GET", "catalog", f"/v1/hop/products/{request.args['sku']}")
            touched.append("catalog")
        if n >= 3:
            call("GET", "billing", "/v1/hop/balance")
            touched.append("billing")
        if n >= 4:
            acme_orders.get_order(current_uow(), principal, request.args["order"])
            touched.append("orders")
        return jsonify(touched=touched)

    return app
