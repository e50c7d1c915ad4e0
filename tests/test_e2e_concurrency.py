"""60 customers race for 20 units over real HTTP (two gevent workers, one Postgres): exactly 20 win,
nobody is charged for nothing, and the ledger still balances."""
from __future__ import annotations

import time
from collections import Counter

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    FULFILMENT_BOUND,
    at_once,
    balance,
    call,
    create_product,
    credit,
    in_parallel,
    ledger_check,
    miss,
    place_order,
    poll,
    sign_up,
    staff_product,
)

pytest_plugins = ["e2e_support"]

CUSTOMERS = 60
UNITS = 20
PRICE = 300
FUNDS = 1_000


def test_sixty_concurrent_orders_for_twenty_units(stack):
    customers = in_parallel(lambda _: sign_up(stack), range(CUSTOMERS))
    in_parallel(lambda c: credit(stack, c.id, FUNDS), customers)
    product = create_product(stack, price_cents=PRICE, stock=UNITS)
    sku = product["sku"]

    responses = at_once([lambda c=c: place_order(stack, c, [(sku, 1)]) for c in customers])
    burst_done = time.monotonic()

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: UNITS, 409: CUSTOMERS - UNITS}, \
        f"{dict(statuses)}: " + "; ".join({r.text[:200] for r in responses if r.status_code not in (201, 409)})
    for r in responses:
        if r.status_code == 409:
            problem = r.json()
            assert r.headers["Content-Type"] == "application/problem+json"
            assert (problem["code"], problem["sku"], problem["requested"]) == ("catalog.insufficient_stock", sku, 1)
    winners = [c for c, r in zip(customers, responses, strict=True) if r.status_code == 201]
    losers = [c for c, r in zip(customers, responses, strict=True) if r.status_code == 409]
    order_ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(order_ids) == UNITS

    # Sold out everywhere; the worker ships all 20, so nothing stays reserved.
    assert staff_product(stack, sku)["available"] == 0
    assert call("GET", f"{stack.sf}/v1/products/{sku}").json()["available"] == 0

    def all_shipped():
        found = call("GET", f"{stack.bo}/v1/orders", params={"status": "fulfilled", "limit": 100},
                     headers=stack.staff.auth).json()["items"]
        shipped = order_ids & {o["id"] for o in found}
        return True if shipped == order_ids else miss(f"{len(shipped)} of {UNITS} fulfilled")

    poll(all_shipped, within=FULFILMENT_BOUND - (time.monotonic() - burst_done), interval=0.1,
         what="every winning order fulfilled")
    level = staff_product(stack, sku)
    assert (level["on_hand"], level["reserved"], level["available"]) == (0, 0, 0)

    # Money: each winner paid once, each loser nothing; wallets + charges == credits.
    wallets = dict(zip([c.id for c in customers], in_parallel(lambda c: balance(stack, c), customers), strict=True))
    assert {wallets[c.id] for c in winners} == {FUNDS - PRICE}
    assert {wallets[c.id] for c in losers} == {FUNDS}

    def orders_of(c):
        return call("GET", f"{stack.sf}/v1/orders", headers=c.auth).json()["items"]

    placed = dict(zip([c.id for c in customers], in_parallel(orders_of, customers), strict=True))
    assert {len(placed[c.id]) for c in winners} == {1} and {len(placed[c.id]) for c in losers} == {0}
    charged = sum(o["total_cents"] for orders in placed.values() for o in orders if o["status"] != "cancelled")
    assert sum(wallets.values()) + charged == CUSTOMERS * FUNDS

    report = ledger_check(stack)
    assert report["balanced"] is True and report["problems"] == [], report
