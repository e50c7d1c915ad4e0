"""L mode for the hops sweep: one request touches the first n of identity, catalog, billing, orders,
in-process, in ONE unit of work, through the same platform app factory as the storefront."""
from __future__ import annotations

import acme_billing
import acme_catalog
import acme_identity
import acme_orders
from acme_platform.web import bearer_token, create_app as create_platform_app, current_uow
from flask import jsonify, request


def create_app():
    app = create_platform_app(__name__, service_name="bench-l-hops", service_version="bench",
                              domains=["identity", "catalog", "billing", "orders"])

    @app.get("/v1/hops/<int:n>")
    def hops(n: int):
        uow = current_uow()
        principal = acme_identity.authenticate(uow, bearer_token())
        touched = ["identity"]
        if n >= 2:
            acme_catalog.get_product(uow, request.args["sku"])
            touched.append("catalog")
        if n >= 3:
            acme_billing.get_balance(uow, principal.subject_id)
            touched.append("billing")
        if n >= 4:
            acme_orders.get_order(uow, principal, request.args["order"])
            touched.append("orders")
        return jsonify(touched=touched)

    return app
