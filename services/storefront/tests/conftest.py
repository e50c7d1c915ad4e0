"""Fixtures: the storefront app on a real, migrated Postgres (acme_platform.testing provides
`migrated_database_url` and `database`), plus helpers that set up state through the domain APIs.

Every test makes its own customers and products (unique emails and SKUs), so tests share one
database per session without depending on each other or on order.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

import acme_billing
import acme_catalog
import acme_identity
import pytest
from acme_platform import Settings

from storefront.app import create_app

PASSWORD = "correct horse battery"


def build_app(database_url: str):
    app = create_app(Settings(database_url=database_url, service_name="storefront-test", service_version="test"))
    acme = app.extensions["acme"]
    # The listener starts lazily; wait so caches are trusted from the first request of a test.
    assert acme.listener.wait_connected(10), "change listener did not connect"
    return app


def shutdown(app) -> None:
    """What gunicorn's worker_exit does, then release connections: nothing outlives the test database."""
    acme = app.extensions["acme"]
    acme.stop_process()
    acme.close()


@pytest.fixture(scope="session")
def app(service_database_url):
    app = build_app(service_database_url)
    yield app
    shutdown(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def uow(database):
    """`with uow() as u:` a unit of work in its own transaction, committed on exit (another "process")."""
    return database.unit_of_work


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


@pytest.fixture
def make_product(uow) -> Callable[..., acme_catalog.Product]:
    def make(*, price_cents: int = 1_000, stock: int = 10, active: bool = True, currency: str = "USD",
             sku: str | None = None) -> acme_catalog.Product:
        with uow() as u:
            return acme_catalog.create_product(u, sku=sku or unique("T"), name="Test product",
                                               description="made by a test", price_cents=price_cents,
                                               currency=currency, stock=stock, active=active)
    return make


@dataclass
class Customer:
    id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def fund(uow) -> Callable[[str, int], None]:
    def credit(customer_id: str, cents: int) -> None:
        with uow() as u:
            acme_billing.credit(u, customer_id, cents, reference=f"test:{uuid.uuid4()}")
    return credit


@pytest.fixture
def make_customer(client, fund) -> Callable[..., Customer]:
    """Signs up and logs in through the API, then optionally puts money in the wallet."""
    def make(*, balance_cents: int = 0) -> Customer:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        created = client.post("/v1/customers", json={"email": email, "password": PASSWORD, "name": "Test Customer"})
        assert created.status_code == 201, created.get_data(as_text=True)
        issued = client.post("/v1/tokens", json={"email": email, "password": PASSWORD})
        assert issued.status_code == 201, issued.get_data(as_text=True)
        customer = Customer(id=created.get_json()["id"], email=email, token=issued.get_json()["token"])
        if balance_cents:
            fund(customer.id, balance_cents)
        return customer
    return make


@pytest.fixture
def staff_token(uow) -> str:
    email = f"staff-{uuid.uuid4().hex[:12]}@example.com"
    with uow() as u:
        acme_identity.register_staff(u, email=email, password=PASSWORD, name="Staff Member")
    with uow() as u:
        return acme_identity.issue_token(u, email=email, password=PASSWORD, kind="staff").token


def assert_problem(resp, status: int, **expected) -> dict:
    """A problem+json response with the given status and members (field=..., sku=..., code=...)."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.get_data(as_text=True)}"
    assert resp.mimetype == "application/problem+json", resp.mimetype
    body = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    for key, value in expected.items():
        assert body.get(key) == value, f"{key}: expected {value!r}, got {body.get(key)!r} in {body}"
    return body


def eventually(check: Callable[[], bool], *, within: float) -> float:
    """Poll until check() is true; fail if it is not within `within` seconds. Returns the time taken."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"condition not met within {within}s")
        time.sleep(0.02)


@pytest.fixture
def problem():
    return assert_problem


@pytest.fixture
def poll():
    return eventually
