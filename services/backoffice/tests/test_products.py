"""Products and stock through the staff API."""
import time

import acme_catalog
import pytest

from .helpers import assert_problem, new_sku

PRODUCT_KEYS = {"sku", "name", "description", "price_cents", "currency", "active", "on_hand", "reserved",
                "available", "version", "updated_at"}


def product_body(**overrides):
    body = {"sku": new_sku(), "name": "Blue mug", "description": "350 ml", "price_cents": 1299,
            "currency": "USD", "stock": 5}
    body.update(overrides)
    return body


def test_create_returns_the_product(client, auth, database):
    body = product_body()
    resp = client.post("/v1/products", json=body, headers=auth)
    assert resp.status_code == 201, resp.json
    p = resp.json
    assert set(p) == PRODUCT_KEYS
    assert (p["sku"], p["name"], p["description"], p["price_cents"], p["currency"]) == \
        (body["sku"], "Blue mug", "350 ml", 1299, "USD")
    assert (p["active"], p["on_hand"], p["reserved"], p["available"]) == (True, 5, 0, 5)
    assert p["updated_at"].endswith("Z")
    with database.unit_of_work() as uow:
        assert acme_catalog.get_product(uow, body["sku"]).price_cents == 1299


def test_create_with_only_required_fields(client, auth):
    body = product_body()
    del body["description"], body["stock"]
    p = client.post("/v1/products", json=body, headers=auth).json
    assert (p["description"], p["on_hand"]) == ("", 0)


def test_duplicate_sku_is_409(client, auth):
    body = product_body()
    assert client.post("/v1/products", json=body, headers=auth).status_code == 201
    assert_problem(client.post("/v1/products", json=body, headers=auth), 409, code="catalog.duplicate_sku")


def test_a_price_in_a_currency_no_wallet_holds_is_refused(client, auth, database):
    # Wallets are all in billing's WALLET_CURRENCY: a EUR product could be listed but never bought.
    body = product_body(currency="EUR")
    problem = assert_problem(client.post("/v1/products", json=body, headers=auth), 422,
                             code="backoffice.currency_not_payable", field="currency")
    assert problem["accepted"] == ["USD"]
    with database.unit_of_work() as uow, pytest.raises(acme_catalog.ProductNotFound):
        acme_catalog.get_product(uow, body["sku"])


@pytest.mark.parametrize("overrides,field", [
    ({"sku": "no spaces allowed"}, "sku"),
    ({"sku": ""}, "sku"),
    ({"sku": 123}, "sku"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"description": None}, "description"),
    ({"price_cents": -1}, "price_cents"),
    ({"price_cents": "1299"}, "price_cents"),
    ({"price_cents": 12.5}, "price_cents"),
    ({"price_cents": 10**30}, "price_cents"),
    ({"price_cents": True}, "price_cents"),
    ({"currency": "usd"}, "currency"),
    ({"currency": "DOLLARS"}, "currency"),
    ({"stock": -1}, "stock"),
    ({"stock": "5"}, "stock"),
    ({"colour": "blue"}, "colour"),
    ({"name": "nul\u0000byte"}, "name"),
    ({"description": "lone \ud800 surrogate"}, "description"),
])
def test_invalid_product_is_422_naming_the_field(client, auth, overrides, field):
    assert_problem(client.post("/v1/products", json=product_body(**overrides), headers=auth), 422, field=field)


@pytest.mark.parametrize("missing", ["sku", "name", "price_cents", "currency"])
def test_missing_required_field_is_422(client, auth, missing):
    body = product_body()
    del body[missing]
    assert_problem(client.post("/v1/products", json=body, headers=auth), 422, field=missing)


def test_get_includes_inactive_products(client, auth, product):
    assert client.patch(f"/v1/products/{product.sku}", json={"active": False}, headers=auth).status_code == 200
    resp = client.get(f"/v1/products/{product.sku}", headers=auth)
    assert resp.status_code == 200
    assert resp.json["active"] is False and resp.json["name"] == "Widget"


@pytest.mark.parametrize("sku", ["NOPE-404-X", "not a sku", "x" * 300])
def test_get_unknown_is_404(client, auth, sku):
    assert_problem(client.get(f"/v1/products/{sku}", headers=auth), 404, code="catalog.product_not_found")


def test_list_pages_in_sku_order_and_hides_inactive_unless_asked(client, auth, database):
    prefix = new_sku()
    skus = [f"{prefix}-{i}" for i in range(3)]
    with database.unit_of_work() as uow:
        for i, sku in enumerate(skus):
            acme_catalog.create_product(uow, sku=sku, name=f"P{i}", price_cents=100, currency="USD",
                                        active=(i != 1))
    after = prefix  # sorts right before our products
    first = client.get(f"/v1/products?limit=1&after={after}", headers=auth).json
    assert [p["sku"] for p in first["items"]] == [skus[0]]
    second = client.get(f"/v1/products?limit=1&after={first['next']}", headers=auth).json
    assert [p["sku"] for p in second["items"]] == [skus[2]]  # skus[1] is inactive
    staff_view = client.get(f"/v1/products?limit=3&after={after}&include_inactive=true", headers=auth).json
    assert [p["sku"] for p in staff_view["items"]] == skus


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("limit=ten", "limit"),
    ("after=not%20a%20sku", "after"),
    ("include_inactive=perhaps", "include_inactive"),
    ("sort=name", "sort"),
])
def test_bad_list_query_is_422_naming_the_parameter(client, auth, query, field):
    assert_problem(client.get(f"/v1/products?{query}", headers=auth), 422, field=field)


