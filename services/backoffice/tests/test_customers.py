"""POST /v1/customers/<id>/credits: staff grants."""
import uuid

import acme_billing
import pytest

from .helpers import assert_problem


def test_grant_credits_a_customer_wallet(client, auth, funded_customer, staff):
    resp = client.post(f"/v1/customers/{funded_customer.id}/credits", json={"amount_cents": 2500}, headers=auth)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert (body["customer_id"], body["balance_cents"], body["currency"]) == (funded_customer.id, 12_500, "USD")
    assert body["reference"].startswith("grant:")
    again = client.post(f"/v1/customers/{funded_customer.id}/credits", json={"amount_cents": 2500}, headers=auth)
    assert again.json["balance_cents"] == 15_000
    assert again.json["reference"] != body["reference"]  # two grants, two postings


def test_grant_opens_a_wallet_for_a_customer_who_has_none(client, auth, customer, database):
    resp = client.post(f"/v1/customers/{customer.id}/credits", json={"amount_cents": 700}, headers=auth)
    assert resp.status_code == 200, resp.json
    assert (resp.json["balance_cents"], resp.json["currency"]) == (700, "USD")
    with database.unit_of_work() as uow:
        assert acme_billing.get_balance(uow, customer.id).balance_cents == 700


@pytest.mark.parametrize("who", ["random uuid", "not a uuid", "staff account"])
def test_unknown_customer_is_404(client, auth, staff, who, database):
    customer_id = {"random uuid": str(uuid.uuid4()), "not a uuid": "nobody", "staff account": staff.id}[who]
    assert_problem(client.post(f"/v1/customers/{customer_id}/credits", json={"amount_cents": 100}, headers=auth),
                   404)
    with database.unit_of_work() as uow:
        with pytest.raises(acme_billing.AccountNotFound):
            acme_billing.get_balance(uow, customer_id)


@pytest.mark.parametrize("payload,field", [
    ({}, "amount_cents"),
    ({"amount_cents": 0}, "amount_cents"),
    ({"amount_cents": -100}, "amount_cents"),
    ({"amount_cents": "100"}, "amount_cents"),
    ({"amount_cents": 1.5}, "amount_cents"),
    ({"amount_cents": 10**40}, "amount_cents"),
    ({"amount_cents": 100, "currency": "EUR"}, "currency"),
])
def test_bad_amount_is_422_and_grants_nothing(client, auth, funded_customer, payload, field, database):
    assert_problem(client.post(f"/v1/customers/{funded_customer.id}/credits", json=payload, headers=auth), 422,
                   field=field)
    with database.unit_of_work() as uow:
        assert acme_billing.get_balance(uow, funded_customer.id).balance_cents == 10_000


def test_a_retried_grant_with_an_idempotency_key_credits_once(client, auth, funded_customer, database):
    url = f"/v1/customers/{funded_customer.id}/credits"
    keyed = {**auth, "Idempotency-Key": f"grant-{uuid.uuid4()}"}
    first = client.post(url, json={"amount_cents": 2500}, headers=keyed)
    assert first.status_code == 200, first.json
    retry = client.post(url, json={"amount_cents": 2500}, headers=keyed)
    assert retry.status_code == 200, retry.json
    assert retry.json == first.json
    assert_problem(client.post(url, json={"amount_cents": 2600}, headers=keyed), 409,
                   code="billing.idempotency_key_reused", field="Idempotency-Key")
    assert_problem(client.post(url, json={"amount_cents": 2500}, headers={**auth, "Idempotency-Key": "x" * 201}),
                   422, field="Idempotency-Key")
    with database.unit_of_work() as uow:
        assert acme_billing.get_balance(uow, funded_customer.id).balance_cents == 12_500
