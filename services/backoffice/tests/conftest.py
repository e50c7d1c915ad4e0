"""Backoffice against a real Postgres (acme_platform.testing's migrated_database_url), through Flask's
test client: everything below HTTP is the real stack."""
from __future__ import annotations

import os
import uuid

import acme_billing
import acme_catalog
import acme_identity
import pytest
from acme_platform import Settings

from backoffice.app import create_app

from .helpers import PASSWORD, new_sku, unique_email

# acme-identity's documented test switch: argon2's cheapest parameters (never in production).
os.environ.setdefault("ACME_IDENTITY_ARGON2_PROFILE", "fast")


@pytest.fixture(scope="session")
def app(service_database_url):
    app = create_app(Settings(database_url=service_database_url, service_name="backoffice-test"), json_logs=False)
    yield app
    acme = app.extensions["acme"]
    acme.stop_process()  # deregister this test instance before the test database is dropped
    acme.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def staff(database):
    with database.unit_of_work() as uow:
        return acme_identity.register_staff(uow, email=unique_email("staff"), password=PASSWORD, name="Sam Staff")


@pytest.fixture
def staff_token(app, staff):
    resp = app.test_client().post("/v1/tokens", json={"email": staff.email, "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json["token"]


@pytest.fixture
def auth(staff_token):
    return {"Authorization": f"Bearer {staff_token}"}


@pytest.fixture
def customer(database):
    with database.unit_of_work() as uow:
        return acme_identity.register_customer(uow, email=unique_email("cust"), password=PASSWORD,
                                               name="Cara Customer")


@pytest.fixture
def customer_auth(database, customer):
    with database.unit_of_work() as uow:
        issued = acme_identity.issue_token(uow, email=customer.email, password=PASSWORD)
    return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
def funded_customer(database, customer):
    """A customer with a 100.00 USD wallet, as the storefront leaves one after sign-up and top-up."""
    with database.unit_of_work() as uow:
        acme_billing.open_account(uow, customer.id)
        acme_billing.credit(uow, customer.id, 10_000, reference=f"seed:{uuid.uuid4()}")
    return customer


@pytest.fixture
def product(database):
    with database.unit_of_work() as uow:
        return acme_catalog.create_product(uow, sku=new_sku(), name="Widget", price_cents=250, currency="USD",
                                           description="A widget", stock=10)
