"""Backoffice product changes reach every storefront worker's product cache within a second
(catalog.product_changed → LISTEN/NOTIFY → eviction; there is no TTL to hide a missed event)."""
from __future__ import annotations

import time

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    PROPAGATION_BOUND,
    assert_problem,
    balance,
    call,
    create_product,
    funded_customer,
    in_parallel,
    miss,
    place_order,
    poll,
)

pytest_plugins = ["e2e_support"]

WORKER_SAMPLES = 8


def storefront_views(stack, sku: str) -> list[tuple[int, dict]]:
    """The product as several storefront requests at once (separate connections, so both workers) see it."""
    def view(_):
        r = call("GET", f"{stack.sf}/v1/products/{sku}")
        return r.status_code, r.json()

    return in_parallel(view, range(WORKER_SAMPLES), workers=WORKER_SAMPLES)


def everywhere(stack, sku: str, expected: dict, status: int = 200):
    views = storefront_views(stack, sku)
    ok = all(s == status and all(body.get(k) == v for k, v in expected.items()) for s, body in views)
    return True if ok else miss(views)


def patch(stack, sku: str, changes: dict) -> dict:
    r = call("PATCH", f"{stack.bo}/v1/products/{sku}", json=changes, headers=stack.staff.auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_price_change_is_visible_in_the_storefront_within_a_second(stack):
    product = create_product(stack, price_cents=1_000, stock=10)
    sku = product["sku"]
    # Warm every worker's cache with the old price.
    assert everywhere(stack, sku, {"price_cents": 1_000}) is True

    changed = patch(stack, sku, {"price_cents": 1_234})
    changed_at = time.monotonic()
    assert changed["price_cents"] == 1_234 and changed["version"] > product["version"]
    poll(lambda: everywhere(stack, sku, {"price_cents": 1_234}),
         within=PROPAGATION_BOUND - (time.monotonic() - changed_at), what="new price on every storefront worker")

    # What the customer sees is what they pay.
    customer = funded_customer(stack, 5_000)
    r = place_order(stack, customer, [(sku, 2)])
    assert r.status_code == 201, r.text
    assert r.json()["total_cents"] == 2_468 and r.json()["items"][0]["unit_price_cents"] == 1_234
    assert balance(stack, customer) == 5_000 - 2_468


def test_name_withdrawal_and_restock_are_visible_within_a_second(stack):
    product = create_product(stack, price_cents=300, stock=4, name="Old name")
    sku = product["sku"]
    assert everywhere(stack, sku, {"name": "Old name", "available": 4}) is True

    patch(stack, sku, {"name": "New name", "description": "now with a lid"})
    at = time.monotonic()
    poll(lambda: everywhere(stack, sku, {"name": "New name", "description": "now with a lid"}),
         within=PROPAGATION_BOUND - (time.monotonic() - at), what="renamed on every storefront worker")

    # Withdrawn: customers cannot tell it from a product that never existed, nor order it.
    patch(stack, sku, {"active": False})
    at = time.monotonic()
    poll(lambda: everywhere(stack, sku, {"code": "catalog.product_not_found"}, status=404),
         within=PROPAGATION_BOUND - (time.monotonic() - at), what="withdrawn on every storefront worker")
    customer = funded_customer(stack, 5_000)
    assert_problem(place_order(stack, customer, [(sku, 1)]), 422, code="orders.product_unavailable", sku=sku)

    patch(stack, sku, {"active": True})
    at = time.monotonic()
    poll(lambda: everywhere(stack, sku, {"available": 4}),
         within=PROPAGATION_BOUND - (time.monotonic() - at), what="back on sale on every storefront worker")

    # Goods received in the backoffice: the storefront's `available` follows.
    r = call("POST", f"{stack.bo}/v1/products/{sku}/stock", json={"delta": 6}, headers=stack.staff.auth)
    assert r.status_code == 200 and r.json() == {"sku": sku, "on_hand": 10, "reserved": 0, "available": 10}, r.text
    at = time.monotonic()
    poll(lambda: everywhere(stack, sku, {"available": 10}),
         within=PROPAGATION_BOUND - (time.monotonic() - at), what="restock on every storefront worker")
    # The list is read from the database and agrees.
    listed = call("GET", f"{stack.sf}/v1/products", params={"limit": 100, "after": sku[:-1]}).json()["items"]
    assert next(p for p in listed if p["sku"] == sku)["available"] == 10
