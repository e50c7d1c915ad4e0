"""Placing, replaying, reading and cancelling orders, and everything a client can send wrong."""
from __future__ import annotations

import uuid
from datetime import datetime

import acme_orders
import pytest

ORDER_FIELDS = {"id", "status", "total_cents", "currency", "items", "created_at"}


def wallet(client, customer) -> int:
    return client.get("/v1/wallet", headers=customer.auth).get_json()["balance_cents"]


def available(client, sku) -> int:
    return client.get(f"/v1/products/{sku}").get_json()["available"]


def order(client, customer, items, key=None, **kwargs):
    headers = dict(customer.auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/orders", json={"items": items}, headers=headers, **kwargs)


@pytest.fixture
def shopper(make_customer):
    return make_customer(balance_cents=100_000)


# -- POST /v1/orders -------------------------------------------------------------------------------

def test_placing_an_order_reserves_stock_charges_the_wallet_and_returns_it(client, shopper, make_product):
    mug, tea = make_product(price_cents=1_250, stock=5), make_product(price_cents=300, stock=50)
    resp = order(client, shopper, [{"sku": mug.sku, "quantity": 2}, {"sku": tea.sku.lower(), "quantity": 3}])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == ORDER_FIELDS
    assert body["status"] == "placed" and body["currency"] == "USD"
    assert body["total_cents"] == 2 * 1_250 + 3 * 300
    assert sorted(body["items"], key=lambda i: i["sku"]) == sorted([
        {"sku": mug.sku, "quantity": 2, "unit_price_cents": 1_250},
        {"sku": tea.sku, "quantity": 3, "unit_price_cents": 300},
    ], key=lambda i: i["sku"])
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z") and datetime.fromisoformat(body["created_at"])
    assert wallet(client, shopper) == 100_000 - 3_400
    assert (available(client, mug.sku), available(client, tea.sku)) == (3, 47)


def test_insufficient_stock_is_409_naming_the_sku_and_changes_nothing(client, shopper, make_product, problem):
    plenty, scarce = make_product(stock=10), make_product(stock=1)
    resp = order(client, shopper, [{"sku": plenty.sku, "quantity": 1}, {"sku": scarce.sku, "quantity": 2}])
    problem(resp, 409, sku=scarce.sku, code="catalog.insufficient_stock")
    assert wallet(client, shopper) == 100_000
    assert (available(client, plenty.sku), available(client, scarce.sku)) == (10, 1)


def test_insufficient_funds_is_402_and_reserves_nothing(client, make_customer, make_product, problem):
    poor = make_customer(balance_cents=999)
    product = make_product(price_cents=1_000, stock=3)
    problem(order(client, poor, [{"sku": product.sku, "quantity": 1}]), 402, code="billing.insufficient_funds")
    assert wallet(client, poor) == 999
    assert available(client, product.sku) == 3


def test_unknown_and_withdrawn_skus_are_422_naming_the_sku(client, shopper, make_product, problem):
    withdrawn = make_product(active=False)
    problem(order(client, shopper, [{"sku": "NOSUCH-SKU-1", "quantity": 1}]), 422, sku="NOSUCH-SKU-1")
    problem(order(client, shopper, [{"sku": withdrawn.sku, "quantity": 1}]), 422, sku=withdrawn.sku)
    assert wallet(client, shopper) == 100_000


def test_idempotent_replay_returns_the_same_order_and_charges_once(client, shopper, make_product):
    product = make_product(price_cents=700, stock=10)
    key = str(uuid.uuid4())
    first = order(client, shopper, [{"sku": product.sku, "quantity": 2}], key=key)
    assert first.status_code == 201
    again = order(client, shopper, [{"sku": product.sku, "quantity": 2}], key=key)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert wallet(client, shopper) == 100_000 - 1_400
    assert available(client, product.sku) == 8
    listed = client.get("/v1/orders", headers=shopper.auth).get_json()["items"]
    assert [o["id"] for o in listed] == [first.get_json()["id"]]


def test_reusing_a_key_for_a_different_body_is_refused_naming_the_header(client, shopper, make_product, problem):
    product = make_product(stock=10)
    key = str(uuid.uuid4())
    assert order(client, shopper, [{"sku": product.sku, "quantity": 1}], key=key).status_code == 201
    resp = order(client, shopper, [{"sku": product.sku, "quantity": 2}], key=key)
    assert resp.status_code in (409, 422)
    problem(resp, resp.status_code, field="Idempotency-Key")
    assert available(client, product.sku) == 9


def test_the_same_key_from_two_customers_places_two_orders(client, make_customer, make_product):
    product = make_product(stock=10)
    a, b = make_customer(balance_cents=10_000), make_customer(balance_cents=10_000)
    ids = {order(client, c, [{"sku": product.sku, "quantity": 1}], key="shared-key").get_json()["id"] for c in (a, b)}
    assert len(ids) == 2


def test_without_a_key_every_post_places_a_new_order(client, shopper, make_product):
    product = make_product(stock=10)
    first = order(client, shopper, [{"sku": product.sku, "quantity": 1}])
    second = order(client, shopper, [{"sku": product.sku, "quantity": 1}])
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_a_malformed_idempotency_key_is_422_naming_it(client, shopper, make_product, problem, key):
    product = make_product()
    problem(order(client, shopper, [{"sku": product.sku, "quantity": 1}], key=key), 422, field="Idempotency-Key")


def line(**overrides):
    return {"sku": "ANY-SKU", "quantity": 1} | overrides


@pytest.mark.parametrize("body,field", [
    ({}, "items"),
    ({"items": []}, "items"),
    ({"items": None}, "items"),
    ({"items": "MUG"}, "items"),
    ({"items": {"sku": "MUG", "quantity": 1}}, "items"),
    ({"items": [line()] * 51}, "items"),
    ({"items": [line(quantity=0)]}, "items.0.quantity"),
    ({"items": [line(quantity=-1)]}, "items.0.quantity"),
    ({"items": [line(quantity=101)]}, "items.0.quantity"),
    ({"items": [line(quantity=10**30)]}, "items.0.quantity"),
    ({"items": [line(quantity=2**63)]}, "items.0.quantity"),
    ({"items": [line(quantity="5")]}, "items.0.quantity"),
    ({"items": [line(quantity=1.5)]}, "items.0.quantity"),
    ({"items": [line(quantity=True)]}, "items.0.quantity"),
    ({"items": [line(quantity=None)]}, "items.0.quantity"),
    ({"items": [line(), line(quantity=[1])]}, "items.1.quantity"),
    ({"items": [{"sku": "MUG"}]}, "items.0.quantity"),
    ({"items": [{"quantity": 1}]}, "items.0.sku"),
    ({"items": [line(sku=42)]}, "items.0.sku"),
    ({"items": [line(sku="")]}, "items.0.sku"),
    ({"items": [line(sku="X" * 1000)]}, "items.0.sku"),
    ({"items": [line(sku="   ")]}, "items.0.sku"),
    ({"items": [line(price_cents=1)]}, "items.0.price_cents"),
    ({"items": [line()], "coupon": "FREE"}, "coupon"),
    ({"items": [line()], "customer_id": str(uuid.uuid4())}, "customer_id"),
])
def test_invalid_order_bodies_are_422_naming_the_field(client, shopper, problem, body, field):
    problem(client.post("/v1/orders", json=body, headers=shopper.auth), 422, field=field)
    assert wallet(client, shopper) == 100_000


def test_the_same_sku_twice_is_422(client, shopper, make_product, problem):
    product = make_product()
    resp = order(client, shopper, [{"sku": product.sku, "quantity": 1}, {"sku": product.sku, "quantity": 1}])
    problem(resp, 422, field="items")


@pytest.mark.parametrize("data,content_type,status", [
    ("{not json", "application/json", 422),
    ('{"items": [{"sku": "A", "quantity": 1e400}]}', "application/json", 422),
    ('{"items": [{"sku": "A", "quantity": ' + "9" * 5000 + "}]}", "application/json", 422),
    ("", "application/json", 422),
    ("[1, 2]", "application/json", 422),
    ("null", "application/json", 422),
    ("\xff\xfe", "application/json", 422),
    ("items=1", "application/x-www-form-urlencoded", 415),
    ('{"items": []}', "text/plain", 415),
])
def test_malformed_bodies_are_4xx_problems_never_5xx(client, shopper, problem, data, content_type, status):
    resp = client.post("/v1/orders", data=data, content_type=content_type, headers=shopper.auth)
    problem(resp, status)


def test_a_body_over_one_megabyte_is_413(client, shopper, problem):
    big = '{"items": [], "pad": "' + "x" * (1024 * 1024 + 10) + '"}'
    problem(client.post("/v1/orders", data=big, content_type="application/json", headers=shopper.auth), 413)


# -- GET /v1/orders, GET /v1/orders/<id> -----------------------------------------------------------

def test_list_shows_only_the_callers_orders_newest_first_across_pages(client, make_customer, make_product):
    product = make_product(stock=100)
    me, someone = make_customer(balance_cents=100_000), make_customer(balance_cents=100_000)
    order(client, someone, [{"sku": product.sku, "quantity": 1}])
    placed = [order(client, me, [{"sku": product.sku, "quantity": q}]).get_json()["id"] for q in (1, 2, 3, 4, 5)]
    seen, after = [], None
    while True:
        query = {"limit": 2} | ({"after": after} if after else {})
        resp = client.get("/v1/orders", query_string=query, headers=me.auth)
        assert resp.status_code == 200
        body = resp.get_json()
        assert len(body["items"]) <= 2
        assert all(set(o) == ORDER_FIELDS for o in body["items"])
        seen += [o["id"] for o in body["items"]]
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == list(reversed(placed))


@pytest.mark.parametrize("query,field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "many"}, "limit"),
    ({"after": "garbage"}, "after"), ({"after": "x" * 300}, "after"), ({"status": "placed"}, "status"),
])
def test_list_rejects_bad_query_parameters(client, shopper, problem, query, field):
    problem(client.get("/v1/orders", query_string=query, headers=shopper.auth), 422, field=field)