def test_patch_changes_only_the_given_fields(client, auth, product):
    resp = client.patch(f"/v1/products/{product.sku}", json={"price_cents": 199, "name": "Widget Pro"},
                        headers=auth)
    assert resp.status_code == 200
    p = resp.json
    assert (p["name"], p["price_cents"], p["description"], p["active"]) == ("Widget Pro", 199, "A widget", True)
    assert p["version"] > product.version


def test_patch_is_visible_to_a_storefront_cache_within_a_second(app, client, auth, product, database):
    # What the storefront holds: a ProductCache fed by this process's ChangeListener.
    listener = app.extensions["acme"].listener
    assert listener.wait_connected(5)
    cache = acme_catalog.ProductCache(listener)
    with database.unit_of_work() as uow:
        assert cache.get(uow, product.sku).name == "Widget"
    with database.unit_of_work() as uow:
        assert cache.get(uow, product.sku).name == "Widget"  # now served from memory
    assert client.patch(f"/v1/products/{product.sku}", json={"name": "Renamed"}, headers=auth).status_code == 200
    deadline = time.monotonic() + 1.0
    while True:
        with database.unit_of_work() as uow:
            name = cache.get(uow, product.sku).name
        if name == "Renamed" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert name == "Renamed"


@pytest.mark.parametrize("payload,field", [
    ({}, "body"),
    ({"name": None}, "name"),
    ({"active": "no"}, "active"),
    ({"price_cents": -5}, "price_cents"),
    ({"name": "   "}, "name"),
    ({"sku": "OTHER-1"}, "sku"),
    ({"on_hand": 5}, "on_hand"),
])
def test_bad_patch_is_422_naming_the_field(client, auth, product, payload, field):
    assert_problem(client.patch(f"/v1/products/{product.sku}", json=payload, headers=auth), 422, field=field)


def test_patch_with_no_body_at_all_is_422(client, auth, product):
    assert_problem(client.patch(f"/v1/products/{product.sku}", headers=auth), 422, field="body")
    assert_problem(client.patch(f"/v1/products/{product.sku}", data="", headers=auth,
                                content_type="application/x-www-form-urlencoded"), 415, field="body")
    assert_problem(client.patch(f"/v1/products/{product.sku}", data="name=x", headers=auth,
                                content_type="application/x-www-form-urlencoded"), 415, field="body")


def test_patch_unknown_is_404(client, auth):
    assert_problem(client.patch("/v1/products/NOPE-404-X", json={"name": "x"}, headers=auth), 404)


def test_stock_adjustments(client, auth, product):
    resp = client.post(f"/v1/products/{product.sku}/stock", json={"delta": 5}, headers=auth)
    assert resp.status_code == 200
    assert resp.json == {"sku": product.sku, "on_hand": 15, "reserved": 0, "available": 15}
    resp = client.post(f"/v1/products/{product.sku}/stock", json={"delta": -15}, headers=auth)
    assert resp.json["on_hand"] == 0


def test_stock_may_not_go_negative(client, auth, product, database):
    assert_problem(client.post(f"/v1/products/{product.sku}/stock", json={"delta": -11}, headers=auth), 409,
                   code="catalog.stock_would_go_negative")
    with database.unit_of_work() as uow:
        assert acme_catalog.get_product(uow, product.sku).on_hand == 10


def test_stock_below_reserved_is_409(client, auth, product, database):
    with database.unit_of_work() as uow:
        acme_catalog.reserve(uow, product.sku, 4)
    assert_problem(client.post(f"/v1/products/{product.sku}/stock", json={"delta": -7}, headers=auth), 409)
    resp = client.post(f"/v1/products/{product.sku}/stock", json={"delta": -6}, headers=auth)
    assert resp.json == {"sku": product.sku, "on_hand": 4, "reserved": 4, "available": 0}


@pytest.mark.parametrize("payload,field", [
    ({}, "delta"),
    ({"delta": 0}, "delta"),
    ({"delta": "5"}, "delta"),
    ({"delta": 1.5}, "delta"),
    ({"delta": 10**12}, "delta"),
    ({"delta": 1, "reason": "x"}, "reason"),
])
def test_bad_stock_adjustment_is_422(client, auth, product, payload, field):
    assert_problem(client.post(f"/v1/products/{product.sku}/stock", json=payload, headers=auth), 422, field=field)


def test_stock_of_unknown_product_is_404(client, auth):
    assert_problem(client.post("/v1/products/NOPE-404-X/stock", json={"delta": 1}, headers=auth), 404)
