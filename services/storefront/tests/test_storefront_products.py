"""The public catalogue: listing, paging, one product, and the event-invalidated product cache."""
from __future__ import annotations

import acme_catalog
import pytest

from storefront.api.products import product_cache

PRODUCT_FIELDS = {"sku", "name", "description", "price_cents", "currency", "available"}


def all_pages(client, limit: int) -> list[dict]:
    items, after, pages = [], None, 0
    while True:
        query = {"limit": limit} | ({"after": after} if after else {})
        resp = client.get("/v1/products", query_string=query)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert set(body) == {"items", "next"}
        assert all(set(item) == PRODUCT_FIELDS for item in body["items"])
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        assert pages < 10_000
        if body["next"] is None:
            return items
        after = body["next"]


def test_list_pages_through_every_product_for_sale_once_in_sku_order(client, make_product):
    mine = [make_product(price_cents=100 * i, stock=i) for i in range(1, 4)]
    hidden = make_product(active=False)
    items = all_pages(client, limit=2)
    skus = [i["sku"] for i in items]
    assert skus == sorted(skus) and len(skus) == len(set(skus))
    assert hidden.sku not in skus
    by_sku = {i["sku"]: i for i in items}
    for i, product in enumerate(mine, start=1):
        assert by_sku[product.sku] == {"sku": product.sku, "name": "Test product", "description": "made by a test",
                                       "price_cents": 100 * i, "currency": "USD", "available": i}


def test_list_defaults_to_twenty_and_ends_with_next_null(client, make_product):
    for _ in range(21):
        make_product()
    first = client.get("/v1/products").get_json()
    assert len(first["items"]) == 20 and first["next"] is not None
    following = client.get("/v1/products", query_string={"after": first["next"]}).get_json()["items"]
    assert following and following[0]["sku"] > first["items"][-1]["sku"]
    last_sku = all_pages(client, limit=100)[-1]["sku"]
    resp = client.get("/v1/products", query_string={"after": last_sku}).get_json()
    assert resp == {"items": [], "next": None}


@pytest.mark.parametrize("query,field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "abc"}, "limit"), ({"limit": "-1"}, "limit"),
    ({"limit": "1e9"}, "limit"), ({"limit": "9" * 50}, "limit"), ({"after": "not a sku!"}, "after"),
    ({"after": "X" * 500}, "after"), ({"colour": "red"}, "colour"),
])
def test_list_rejects_bad_query_parameters_naming_them(client, problem, query, field):
    problem(client.get("/v1/products", query_string=query), 422, field=field)


def test_get_one_product(client, make_product):
    product = make_product(price_cents=4_250, stock=7)
    resp = client.get(f"/v1/products/{product.sku}")
    assert resp.status_code == 200
    assert resp.get_json() == {"sku": product.sku, "name": "Test product", "description": "made by a test",
                               "price_cents": 4_250, "currency": "USD", "available": 7}


@pytest.mark.parametrize("sku", ["NOPE-0000000", "a", "has space", "%00", "x" * 300, "ÜNICODE"])
def test_unknown_or_malformed_sku_is_404(client, problem, sku):
    problem(client.get(f"/v1/products/{sku}"), 404, code="catalog.product_not_found")


def test_inactive_product_is_404(client, make_product, problem):
    product = make_product(active=False)
    problem(client.get(f"/v1/products/{product.sku}"), 404, sku=product.sku)


def test_a_price_change_elsewhere_shows_within_a_second_through_the_cache(app, client, make_product, uow, poll):
    product = make_product(price_cents=1_000)
    assert client.get(f"/v1/products/{product.sku}").get_json()["price_cents"] == 1_000
    with app.app_context():
        cache = product_cache()
    assert isinstance(cache, acme_catalog.ProductCache) and len(cache) >= 1   # served from memory now
    assert client.get(f"/v1/products/{product.sku}").get_json()["price_cents"] == 1_000

    with uow() as u:   # another unit of work, as the backoffice would do it
        acme_catalog.update_product(u, product.sku, price_cents=1_999)
    poll(lambda: client.get(f"/v1/products/{product.sku}").get_json()["price_cents"] == 1_999, within=1.0)


def test_withdrawing_a_product_elsewhere_makes_it_404_within_a_second(client, make_product, uow, poll):
    product = make_product()
    assert client.get(f"/v1/products/{product.sku}").status_code == 200
    with uow() as u:
        acme_catalog.update_product(u, product.sku, active=False)
    poll(lambda: client.get(f"/v1/products/{product.sku}").status_code == 404, within=1.0)


def test_stock_changes_show_in_available(client, make_product, uow, poll):
    product = make_product(stock=5)
    assert client.get(f"/v1/products/{product.sku}").get_json()["available"] == 5
    with uow() as u:
        acme_catalog.adjust_stock(u, product.sku, 10)
    poll(lambda: client.get(f"/v1/products/{product.sku}").get_json()["available"] == 15, within=1.0)