def test_get_one_order(client, shopper, make_product):
    product = make_product(price_cents=250)
    placed = order(client, shopper, [{"sku": product.sku, "quantity": 4}]).get_json()
    resp = client.get(f"/v1/orders/{placed['id']}", headers=shopper.auth)
    assert resp.status_code == 200
    assert resp.get_json() == placed


def test_another_customers_order_is_404_to_read_and_to_cancel(client, make_customer, make_product, problem):
    product = make_product(stock=5)
    alice, bob = make_customer(balance_cents=10_000), make_customer(balance_cents=10_000)
    placed = order(client, alice, [{"sku": product.sku, "quantity": 1}]).get_json()
    problem(client.get(f"/v1/orders/{placed['id']}", headers=bob.auth), 404)
    problem(client.post(f"/v1/orders/{placed['id']}/cancel", headers=bob.auth), 404)
    assert client.get(f"/v1/orders/{placed['id']}", headers=alice.auth).get_json()["status"] == "placed"
    assert wallet(client, alice) == 10_000 - 1_000


@pytest.mark.parametrize("order_id", [str(uuid.uuid4()), "not-a-uuid", "1", "' OR 1=1 --", "x" * 500])
def test_unknown_or_malformed_order_ids_are_404(client, shopper, problem, order_id):
    problem(client.get(f"/v1/orders/{order_id}", headers=shopper.auth), 404)
    problem(client.post(f"/v1/orders/{order_id}/cancel", headers=shopper.auth), 404)


