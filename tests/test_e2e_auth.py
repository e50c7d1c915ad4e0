"""Who may do what, across services: customers only see their own orders, customer and staff tokens
only work in their own service, no token is a 401 everywhere, and a revoked token is refused by every
worker of BOTH services within the spec's second."""
from __future__ import annotations

import time
import uuid

import pytest

pytest.register_assert_rewrite("e2e_support")

from e2e_support import (  # noqa: E402
    PASSWORD,
    PROPAGATION_BOUND,
    assert_problem,
    balance,
    call,
    create_product,
    funded_customer,
    in_parallel,
    log_alarms,
    log_in,
    log_offsets,
    miss,
    place_order,
    poll,
    read_from,
    sign_up,
    staff_login,
    staff_product,
)

pytest_plugins = ["e2e_support"]

WORKER_SAMPLES = 6  # requests per service on separate connections: every gunicorn worker gets some


def test_a_customer_gets_404_for_another_customers_order(stack):
    product = create_product(stack, price_cents=100, stock=10)
    alice, bob = funded_customer(stack, 1_000), sign_up(stack)
    placed = place_order(stack, alice, [(product["sku"], 1)])
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    assert_problem(call("GET", f"{stack.sf}/v1/orders/{order_id}", headers=bob.auth), 404,
                   code="orders.order_not_found")
    assert_problem(call("POST", f"{stack.sf}/v1/orders/{order_id}/cancel", headers=bob.auth), 404,
                   code="orders.order_not_found")
    # Same answer for an id that does not exist or cannot be one: ids reveal nothing.
    assert_problem(call("GET", f"{stack.sf}/v1/orders/{uuid.uuid4()}", headers=bob.auth), 404,
                   code="orders.order_not_found")
    assert_problem(call("GET", f"{stack.sf}/v1/orders/not-an-id", headers=bob.auth), 404,
                   code="orders.order_not_found")
    assert call("GET", f"{stack.sf}/v1/orders", headers=bob.auth).json() == {"items": [], "next": None}

    # Bob's cancel attempt changed nothing: no refund, no release, the order is Alice's and not cancelled.
    assert call("GET", f"{stack.sf}/v1/orders/{order_id}", headers=alice.auth).status_code == 200
    assert balance(stack, alice) == 900
    staff_view = call("GET", f"{stack.bo}/v1/orders/{order_id}", headers=stack.staff.auth).json()
    assert staff_view["customer_id"] == alice.id and staff_view["status"] != "cancelled"
    assert staff_product(stack, product["sku"])["available"] == 9


def test_a_customer_token_gets_403_from_every_backoffice_endpoint(stack):
    product = create_product(stack, price_cents=500, stock=7)
    customer = funded_customer(stack, 1_000)
    order = place_order(stack, customer, [(product["sku"], 1)])
    assert order.status_code == 201, order.text
    sku, order_id = product["sku"], order.json()["id"]
    attempts = [
        ("GET", "/v1/products", None),
        ("POST", "/v1/products", {"sku": f"{sku}-X", "name": "x", "price_cents": 1, "currency": "USD"}),
        ("GET", f"/v1/products/{sku}", None),
        ("PATCH", f"/v1/products/{sku}", {"price_cents": 1}),
        ("POST", f"/v1/products/{sku}/stock", {"delta": 100}),
        ("POST", f"/v1/customers/{customer.id}/credits", {"amount_cents": 1_000_000}),
        ("GET", "/v1/orders", None),
        ("GET", f"/v1/orders/{order_id}", None),
        ("GET", "/v1/ledger/check", None),
        ("GET", "/v1/status", None),
        ("GET", "/status", None),
        ("DELETE", "/v1/tokens/current", None),
    ]
    wrong = []
    for method, path, body in attempts:
        r = call(method, f"{stack.bo}{path}", json=body, headers=customer.auth)
        if r.status_code != 403 or r.json().get("code") != "identity.missing_scope" \
                or not r.headers["Content-Type"].startswith("application/problem+json"):
            wrong.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)

    # Nothing happened: no product, no price/stock change, no credit, and the token was not revoked.
    assert call("GET", f"{stack.bo}/v1/products/{sku}-X", headers=stack.staff.auth).status_code == 404
    after = staff_product(stack, sku)
    assert (after["price_cents"], after["available"]) == (500, 6)  # 7 stocked, 1 ordered
    assert balance(stack, customer) == 500


