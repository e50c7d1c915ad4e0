"""The customer journey across all three services: sign up on the storefront, staff credits the
wallet and stocks products in the backoffice, the customer browses and orders, and the fulfillment
worker ships the order within the 2 s the spec allows."""
from __future__ import annotations

import re
import time

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    FULFILMENT_BOUND,
    PASSWORD,
    WORKERS,
    Customer,
    assert_problem,
    balance,
    call,
    create_product,
    credit,
    funded_customer,
    in_parallel,
    ledger_check,
    miss,
    place_order,
    poll,
    staff_product,
    unique_email,
)

pytest_plugins = ["e2e_support"]

STOREFRONT_PRODUCT_FIELDS = {"sku", "name", "description", "price_cents", "currency", "available"}


def storefront_catalogue(stack) -> list[dict]:
    """Every product for sale, following `next` page by page."""
    items, after, pages = [], None, 0
    while True:
        r = call("GET", f"{stack.sf}/v1/products", params={"limit": 2, **({"after": after} if after else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        items += page["items"]
        pages += 1
        after = page["next"]
        if after is None:
            return items
        assert after == page["items"][-1]["sku"] and pages < 500


def test_sign_up_credit_browse_order_and_fulfilment(stack):
    # Sign up (the wallet is opened in the same transaction) and log in.
    email = unique_email("journey")
    r = call("POST", f"{stack.sf}/v1/customers", json={"email": email, "password": PASSWORD, "name": "Ada Lovelace"})
    assert r.status_code == 201, r.text
    customer_id = r.json()["id"]
    assert r.json() == {"id": customer_id, "email": email, "name": "Ada Lovelace"}
    again = call("POST", f"{stack.sf}/v1/customers",
                 json={"email": email.upper(), "password": PASSWORD, "name": "Ada Again"})
    assert_problem(again, 409, code="identity.email_taken", field="email")
    assert_problem(call("POST", f"{stack.sf}/v1/tokens", json={"email": email, "password": PASSWORD + "x"}), 401,
                   code="identity.bad_credentials")
    r = call("POST", f"{stack.sf}/v1/tokens", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r.json()["expires_at"]), r.json()
    customer = Customer(customer_id, email, r.json()["token"])
    auth = customer.auth
    wallet = call("GET", f"{stack.sf}/v1/wallet", headers=auth)
    assert wallet.status_code == 200 and wallet.json() == {"balance_cents": 0, "currency": "USD"}

    # Staff grants credit; the storefront sees the new balance.
    grant = credit(stack, customer_id, 10_000)
    assert grant["customer_id"] == customer_id and grant["balance_cents"] == 10_000
    assert grant["currency"] == "USD" and grant["reference"].startswith("grant:")
    assert call("GET", f"{stack.sf}/v1/wallet", headers=auth).json() == {"balance_cents": 10_000, "currency": "USD"}

    # Staff stocks two products; the customer finds them in the paginated catalogue and by sku.
    mug = create_product(stack, price_cents=1_250, stock=5, name="Acme mug", description="350 ml")
    tea = create_product(stack, price_cents=800, stock=3, name="Acme tea")
    assert (mug["on_hand"], mug["reserved"], mug["available"], mug["active"]) == (5, 0, 5, True)
    catalogue = storefront_catalogue(stack)
    skus = [p["sku"] for p in catalogue]
    assert skus == sorted(skus) and len(skus) == len(set(skus)), "pages overlap or are out of order"
    by_sku = {p["sku"]: p for p in catalogue}
    assert by_sku[mug["sku"]] == {"sku": mug["sku"], "name": "Acme mug", "description": "350 ml",
                                  "price_cents": 1_250, "currency": "USD", "available": 5}
    assert set(by_sku[tea["sku"]]) == STOREFRONT_PRODUCT_FIELDS
    one = call("GET", f"{stack.sf}/v1/products/{tea['sku'].lower()}")
    assert one.status_code == 200 and one.json() == by_sku[tea["sku"]]

    # Order: stock is reserved, the wallet charged, all in one request.
    r = place_order(stack, customer, [(mug["sku"], 2), (tea["sku"], 1)])
    assert r.status_code == 201, r.text
    placed_at = time.monotonic()
    order = r.json()
    assert order["status"] == "placed" and order["total_cents"] == 2 * 1_250 + 800 and order["currency"] == "USD"
    assert sorted((i["sku"], i["quantity"], i["unit_price_cents"]) for i in order["items"]) == sorted(
        [(mug["sku"], 2, 1_250), (tea["sku"], 1, 800)])

    # The fulfillment worker ships it within the spec's bound.
    def fulfilled():
        got = call("GET", f"{stack.sf}/v1/orders/{order['id']}", headers=auth)
        assert got.status_code == 200, got.text
        return got.json() if got.json()["status"] == "fulfilled" else miss(got.json()["status"])

    poll(fulfilled, within=FULFILMENT_BOUND - (time.monotonic() - placed_at), interval=0.05,
         what="order fulfilled")

    # Money: charged once. Stock: fulfilment took the reserved units out of the warehouse.
    assert call("GET", f"{stack.sf}/v1/wallet", headers=auth).json()["balance_cents"] == 10_000 - 3_300
    assert {k: staff_product(stack, mug["sku"])[k] for k in ("on_hand", "reserved", "available")} == \
        {"on_hand": 3, "reserved": 0, "available": 3}
    assert {k: staff_product(stack, tea["sku"])[k] for k in ("on_hand", "reserved", "available")} == \
        {"on_hand": 2, "reserved": 0, "available": 2}
    assert call("GET", f"{stack.sf}/v1/products/{mug['sku']}").json()["available"] == 3

    # The customer's list and the staff's search agree.
    mine = call("GET", f"{stack.sf}/v1/orders", headers=auth).json()
    assert [(o["id"], o["status"]) for o in mine["items"]] == [(order["id"], "fulfilled")] and mine["next"] is None
    found = call("GET", f"{stack.bo}/v1/orders", params={"customer_id": customer_id}, headers=stack.staff.auth)
    assert found.status_code == 200, found.text
    assert [(o["id"], o["status"], o["customer_id"], o["total_cents"]) for o in found.json()["items"]] == \
        [(order["id"], "fulfilled", customer_id, 3_300)]
    assert call("GET", f"{stack.bo}/v1/orders/{order['id']}", headers=stack.staff.auth).json()["status"] == "fulfilled"

    # A shipped order can no longer be cancelled, and nothing is refunded.
    assert_problem(call("POST", f"{stack.sf}/v1/orders/{order['id']}/cancel", headers=auth), 409,
                   code="orders.invalid_transition")
    assert call("GET", f"{stack.sf}/v1/wallet", headers=auth).json()["balance_cents"] == 6_700

    metrics = call("GET", f"{stack.fulfillment.url}/metrics").text
    fulfilled_total = re.search(r'^fulfillment_orders_total\{outcome="fulfilled"\} (\S+)$', metrics, re.MULTILINE)
    assert fulfilled_total and float(fulfilled_total.group(1)) >= 1, metrics[-2000:]
    assert re.search(rf"^fulfillment_consumer_running {WORKERS['fulfillment']}\.0$", metrics, re.MULTILINE)
    assert ledger_check(stack)["balanced"] is True


def test_refused_orders_change_neither_wallet_nor_stock(stack):
    customer = funded_customer(stack, 2_000)
    plenty = create_product(stack, price_cents=100, stock=50)
    scarce = create_product(stack, price_cents=100, stock=2)
    pricey = create_product(stack, price_cents=5_000, stock=5)
    withdrawn = create_product(stack, price_cents=100, stock=5)
    r = call("PATCH", f"{stack.bo}/v1/products/{withdrawn['sku']}", json={"active": False}, headers=stack.staff.auth)
    assert r.status_code == 200 and r.json()["active"] is False

    # Each refusal names the culprit; the first line of a two-line order is not half-reserved.
    body = assert_problem(place_order(stack, customer, [(plenty["sku"], 5), (scarce["sku"], 3)]), 409,
                          code="catalog.insufficient_stock", sku=scarce["sku"])
    assert (body["requested"], body["available"]) == (3, 2)
    assert_problem(place_order(stack, customer, [(plenty["sku"], 1), (pricey["sku"], 1)]), 402,
                   code="billing.insufficient_funds")
    assert_problem(place_order(stack, customer, [(plenty["sku"], 1), (withdrawn["sku"], 1)]), 422,
                   code="orders.product_unavailable", sku=withdrawn["sku"])
    assert_problem(place_order(stack, customer, [(plenty["sku"], 1), ("NO-SUCH-SKU-E2E", 1)]), 422,
                   code="orders.unknown_product", sku="NO-SUCH-SKU-E2E")

    assert balance(stack, customer) == 2_000
    for product in (plenty, scarce, pricey, withdrawn):
        level = staff_product(stack, product["sku"])
        assert (level["on_hand"], level["reserved"]) == (product["on_hand"], 0), level
    mine = call("GET", f"{stack.sf}/v1/orders", headers=customer.auth)
    assert mine.status_code == 200 and mine.json() == {"items": [], "next": None}
    assert ledger_check(stack)["balanced"] is True


def test_the_first_staff_account_comes_from_the_cli_and_cannot_shop(stack, launcher):
    # Made by `acmectl create-staff` in the fixture: it logs into the backoffice, not the storefront.
    assert_problem(call("POST", f"{stack.sf}/v1/tokens", json={"email": stack.staff.email, "password": PASSWORD}),
                   401, code="identity.bad_credentials")
    # The CLI refuses a second account with the same email, and a weak password, without a traceback.
    dup, weak = in_parallel(lambda args: launcher.acmectl("backoffice", stack.database_url, *args[0], stdin=args[1]), [
        (("create-staff", "--email", stack.staff.email, "--name", "Dup"), PASSWORD + "\n"),
        (("create-staff", "--email", unique_email("ops"), "--name", "Weak"), "short\n"),
    ])
    assert dup.returncode != 0 and "Traceback" not in dup.stderr, dup.stderr
    assert "already exists" in dup.stderr, dup.stderr
    assert weak.returncode != 0 and "10" in weak.stderr and "Traceback" not in weak.stderr, weak.stderr
    assert "short" not in weak.stdout + weak.stderr
