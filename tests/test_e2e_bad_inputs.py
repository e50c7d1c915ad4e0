"""Whatever a client sends, both HTTP services answer a 4xx application/problem+json that names the
culprit (`field`), never a 5xx: malformed JSON, wrong types, huge numbers, unknown fields, form bodies,
bad query parameters, missing auth. Requests go to the real gunicorn processes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    PASSWORD,
    assert_problem,
    call,
    create_product,
    sign_up,
    staff_product,
)

pytest_plugins = ["e2e_support"]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON nested deeper than Python's recursion limit
HUGE = 10 ** 30
TOO_MANY_DIGITS = "9" * 5_000  # past Python's int-from-string digit limit


@dataclass(frozen=True)
class Case:
    id: str
    service: str  # storefront | backoffice
    method: str
    path: str  # {sku}, {customer} are filled in
    auth: str | None  # customer | staff | None
    json: Any = None
    data: str | bytes | None = None
    content_type: str | None = None
    headers: tuple = ()
    status: int = 422
    field: str | None = None
    code: str | None = None


def sf(id, method, path, *, auth="customer", **kw) -> Case:
    return Case(id, "storefront", method, path, auth, **kw)


def bo(id, method, path, *, auth="staff", **kw) -> Case:
    return Case(id, "backoffice", method, path, auth, **kw)


def new_customer(**changes):
    return {"email": f"bad-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "name": "Bad Input", **changes}


def order(**line):
    return {"items": [{"sku": "{sku}", "quantity": 1, **line}]}


def product(**changes):
    return {"sku": f"BAD-{uuid.uuid4().hex[:8]}".upper(), "name": "Bad", "price_cents": 100, "currency": "USD",
            **changes}


CASES = [
    # -- storefront: sign-up and log-in (no auth needed) ------------------------------------------
    sf("signup-malformed-json", "POST", "/v1/customers", auth=None, data='{"email": ', content_type=JSON,
       field="body", code="request.malformed_json"),
    sf("signup-deeply-nested-json", "POST", "/v1/customers", auth=None, data=DEEP, content_type=JSON, field="body"),
    sf("signup-invalid-utf8", "POST", "/v1/customers", auth=None, data=b'{"email": "\xff"}', content_type=JSON,
       field="body"),
    sf("signup-array-body", "POST", "/v1/customers", auth=None, json=[1, 2], field="body"),
    sf("signup-email-number", "POST", "/v1/customers", auth=None, json=new_customer(email=5), field="email"),
    sf("signup-password-number", "POST", "/v1/customers", auth=None, json=new_customer(password=12345678901),
       field="password"),
    sf("signup-name-null", "POST", "/v1/customers", auth=None, json=new_customer(name=None), field="name"),
    sf("signup-missing-name", "POST", "/v1/customers", auth=None,
       json={"email": "missing-name@example.com", "password": PASSWORD}, field="name"),
    sf("signup-unknown-field", "POST", "/v1/customers", auth=None, json=new_customer(is_staff=True), field="is_staff"),
    sf("signup-huge-email", "POST", "/v1/customers", auth=None, json=new_customer(email="a" * 5_000 + "@x.com"),
       field="email"),
    sf("signup-bad-email", "POST", "/v1/customers", auth=None, json=new_customer(email="not-an-email"),
       field="email", code="identity.invalid_email"),
    sf("signup-short-password", "POST", "/v1/customers", auth=None, json=new_customer(password="short"),
       field="password", code="identity.weak_password"),
    sf("signup-control-char-name", "POST", "/v1/customers", auth=None, json=new_customer(name="a\u0000b"),
       field="name"),
    sf("signup-form-body", "POST", "/v1/customers", auth=None, data="email=a%40b.com&password=x", content_type=FORM,
       status=415, field="body"),
    sf("signup-text-body", "POST", "/v1/customers", auth=None, data="hello", content_type="text/plain", status=415,
       field="body"),
    sf("login-email-list", "POST", "/v1/tokens", auth=None, json={"email": ["a@b.com"], "password": PASSWORD},
       field="email"),
    sf("login-missing-password", "POST", "/v1/tokens", auth=None, json={"email": "a@b.com"}, field="password"),
    sf("login-nul-in-email", "POST", "/v1/tokens", auth=None, json={"email": "a\u0000@b.com", "password": PASSWORD},
       field="email"),
    sf("login-deeply-nested-json", "POST", "/v1/tokens", auth=None, data=DEEP, content_type=JSON, field="body"),
    # -- storefront: products (public) --------------------------------------------------------------
    sf("products-limit-zero", "GET", "/v1/products?limit=0", auth=None, field="limit"),
    sf("products-limit-too-big", "GET", "/v1/products?limit=101", auth=None, field="limit"),
    sf("products-limit-huge", "GET", f"/v1/products?limit={HUGE}", auth=None, field="limit"),
    sf("products-limit-text", "GET", "/v1/products?limit=ten", auth=None, field="limit"),
    sf("products-limit-float", "GET", "/v1/products?limit=1.5", auth=None, field="limit"),
    sf("products-limit-empty", "GET", "/v1/products?limit=", auth=None, field="limit"),
    sf("products-after-nul", "GET", "/v1/products?after=%00", auth=None, field="after"),
    sf("products-after-too-long", "GET", "/v1/products?after=" + "A" * 65, auth=None, field="after"),
    sf("products-unknown-param", "GET", "/v1/products?sort=price", auth=None, field="sort"),
    sf("product-nul-sku", "GET", "/v1/products/%00", auth=None, status=404, code="catalog.product_not_found"),
    # -- storefront: orders (customer token) --------------------------------------------------------
    sf("order-malformed-json", "POST", "/v1/orders", data='{"items": [', content_type=JSON, field="body",
       code="request.malformed_json"),
    sf("order-deeply-nested-json", "POST", "/v1/orders", data=DEEP, content_type=JSON, field="body"),
    sf("order-null-body", "POST", "/v1/orders", data="null", content_type=JSON, field="body"),
    sf("order-empty-json-body", "POST", "/v1/orders", data="", content_type=JSON, field="items"),
    sf("order-items-missing", "POST", "/v1/orders", json={}, field="items"),
    sf("order-items-empty", "POST", "/v1/orders", json={"items": []}, field="items"),
    sf("order-items-string", "POST", "/v1/orders", json={"items": "MUG-1"}, field="items"),
    sf("order-too-many-lines", "POST", "/v1/orders",
       json={"items": [{"sku": f"SKU-{i}", "quantity": 1} for i in range(51)]}, field="items"),
    sf("order-duplicate-sku", "POST", "/v1/orders",
       json={"items": [{"sku": "{sku}", "quantity": 1}, {"sku": "{sku_lower}", "quantity": 1}]}, field="items",
       code="orders.invalid_order"),
    sf("order-quantity-string", "POST", "/v1/orders", json=order(quantity="2"), field="items.0.quantity"),
    sf("order-quantity-float", "POST", "/v1/orders", json=order(quantity=2.0), field="items.0.quantity"),
    sf("order-quantity-bool", "POST", "/v1/orders", json=order(quantity=True), field="items.0.quantity"),
    sf("order-quantity-zero", "POST", "/v1/orders", json=order(quantity=0), field="items.0.quantity"),
    sf("order-quantity-negative", "POST", "/v1/orders", json=order(quantity=-1), field="items.0.quantity"),
    sf("order-quantity-101", "POST", "/v1/orders", json=order(quantity=101), field="items.0.quantity"),
    sf("order-quantity-huge", "POST", "/v1/orders", json=order(quantity=HUGE), field="items.0.quantity"),
    sf("order-quantity-too-many-digits", "POST", "/v1/orders",
       data='{"items": [{"sku": "{sku}", "quantity": %s}]}' % TOO_MANY_DIGITS, content_type=JSON, field="body"),
    sf("order-quantity-nan", "POST", "/v1/orders", data='{"items": [{"sku": "{sku}", "quantity": NaN}]}',
       content_type=JSON, field="items.0.quantity"),
    sf("order-quantity-missing", "POST", "/v1/orders", json={"items": [{"sku": "{sku}"}]}, field="items.0.quantity"),
    sf("order-sku-number", "POST", "/v1/orders", json=order(sku=42), field="items.0.sku"),
    sf("order-sku-empty", "POST", "/v1/orders", json=order(sku=""), field="items.0.sku"),
    sf("order-sku-nul", "POST", "/v1/orders", json=order(sku="MUG\u0000"), field="items.0.sku"),
    sf("order-sku-too-long", "POST", "/v1/orders", json=order(sku="A" * 65), field="items.0.sku"),
    sf("order-unknown-line-field", "POST", "/v1/orders", json=order(colour="red"), field="items.0.colour"),
    sf("order-unknown-field", "POST", "/v1/orders", json={**order(), "coupon": "FREE"}, field="coupon"),
    sf("order-idempotency-key-too-long", "POST", "/v1/orders", json=order(), headers=(("Idempotency-Key", "k" * 201),),
       field="Idempotency-Key"),
    sf("order-idempotency-key-empty", "POST", "/v1/orders", json=order(), headers=(("Idempotency-Key", ""),),
       field="Idempotency-Key"),
    sf("order-form-body", "POST", "/v1/orders", data="items=1", content_type=FORM, status=415, field="body"),
    sf("order-body-over-1mib", "POST", "/v1/orders", data="[" + " " * (1024 * 1024 + 10) + "]", content_type=JSON,
       status=413),
    sf("orders-limit-zero", "GET", "/v1/orders?limit=0", field="limit"),
    sf("orders-limit-text", "GET", "/v1/orders?limit=all", field="limit"),
    sf("orders-after-garbage", "GET", "/v1/orders?after=not-a-cursor", field="after"),
    sf("orders-unknown-param", "GET", "/v1/orders?status=placed", field="status"),
    sf("order-id-nul", "GET", "/v1/orders/%00", status=404, code="orders.order_not_found"),
    sf("order-missing-auth", "POST", "/v1/orders", auth=None, json={"items": "bad"}, status=401),
    sf("wallet-missing-auth", "GET", "/v1/wallet", auth=None, status=401),
    # -- backoffice (staff token) -------------------------------------------------------------------
    bo("staff-login-malformed-json", "POST", "/v1/tokens", auth=None, data="{", content_type=JSON, field="body"),
    bo("staff-login-email-number", "POST", "/v1/tokens", auth=None, json={"email": 5, "password": PASSWORD},
       field="email"),
    bo("staff-login-nul-in-email", "POST", "/v1/tokens", auth=None,
       json={"email": "a\u0000@b.com", "password": PASSWORD}, field="email"),
    bo("staff-login-form-body", "POST", "/v1/tokens", auth=None, data="email=a", content_type=FORM, status=415,
       field="body"),
    bo("product-malformed-json", "POST", "/v1/products", data='{"sku": "A', content_type=JSON, field="body"),
    bo("product-deeply-nested-json", "POST", "/v1/products", data=DEEP, content_type=JSON, field="body"),
    bo("product-invalid-utf8", "POST", "/v1/products", data=b'{"sku": "\xff"}', content_type=JSON, field="body"),
    bo("product-array-body", "POST", "/v1/products", json=[product()], field="body"),
    bo("product-price-string", "POST", "/v1/products", json=product(price_cents="100"), field="price_cents"),
    bo("product-price-float", "POST", "/v1/products", json=product(price_cents=1.5), field="price_cents"),
    bo("product-price-bool", "POST", "/v1/products", json=product(price_cents=True), field="price_cents"),
    bo("product-price-negative", "POST", "/v1/products", json=product(price_cents=-1), field="price_cents"),
    bo("product-price-huge", "POST", "/v1/products", json=product(price_cents=HUGE), field="price_cents"),
    bo("product-price-too-many-digits", "POST", "/v1/products",
       data='{"sku": "BAD-DIGITS", "name": "x", "currency": "USD", "price_cents": %s}' % TOO_MANY_DIGITS,
       content_type=JSON, field="body"),
    bo("product-stock-huge", "POST", "/v1/products", json=product(stock=HUGE), field="stock"),
    bo("product-stock-negative", "POST", "/v1/products", json=product(stock=-5), field="stock"),
    bo("product-sku-format", "POST", "/v1/products", json=product(sku="no spaces!"), field="sku"),
    bo("product-sku-nul", "POST", "/v1/products", json=product(sku="BAD\u0000SKU"), field="sku"),
    bo("product-name-too-long", "POST", "/v1/products", json=product(name="n" * 5_000), field="name"),
    bo("product-currency-lowercase", "POST", "/v1/products", json=product(currency="usd"), field="currency"),
    bo("product-missing-name", "POST", "/v1/products",
       json={"sku": "BAD-NONAME", "price_cents": 1, "currency": "USD"}, field="name"),
    bo("product-unknown-field", "POST", "/v1/products", json=product(colour="red"), field="colour"),
    bo("product-form-body", "POST", "/v1/products", data="sku=A&name=b", content_type=FORM, status=415, field="body"),
    bo("product-no-body", "POST", "/v1/products", field="sku"),
    bo("patch-empty", "PATCH", "/v1/products/{sku}", json={}, field="body"),
    bo("patch-price-null", "PATCH", "/v1/products/{sku}", json={"price_cents": None}, field="price_cents"),
    bo("patch-price-huge", "PATCH", "/v1/products/{sku}", json={"price_cents": HUGE}, field="price_cents"),
    bo("patch-active-string", "PATCH", "/v1/products/{sku}", json={"active": "yes"}, field="active"),
    bo("patch-unknown-field", "PATCH", "/v1/products/{sku}", json={"stock": 5}, field="stock"),
    bo("patch-form-body", "PATCH", "/v1/products/{sku}", data="price_cents=5", content_type=FORM, status=415,
       field="body"),
    bo("stock-delta-zero", "POST", "/v1/products/{sku}/stock", json={"delta": 0}, field="delta"),
    bo("stock-delta-string", "POST", "/v1/products/{sku}/stock", json={"delta": "5"}, field="delta"),
    bo("stock-delta-huge", "POST", "/v1/products/{sku}/stock", json={"delta": HUGE}, field="delta"),
    bo("stock-delta-missing", "POST", "/v1/products/{sku}/stock", json={}, field="delta"),
    bo("stock-write-off-beyond-on-hand", "POST", "/v1/products/{sku}/stock", json={"delta": -1_000}, status=409,
       code="catalog.stock_would_go_negative"),
    bo("credit-zero", "POST", "/v1/customers/{customer}/credits", json={"amount_cents": 0}, field="amount_cents"),
    bo("credit-negative", "POST", "/v1/customers/{customer}/credits", json={"amount_cents": -500},
       field="amount_cents"),
    bo("credit-huge", "POST", "/v1/customers/{customer}/credits", json={"amount_cents": HUGE}, field="amount_cents"),
    bo("credit-string", "POST", "/v1/customers/{customer}/credits", json={"amount_cents": "500"},
       field="amount_cents"),
    bo("credit-float", "POST", "/v1/customers/{customer}/credits", json={"amount_cents": 5.5}, field="amount_cents"),
    bo("credit-unknown-field", "POST", "/v1/customers/{customer}/credits", json={"amount_cents": 5, "currency": "EUR"},
       field="currency"),
    bo("credit-form-body", "POST", "/v1/customers/{customer}/credits", data="amount_cents=5", content_type=FORM,
       status=415, field="body"),
    bo("credit-malformed-customer-id", "POST", "/v1/customers/not-a-uuid/credits", json={"amount_cents": 5},
       status=404, code="identity.account_not_found"),
    bo("products-limit-zero", "GET", "/v1/products?limit=0", field="limit"),
    bo("products-limit-huge", "GET", f"/v1/products?limit={HUGE}", field="limit"),
    bo("products-include-inactive-maybe", "GET", "/v1/products?include_inactive=maybe", field="include_inactive"),
    bo("products-after-nul", "GET", "/v1/products?after=%00", field="after"),
    bo("products-unknown-param", "GET", "/v1/products?page=2", field="page"),
    bo("orders-status-unknown", "GET", "/v1/orders?status=shipped", field="status"),
    bo("orders-customer-not-uuid", "GET", "/v1/orders?customer_id=bob", field="customer_id"),
    bo("orders-limit-too-big", "GET", "/v1/orders?limit=1000", field="limit"),
    bo("orders-after-garbage", "GET", "/v1/orders?after=%FF%FE", field="after"),
    bo("order-id-malformed", "GET", "/v1/orders/not-a-uuid", status=404, code="orders.order_not_found"),
    bo("product-missing-auth", "POST", "/v1/products", auth=None, json={"sku": 5}, status=401),
    bo("ledger-missing-auth", "GET", "/v1/ledger/check", auth=None, status=401),
]


@pytest.fixture(scope="module")
def target(stack):
    """A customer (no money) and a stocked product for the requests to point at."""
    customer = sign_up(stack)
    sku = create_product(stack, price_cents=100, stock=5)["sku"]
    return {"customer": customer, "sku": sku}


def fill(value, target):
    if isinstance(value, str):
        return (value.replace("{sku_lower}", target["sku"].lower()).replace("{sku}", target["sku"])
                .replace("{customer}", target["customer"].id))
    if isinstance(value, dict):
        return {k: fill(v, target) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, target) for v in value]
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_4xx_problem_naming_the_field(stack, target, case: Case):
    base = stack.sf if case.service == "storefront" else stack.bo
    headers = dict(case.headers)
    if case.auth == "customer":
        headers.update(target["customer"].auth)
    elif case.auth == "staff":
        headers.update(stack.staff.auth)
    kwargs: dict[str, Any] = {}
    if case.json is not None:
        kwargs["json"] = fill(case.json, target)
    elif case.data is not None:
        kwargs["data"] = fill(case.data, target) if isinstance(case.data, str) else case.data
    if case.content_type:
        headers["Content-Type"] = case.content_type
    r = call(case.method, base + fill(case.path, target), headers=headers, **kwargs)

    assert r.status_code < 500, f"{case.id}: {r.status_code} {r.text[:300]}"
    body = assert_problem(r, case.status, code=case.code, field=case.field)
    if case.status == 422 and body.get("code") == "request.invalid":
        assert body["errors"] and body["errors"][0]["field"] == case.field, body


def test_refused_writes_left_no_trace(stack, target):
    """After all the refused writes above: the product is as created (no price, stock or activity
    change), and the customer was neither charged nor credited."""
    product = staff_product(stack, target["sku"])
    assert (product["price_cents"], product["on_hand"], product["reserved"], product["active"]) == (100, 5, 0, True)
    wallet = call("GET", f"{stack.sf}/v1/wallet", headers=target["customer"].auth)
    assert wallet.json() == {"balance_cents": 0, "currency": "USD"}
    assert call("GET", f"{stack.sf}/v1/orders", headers=target["customer"].auth).json()["items"] == []


def test_a_product_priced_in_a_currency_no_wallet_holds_is_refused_at_creation(stack):
    """Wallets are opened in billing's one currency (USD): a EUR price could be listed but every order of it
    would fail with billing.currency_mismatch. The backoffice refuses it up front, naming `currency`."""
    sku = f"EUR-{uuid.uuid4().hex[:8].upper()}"
    refused = call("POST", f"{stack.bo}/v1/products", headers=stack.staff.auth,
                   json={"sku": sku, "name": "Euro mug", "price_cents": 1_000, "currency": "EUR", "stock": 5})
    assert_problem(refused, 422, code="backoffice.currency_not_payable", field="currency")
    assert call("GET", f"{stack.bo}/v1/products/{sku}", headers=stack.staff.auth).status_code == 404
    # What a wallet holds is what a product may be priced in: that product can be bought.
    usd = create_product(stack, price_cents=1_000, stock=5)
    customer = sign_up(stack)
    assert call("POST", f"{stack.bo}/v1/customers/{customer.id}/credits", json={"amount_cents": 1_000},
                headers=stack.staff.auth).status_code == 200
    placed = call("POST", f"{stack.sf}/v1/orders", headers=customer.auth,
                  json={"items": [{"sku": usd["sku"], "quantity": 1}]})
    assert placed.status_code == 201, placed.text