def test_a_staff_token_gets_403_from_the_storefront(stack):
    product = create_product(stack, price_cents=100, stock=5)
    token = staff_login(stack.bo, stack.staff.email)
    auth = {"Authorization": f"Bearer {token}"}
    for method, path, body in [("GET", "/v1/wallet", None), ("GET", "/v1/orders", None),
                               ("POST", "/v1/orders", {"items": [{"sku": product["sku"], "quantity": 1}]}),
                               ("DELETE", "/v1/tokens/current", None)]:
        assert_problem(call(method, f"{stack.sf}{path}", json=body, headers=auth), 403,
                       code="identity.missing_scope")
    assert staff_product(stack, product["sku"])["reserved"] == 0
    # The storefront's DELETE did not log staff out.
    assert call("GET", f"{stack.bo}/v1/ledger/check", headers=auth).status_code == 200


def test_logins_are_per_audience(stack):
    customer = sign_up(stack)
    assert_problem(call("POST", f"{stack.bo}/v1/tokens", json={"email": customer.email, "password": PASSWORD}), 401,
                   code="identity.bad_credentials")
    assert_problem(call("POST", f"{stack.sf}/v1/tokens", json={"email": stack.staff.email, "password": PASSWORD}),
                   401, code="identity.bad_credentials")


PROTECTED = [
    ("storefront", "GET", "/v1/wallet", None),
    ("storefront", "GET", "/v1/orders", None),
    ("storefront", "POST", "/v1/orders", {"items": "not even a list"}),
    ("storefront", "GET", f"/v1/orders/{uuid.UUID(int=1)}", None),
    ("storefront", "POST", f"/v1/orders/{uuid.UUID(int=1)}/cancel", None),
    ("storefront", "DELETE", "/v1/tokens/current", None),
    ("backoffice", "GET", "/v1/products", None),
    ("backoffice", "POST", "/v1/products", {"sku": 5}),
    ("backoffice", "PATCH", "/v1/products/ANY-SKU", {}),
    ("backoffice", "POST", f"/v1/customers/{uuid.UUID(int=1)}/credits", {"amount_cents": "lots"}),
    ("backoffice", "GET", "/v1/orders", None),
    ("backoffice", "GET", "/v1/ledger/check", None),
    ("backoffice", "GET", "/v1/status", None),
    ("backoffice", "GET", "/status", None),
    ("backoffice", "DELETE", "/v1/tokens/current", None),
]
BAD_CREDENTIALS = {
    "missing": {},
    "not-bearer": {"Authorization": "Basic ZTJlOnBhc3N3b3Jk"},
    "empty-bearer": {"Authorization": "Bearer "},
    "malformed": {"Authorization": "Bearer not-a-token"},
    "unknown": {"Authorization": "Bearer acme_" + "A" * 43},
}


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("service,method,path,body", PROTECTED, ids=[f"{s}-{m}-{p}" for s, m, p, _ in PROTECTED])
def test_no_valid_token_is_401_before_anything_else(stack, service, method, path, body, credentials):
    base = stack.sf if service == "storefront" else stack.bo
    # Bodies are invalid on purpose: authentication comes first, so an anonymous caller learns nothing.
    r = call(method, f"{base}{path}", json=body, headers=BAD_CREDENTIALS[credentials])
    assert_problem(r, 401)


