"""GET /v1/orders (find_orders), GET /v1/orders/<id>, GET /v1/ledger/check."""
import uuid

import acme_orders
import pytest

from .helpers import assert_problem, principal_of

ORDER_KEYS = {"id", "customer_id", "status", "total_cents", "currency", "items", "created_at", "updated_at"}


@pytest.fixture
def orders(database, funded_customer, product):
    """Three orders of one customer, the middle one cancelled (newest last)."""
    who = principal_of(funded_customer)
    placed = []
    for qty in (1, 2, 3):  # one transaction each: orders of one transaction share created_at
        with database.unit_of_work() as uow:
            placed.append(acme_orders.place_order(uow, who, [(product.sku, qty)]).order)
    with database.unit_of_work() as uow:
        acme_orders.cancel_order(uow, who, placed[1].id)
    return placed


def test_search_by_customer_newest_first(client, auth, orders, funded_customer):
    resp = client.get(f"/v1/orders?customer_id={funded_customer.id}", headers=auth)
    assert resp.status_code == 200
    body = resp.json
    assert [o["id"] for o in body["items"]] == [o.id for o in reversed(orders)]
    assert body["next"] is None
    first = body["items"][-1]
    assert set(first) == ORDER_KEYS
    assert first["items"] == [{"sku": orders[0].items[0].sku, "quantity": 1, "unit_price_cents": 250}]
    assert (first["total_cents"], first["currency"], first["status"]) == (250, "USD", "placed")


def test_search_by_status_and_pages(client, auth, orders, funded_customer):
    cancelled = client.get(f"/v1/orders?customer_id={funded_customer.id}&status=cancelled", headers=auth).json
    assert [o["id"] for o in cancelled["items"]] == [orders[1].id]
    page1 = client.get(f"/v1/orders?customer_id={funded_customer.id}&status=placed&limit=1", headers=auth).json
    assert [o["id"] for o in page1["items"]] == [orders[2].id]
    page2 = client.get(f"/v1/orders?customer_id={funded_customer.id}&status=placed&limit=1&after={page1['next']}",
                       headers=auth).json
    assert [o["id"] for o in page2["items"]] == [orders[0].id]


def test_search_without_filters_sees_every_customer(client, auth, orders):
    body = client.get("/v1/orders?limit=100", headers=auth).json
    assert {o.id for o in orders} <= {o["id"] for o in body["items"]} or body["next"] is not None


@pytest.mark.parametrize("query,field", [
    ("status=lost", "status"),
    ("customer_id=bob", "customer_id"),
    ("limit=0", "limit"),
    ("limit=1000", "limit"),
    ("after=garbage!!", "after"),
    ("colour=red", "colour"),
])
def test_bad_search_is_422_naming_the_parameter(client, auth, query, field):
    assert_problem(client.get(f"/v1/orders?{query}", headers=auth), 422, field=field)


def test_get_one_order(client, auth, orders):
    resp = client.get(f"/v1/orders/{orders[1].id}", headers=auth)
    assert resp.status_code == 200
    assert (resp.json["id"], resp.json["status"]) == (orders[1].id, "cancelled")


@pytest.mark.parametrize("order_id", [str(uuid.uuid4()), "not-an-order"])
def test_unknown_order_is_404(client, auth, order_id):
    assert_problem(client.get(f"/v1/orders/{order_id}", headers=auth), 404, code="orders.order_not_found")


def test_ledger_check_is_balanced_after_orders_and_grants(client, auth, orders, funded_customer):
    client.post(f"/v1/customers/{funded_customer.id}/credits", json={"amount_cents": 100}, headers=auth)
    resp = client.get("/v1/ledger/check", headers=auth)
    assert resp.status_code == 200
    body = resp.json
    assert body["balanced"] is True, body["problems"]
    assert body["problems"] == []
    assert body["postings_checked"] >= 5  # seed credit, 3 charges, 1 refund (+ the grant)
