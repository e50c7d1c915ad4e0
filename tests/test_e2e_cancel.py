"""Cancelling before fulfilment gives the money back and puts the stock back on sale. Runs on the
stack WITHOUT a fulfillment worker (another database), so orders stay `placed` until cancelled."""
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    assert_problem,
    balance,
    call,
    create_product,
    funded_customer,
    ledger_check,
    place_order,
    staff_product,
)

pytest_plugins = ["e2e_support"]


def stock(stack, sku: str) -> tuple[int, int, int]:
    p = staff_product(stack, sku)
    return p["on_hand"], p["reserved"], p["available"]


def test_cancelling_a_placed_order_refunds_the_wallet_and_restocks(quiet_stack):
    stack = quiet_stack
    customer = funded_customer(stack, 5_000)
    mug = create_product(stack, price_cents=700, stock=4)
    tea = create_product(stack, price_cents=250, stock=10)

    r = place_order(stack, customer, [(mug["sku"], 3), (tea["sku"], 2)])
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["total_cents"] == 3 * 700 + 2 * 250
    assert balance(stack, customer) == 5_000 - 2_600
    assert stock(stack, mug["sku"]) == (4, 3, 1) and stock(stack, tea["sku"]) == (10, 2, 8)
    assert call("GET", f"{stack.sf}/v1/products/{mug['sku']}").json()["available"] == 1
    listed = call("GET", f"{stack.bo}/v1/orders", params={"status": "placed", "customer_id": customer.id},
                  headers=stack.staff.auth).json()["items"]
    assert [o["id"] for o in listed] == [order["id"]]

    r = call("POST", f"{stack.sf}/v1/orders/{order['id']}/cancel", headers=customer.auth)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == order["id"] and r.json()["status"] == "cancelled"
    assert r.json()["total_cents"] == 2_600

    assert balance(stack, customer) == 5_000
    assert stock(stack, mug["sku"]) == (4, 0, 4) and stock(stack, tea["sku"]) == (10, 0, 10)
    assert call("GET", f"{stack.sf}/v1/orders/{order['id']}", headers=customer.auth).json()["status"] == "cancelled"
    staff_view = call("GET", f"{stack.bo}/v1/orders", params={"status": "cancelled", "customer_id": customer.id},
                      headers=stack.staff.auth).json()["items"]
    assert [(o["id"], o["status"]) for o in staff_view] == [(order["id"], "cancelled")]

    # Cancelling twice refunds once.
    assert_problem(call("POST", f"{stack.sf}/v1/orders/{order['id']}/cancel", headers=customer.auth), 409,
                   code="orders.invalid_transition")
    assert balance(stack, customer) == 5_000
    assert stock(stack, mug["sku"]) == (4, 0, 4)

    # The released units can really be sold again: all four of them.
    again = place_order(stack, customer, [(mug["sku"], 4)])
    assert again.status_code == 201, again.text
    assert stock(stack, mug["sku"]) == (4, 4, 0)
    assert balance(stack, customer) == 5_000 - 2_800
    report = ledger_check(stack)
    assert report["balanced"] is True and report["problems"] == [] and report["postings_checked"] >= 4