# -- POST /v1/orders/<id>/cancel -------------------------------------------------------------------

def test_cancelling_releases_stock_and_refunds_then_a_second_cancel_is_409(client, shopper, make_product,
                                                                            problem):
    product = make_product(price_cents=1_500, stock=4)
    placed = order(client, shopper, [{"sku": product.sku, "quantity": 3}]).get_json()
    assert wallet(client, shopper) == 100_000 - 4_500

    resp = client.post(f"/v1/orders/{placed['id']}/cancel", headers=shopper.auth)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "cancelled"
    assert body["id"] == placed["id"] and body["total_cents"] == 4_500 and body["items"] == placed["items"]
    assert wallet(client, shopper) == 100_000
    assert available(client, product.sku) == 4

    problem(client.post(f"/v1/orders/{placed['id']}/cancel", headers=shopper.auth), 409,
            code="orders.invalid_transition")
    assert wallet(client, shopper) == 100_000


def test_a_fulfilled_order_cannot_be_cancelled(client, shopper, make_product, uow, problem):
    product = make_product(price_cents=500, stock=4)
    placed = order(client, shopper, [{"sku": product.sku, "quantity": 1}]).get_json()
    with uow() as u:
        acme_orders.mark_fulfilled(u, placed["id"])
    problem(client.post(f"/v1/orders/{placed['id']}/cancel", headers=shopper.auth), 409)
    assert wallet(client, shopper) == 100_000 - 500
    assert client.get(f"/v1/orders/{placed['id']}", headers=shopper.auth).get_json()["status"] == "fulfilled"


def test_cancel_is_post_only(client, shopper, make_product, problem):
    product = make_product()
    placed = order(client, shopper, [{"sku": product.sku, "quantity": 1}]).get_json()
    problem(client.get(f"/v1/orders/{placed['id']}/cancel", headers=shopper.auth), 405)
