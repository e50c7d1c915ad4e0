"""POST /v1/orders with an Idempotency-Key: a retry (sequential or racing) returns the first order and
charges once; the same key for a different body is refused naming the header."""
from __future__ import annotations

import uuid
from collections import Counter

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    assert_problem,
    at_once,
    balance,
    call,
    create_product,
    funded_customer,
    ledger_check,
    place_order,
    sign_up,
    staff_product,
)

pytest_plugins = ["e2e_support"]

SAME_ORDER = ("id", "total_cents", "currency", "items", "created_at")


def my_orders(stack, customer) -> list[dict]:
    r = call("GET", f"{stack.sf}/v1/orders", headers=customer.auth)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_retried_order_is_placed_and_charged_once(stack):
    customer = funded_customer(stack, 10_000)
    product = create_product(stack, price_cents=1_500, stock=10)
    sku, key = product["sku"], f"retry-{uuid.uuid4()}"

    first = place_order(stack, customer, [(sku, 2)], key=key)
    assert first.status_code == 201, first.text
    retry = place_order(stack, customer, [(sku, 2)], key=key)
    assert retry.status_code == 200, retry.text
    assert {k: retry.json()[k] for k in SAME_ORDER} == {k: first.json()[k] for k in SAME_ORDER}
    # Lower-case sku: the same order after normalisation, so still a replay.
    replay = place_order(stack, customer, [(sku.lower(), 2)], key=key)
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"], replay.text

    assert balance(stack, customer) == 10_000 - 3_000
    assert staff_product(stack, sku)["available"] == 8
    assert [o["id"] for o in my_orders(stack, customer)] == [first.json()["id"]]

    # Same key, different order: refused, naming the header, and nothing charged or reserved.
    assert_problem(place_order(stack, customer, [(sku, 3)], key=key), 409,
                   code="orders.idempotency_key_reused", field="Idempotency-Key")
    assert balance(stack, customer) == 7_000 and staff_product(stack, sku)["available"] == 8

    # A new key is a new order; no key at all is always a new order.
    assert place_order(stack, customer, [(sku, 1)], key=f"retry-{uuid.uuid4()}").status_code == 201
    assert place_order(stack, customer, [(sku, 1)]).status_code == 201
    assert place_order(stack, customer, [(sku, 1)]).status_code == 201
    assert balance(stack, customer) == 7_000 - 3 * 1_500
    assert len(my_orders(stack, customer)) == 4


def test_keys_belong_to_one_customer(stack):
    product = create_product(stack, price_cents=100, stock=10)
    alice, bob = funded_customer(stack, 1_000), funded_customer(stack, 1_000)
    key = f"shared-{uuid.uuid4()}"
    a = place_order(stack, alice, [(product["sku"], 1)], key=key)
    b = place_order(stack, bob, [(product["sku"], 1)], key=key)
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    assert (balance(stack, alice), balance(stack, bob)) == (900, 900)


@pytest.mark.parametrize("racers", [2, 8])
def test_racing_retries_with_the_same_key_charge_once(stack, racers):
    customer = funded_customer(stack, 10_000)
    product = create_product(stack, price_cents=700, stock=50)
    key = f"race-{uuid.uuid4()}"

    responses = at_once([lambda: place_order(stack, customer, [(product["sku"], 3)], key=key)] * racers)

    assert Counter(r.status_code for r in responses) == {201: 1, 200: racers - 1}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert balance(stack, customer) == 10_000 - 2_100
    assert staff_product(stack, product["sku"])["available"] == 47
    assert len(my_orders(stack, customer)) == 1


# -- staff credits ---------------------------------------------------------------------------------

def grant(stack, customer_id: str, amount_cents: int, *, key: str | None, auth: dict | None = None):
    headers = {**(auth or stack.staff.auth), **({"Idempotency-Key": key} if key is not None else {})}
    return call("POST", f"{stack.bo}/v1/customers/{customer_id}/credits", json={"amount_cents": amount_cents},
                headers=headers)


def credit_postings(stack, owner_id: str) -> int:
    import psycopg

    with psycopg.connect(stack.database_url) as conn:
        return conn.execute("SELECT count(*) FROM billing.postings WHERE owner_id = %s AND kind = 'credit'",
                            (owner_id,)).fetchone()[0]


def test_a_retried_credit_with_the_same_key_posts_once(stack):
    customer = sign_up(stack)
    key = f"grant-{uuid.uuid4()}"
    first = grant(stack, customer.id, 2_500, key=key)
    assert first.status_code == 200, first.text
    retry = grant(stack, customer.id, 2_500, key=key)
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json()          # the same posting, reference and balance after it
    assert credit_postings(stack, customer.id) == 1
    assert balance(stack, customer) == 2_500

    # Same key, another amount: refused naming the header, nothing credited.
    assert_problem(grant(stack, customer.id, 9_999, key=key), 409,
                   code="billing.idempotency_key_reused", field="Idempotency-Key")
    # A key is 1..200 printable characters; the header is named when it is not.
    assert_problem(grant(stack, customer.id, 2_500, key="x" * 201), 422, field="Idempotency-Key")
    assert credit_postings(stack, customer.id) == 1 and balance(stack, customer) == 2_500

    # Without a key, two grants are two grants (unchanged).
    assert grant(stack, customer.id, 100, key=None).status_code == 200
    assert grant(stack, customer.id, 100, key=None).status_code == 200
    assert credit_postings(stack, customer.id) == 3 and balance(stack, customer) == 2_700
    assert ledger_check(stack)["balanced"] is True


@pytest.mark.parametrize("racers", [2, 8])
def test_racing_credit_retries_with_the_same_key_post_once(stack, racers):
    customer = sign_up(stack)
    key = f"grant-race-{uuid.uuid4()}"
    responses = at_once([lambda: grant(stack, customer.id, 700, key=key)] * racers)
    assert Counter(r.status_code for r in responses) == {200: racers}, [r.text for r in responses]
    assert len({r.json()["posting_id"] for r in responses}) == 1
    assert credit_postings(stack, customer.id) == 1
    assert balance(stack, customer) == 700
