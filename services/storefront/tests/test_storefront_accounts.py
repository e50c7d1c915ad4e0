"""Sign-up, log-in, log-out and how every protected endpoint treats credentials."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import acme_billing
import pytest

from conftest import PASSWORD, build_app, shutdown


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


# -- POST /v1/customers ----------------------------------------------------------------------------

def test_sign_up_creates_the_customer_and_an_empty_usd_wallet(client, uow):
    email = new_email()
    resp = client.post("/v1/customers", json={"email": email, "password": PASSWORD, "name": "Ada Lovelace"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"id", "email", "name"}
    assert body["email"] == email and body["name"] == "Ada Lovelace"
    with uow() as u:
        wallet = acme_billing.get_balance(u, body["id"])
    assert (wallet.balance_cents, wallet.currency) == (0, "USD")


def test_sign_up_with_a_taken_email_is_409_and_leaves_no_second_wallet(client, problem):
    email = new_email()
    first = client.post("/v1/customers", json={"email": email, "password": PASSWORD, "name": "First"})
    assert first.status_code == 201
    again = client.post("/v1/customers", json={"email": email.upper(), "password": PASSWORD, "name": "Second"})
    problem(again, 409, field="email", code="identity.email_taken")


@pytest.mark.parametrize("body,field", [
    ({"email": "not-an-email", "password": PASSWORD, "name": "X"}, "email"),
    ({"email": "a@b", "password": PASSWORD, "name": "X"}, "email"),
    ({"email": "", "password": PASSWORD, "name": "X"}, "email"),
    ({"email": "OK@example.com", "password": "short", "name": "X"}, "password"),
    ({"email": "OK@example.com", "password": "123456789", "name": "X"}, "password"),
    ({"email": "OK@example.com", "password": PASSWORD, "name": "   "}, "name"),
    ({"email": "OK@example.com", "password": PASSWORD}, "name"),
    ({"password": PASSWORD, "name": "X"}, "email"),
    ({"email": "OK@example.com", "password": 1234567890123, "name": "X"}, "password"),
    ({"email": ["OK@example.com"], "password": PASSWORD, "name": "X"}, "email"),
    ({"email": "OK@example.com", "password": PASSWORD, "name": "X", "admin": True}, "admin"),
    ({"email": "OK@example.com", "password": PASSWORD, "name": "x" * 5000}, "name"),
])
def test_sign_up_rejects_invalid_input_naming_the_field(client, problem, body, field):
    problem(client.post("/v1/customers", json=body), 422, field=field)


def test_sign_up_with_a_password_of_exactly_ten_characters_is_accepted(client):
    resp = client.post("/v1/customers", json={"email": new_email(), "password": "0123456789", "name": "Tenner"})
    assert resp.status_code == 201


# -- POST /v1/tokens -------------------------------------------------------------------------------

def test_log_in_issues_a_token_that_expires_in_the_future_in_utc(client, make_customer):
    customer = make_customer()
    resp = client.post("/v1/tokens", json={"email": customer.email, "password": PASSWORD})
    assert resp.status_code == 201
    body = resp.get_json()
    assert set(body) == {"token", "expires_at"}
    assert body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"])
    now = datetime.now(timezone.utc)
    assert now < expires <= now + timedelta(days=2)
    assert client.get("/v1/wallet", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200


@pytest.mark.parametrize("which", ["wrong password", "unknown email"])
def test_log_in_with_bad_credentials_is_401_with_a_challenge(client, make_customer, problem, which):
    customer = make_customer()
    body = ({"email": customer.email, "password": PASSWORD + "!"} if which == "wrong password"
            else {"email": new_email(), "password": PASSWORD})
    resp = client.post("/v1/tokens", json=body)
    problem(resp, 401, code="identity.bad_credentials")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_staff_cannot_log_in_through_the_storefront(client, uow, problem):
    import acme_identity

    email = new_email()
    with uow() as u:
        acme_identity.register_staff(u, email=email, password=PASSWORD, name="Staff")
    problem(client.post("/v1/tokens", json={"email": email, "password": PASSWORD}), 401)


@pytest.mark.parametrize("body,field", [
    ({"email": "x@example.com"}, "password"),
    ({"email": "x@example.com", "password": PASSWORD, "ttl": 99999}, "ttl"),
    ({"email": 5, "password": PASSWORD}, "email"),
])
def test_log_in_rejects_malformed_bodies(client, problem, body, field):
    problem(client.post("/v1/tokens", json=body), 422, field=field)


# -- authentication on protected endpoints ---------------------------------------------------------

@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer garbage", "Bearer acme_" + "A" * 43,
    "Bearer " + "x" * 10_000, "bearer\tacme_", "Token abc",
])
def test_missing_or_garbage_authorization_is_401_with_a_challenge(client, problem, header):
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "/v1/wallet"), ("GET", "/v1/orders"), ("DELETE", "/v1/tokens/current")]:
        resp = client.open(path, method=method, headers=headers)
        problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_authentication_comes_before_body_validation(client, problem):
    # An anonymous caller gets 401, not a 422 that would describe the API's validation to them.
    problem(client.post("/v1/orders", data="{not json", content_type="application/json"), 401)


def test_a_staff_token_is_forbidden_on_customer_endpoints(client, staff_token, problem):
    headers = {"Authorization": f"Bearer {staff_token}"}
    for method, path in [("GET", "/v1/wallet"), ("GET", "/v1/orders"), ("POST", "/v1/orders"),
                         ("DELETE", "/v1/tokens/current")]:
        resp = client.open(path, method=method, headers=headers, json={"items": [{"sku": "X", "quantity": 1}]})
        problem(resp, 403, code="identity.missing_scope", required="customer")


# -- DELETE /v1/tokens/current ---------------------------------------------------------------------

def test_log_out_revokes_the_token_within_a_second(client, make_customer, problem, poll):
    customer = make_customer()
    assert client.get("/v1/wallet", headers=customer.auth).status_code == 200  # now cached
    resp = client.delete("/v1/tokens/current", headers=customer.auth)
    assert resp.status_code == 204 and resp.get_data() == b""
    poll(lambda: client.get("/v1/wallet", headers=customer.auth).status_code == 401, within=1.0)
    problem(client.get("/v1/wallet", headers=customer.auth), 401, code="identity.token_revoked")
    problem(client.delete("/v1/tokens/current", headers=customer.auth), 401)


def test_log_out_affects_only_that_token(client, make_customer):
    customer = make_customer()
    other = client.post("/v1/tokens", json={"email": customer.email, "password": PASSWORD}).get_json()["token"]
    assert client.delete("/v1/tokens/current", headers=customer.auth).status_code == 204
    assert client.get("/v1/wallet", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_a_revocation_reaches_another_process_that_had_the_token_cached(client, make_customer,
                                                                          service_database_url, poll):
    # A second app = a second Platform, listener and Authenticator: what another service process has.
    other = build_app(service_database_url)
    try:
        other_client = other.test_client()
        customer = make_customer()
        assert other_client.get("/v1/wallet", headers=customer.auth).status_code == 200   # cached there
        assert other_client.get("/v1/wallet", headers=customer.auth).status_code == 200
        assert client.delete("/v1/tokens/current", headers=customer.auth).status_code == 204
        poll(lambda: other_client.get("/v1/wallet", headers=customer.auth).status_code == 401, within=1.0)
    finally:
        shutdown(other)


# -- GET /v1/wallet --------------------------------------------------------------------------------

def test_wallet_shows_the_balance_in_minor_units(client, make_customer, fund):
    customer = make_customer()
    assert client.get("/v1/wallet", headers=customer.auth).get_json() == {"balance_cents": 0, "currency": "USD"}
    fund(customer.id, 12_345)
    assert client.get("/v1/wallet", headers=customer.auth).get_json() == {"balance_cents": 12_345, "currency": "USD"}
