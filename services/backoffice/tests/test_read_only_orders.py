"""The backoffice declares orders read-only (backoffice.access): its database role lacks orders' write
privileges, and a write that slips into its code is refused by the database with a problem naming the
domain, while everything else the request did rolls back with it."""
import acme_billing
import acme_catalog
import acme_orders
from acme_platform import Settings
from acme_platform.roles import installed_services
from acme_platform.web import current_uow

from backoffice.access import ACCESS
from backoffice.app import create_app

from .helpers import assert_problem, principal_of


def test_the_backoffice_declares_orders_read_only_and_runs_as_its_own_role():
    assert ACCESS.read_only == ("orders",)
    assert list(installed_services()) == ["backoffice"]   # this venv's role is the backoffice's


def test_a_write_through_the_read_only_domain_is_refused_naming_it_and_saves_nothing(
        service_database_url, database, funded_customer, product):
    app = create_app(Settings(database_url=service_database_url, service_name="backoffice"), json_logs=False)
    try:
        @app.post("/test/place-order")
        def place():  # what a bug would look like: the backoffice placing an order
            acme_orders.place_order(current_uow(), principal_of(funded_customer), [(product.sku, 1)])
            return {}, 201

        with database.unit_of_work() as uow:
            stock_before = acme_catalog.get_product(uow, product.sku).available
            balance_before = acme_billing.get_balance(uow, funded_customer.id).balance_cents
        resp = app.test_client().post("/test/place-order", json={})
        body = assert_problem(resp, 403, code="platform.domain_read_only")
        assert body["domain"] == "orders" and "orders" in body["detail"], body
        # catalog's reservation and billing's charge ran first (the backoffice may write those): rolled back.
        with database.unit_of_work() as uow:
            assert acme_catalog.get_product(uow, product.sku).available == stock_before
            assert acme_billing.get_balance(uow, funded_customer.id).balance_cents == balance_before
    finally:
        app.extensions["acme"].stop_process()
        app.extensions["acme"].close()
