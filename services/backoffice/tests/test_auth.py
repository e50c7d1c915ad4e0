"""Every staff endpoint: no token -> 401, a customer's token -> 403, both as problem+json."""
import pytest

from .helpers import assert_problem

PROTECTED = [
    ("delete", "/v1/tokens/current", None),
    ("post", "/v1/products", {"sku": "AUTH-1", "name": "x", "price_cents": 1, "currency": "USD", "stock": 0}),
    ("get", "/v1/products", None),
    ("get", "/v1/products/AUTH-1", None),
    ("patch", "/v1/products/AUTH-1", {"name": "y"}),
    ("post", "/v1/products/AUTH-1/stock", {"delta": 1}),
    ("post", "/v1/customers/5f0c9a4e-8a8e-4a36-9a52-3a1d3c1b2e77/credits", {"amount_cents": 100}),
    ("get", "/v1/orders", None),
    ("get", "/v1/orders/5f0c9a4e-8a8e-4a36-9a52-3a1d3c1b2e77", None),
    ("get", "/v1/ledger/check", None),
]
IDS = [f"{m.upper()} {p}" for m, p, _ in PROTECTED]


@pytest.mark.parametrize("method,path,body", PROTECTED, ids=IDS)
def test_no_token_is_401(client, method, path, body):
    resp = getattr(client, method)(path, json=body)
    assert_problem(resp, 401, code="platform.unauthenticated")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method,path,body", PROTECTED, ids=IDS)
def test_customer_token_is_403(client, customer_auth, method, path, body):
    resp = getattr(client, method)(path, json=body, headers=customer_auth)
    assert_problem(resp, 403, code="identity.missing_scope")


@pytest.mark.parametrize("header", [
    "Bearer acme_not-a-real-token",
    "Bearer " + "acme_" + "A" * 43,
    "Basic dXNlcjpwYXNz",
    "Bearer",
])
def test_bad_credentials_are_401(client, header):
    assert_problem(client.get("/v1/products", headers={"Authorization": header}), 401)


def test_authentication_comes_before_body_validation(client):
    # An anonymous caller must not learn the API's rules from 422s.
    resp = client.post("/v1/products", json={"nonsense": True})
    assert_problem(resp, 401)


def test_a_customer_changes_nothing(client, customer_auth, database):
    import acme_catalog

    client.post("/v1/products", json={"sku": "AUTH-2", "name": "x", "price_cents": 1, "currency": "USD"},
                headers=customer_auth)
    with database.unit_of_work() as uow:
        with pytest.raises(acme_catalog.ProductNotFound):
            acme_catalog.get_product(uow, "AUTH-2")