def _statuses(stack, auth: dict) -> list[tuple[str, int]]:
    """One storefront and one backoffice request per sample, all at once on separate connections."""
    def probe(target):
        service, url = target
        return service, call("GET", url, headers=auth).status_code

    targets = [("storefront", f"{stack.sf}/v1/wallet"), ("backoffice", f"{stack.bo}/v1/ledger/check")]
    return in_parallel(probe, targets * WORKER_SAMPLES, workers=2 * WORKER_SAMPLES)


def _refused_everywhere(stack, auth: dict):
    statuses = _statuses(stack, auth)
    return True if all(status == 401 for _, status in statuses) else miss(statuses)


def test_a_customer_logout_is_honoured_by_both_services_within_a_second(stack):
    customer = sign_up(stack)
    other_session = log_in(stack, customer.email)
    # Every worker of both services has verified (and cached) the token: valid in the storefront,
    # valid-but-wrong-scope in the backoffice.
    assert sorted(set(_statuses(stack, customer.auth))) == [("backoffice", 403), ("storefront", 200)]

    r = call("DELETE", f"{stack.sf}/v1/tokens/current", headers=customer.auth)
    assert r.status_code == 204, r.text
    revoked_at = time.monotonic()
    poll(lambda: _refused_everywhere(stack, customer.auth),
         within=PROPAGATION_BOUND - (time.monotonic() - revoked_at), what="revoked token refused by every worker")

    assert_problem(call("GET", f"{stack.sf}/v1/wallet", headers=customer.auth), 401, code="identity.token_revoked")
    assert_problem(call("GET", f"{stack.bo}/v1/products", headers=customer.auth), 401, code="identity.token_revoked")
    assert_problem(call("DELETE", f"{stack.sf}/v1/tokens/current", headers=customer.auth), 401)
    # Only that token: the customer's other session still works.
    assert call("GET", f"{stack.sf}/v1/wallet", headers={"Authorization": f"Bearer {other_session}"}).status_code == 200


def test_a_staff_logout_is_honoured_by_both_services_within_a_second(stack):
    token, other = staff_login(stack.bo, stack.staff.email), staff_login(stack.bo, stack.staff.email)
    auth = {"Authorization": f"Bearer {token}"}
    assert sorted(set(_statuses(stack, auth))) == [("backoffice", 200), ("storefront", 403)]

    r = call("DELETE", f"{stack.bo}/v1/tokens/current", headers=auth)
    assert r.status_code == 204, r.text
    revoked_at = time.monotonic()
    poll(lambda: _refused_everywhere(stack, auth),
         within=PROPAGATION_BOUND - (time.monotonic() - revoked_at), what="revoked token refused by every worker")

    assert_problem(call("GET", f"{stack.bo}/v1/ledger/check", headers=auth), 401, code="identity.token_revoked")
    assert call("GET", f"{stack.bo}/v1/ledger/check", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_failed_logins_log_no_traceback(stack):
    """A failed login (wrong password, unknown email) is routine: a 401, not an error. The services'
    logs are JSON and must stay free of raw tracebacks; anyone guessing passwords could flood them."""
    customer = sign_up(stack)
    offsets = log_offsets()
    assert_problem(call("POST", f"{stack.sf}/v1/tokens", json={"email": customer.email, "password": "wrong" * 3}),
                   401, code="identity.bad_credentials")
    assert_problem(call("POST", f"{stack.sf}/v1/tokens", json={"email": "nobody-" + customer.email,
                                                                "password": "wrong" * 3}),
                   401, code="identity.bad_credentials")
    assert_problem(call("POST", f"{stack.bo}/v1/tokens", json={"email": stack.staff.email, "password": "wrong" * 3}),
                   401, code="identity.bad_credentials")
    time.sleep(0.2)  # let the workers flush stderr
    found = {svc.name: log_alarms(read_from(svc.log, offsets.get(svc.log, 0)))
             for svc in (stack.storefront, stack.backoffice)}
    assert found == {"storefront": [], "backoffice": []}, found
