"""Arrange/inspect helpers for the integration tests: every test makes its own products and customers
(uuid-suffixed), so tests are independent of order and of each other's data."""
from __future__ import annotations

import uuid

import acme_billing
import acme_catalog
from acme_platform import Principal


def new_sku() -> str:
    return f"T-{uuid.uuid4().hex[:12].upper()}"


def customer(subject_id: str | None = None) -> Principal:
    return Principal(subject_id=subject_id or str(uuid.uuid4()), kind="customer")


def staff() -> Principal:
    return Principal(subject_id=str(uuid.uuid4()), kind="staff", scopes=frozenset({"staff"}))


class World:
    """Arrange and inspect catalog/billing state through their public APIs only."""

    def __init__(self, database):
        self.db = database

    def product(self, *, stock: int = 10, price: int = 250, currency: str = "USD", active: bool = True) -> str:
        sku = new_sku()
        with self.db.unit_of_work() as uow:
            acme_catalog.create_product(uow, sku=sku, name=f"Test {sku}", price_cents=price, currency=currency,
                                        stock=stock, active=active)
        return sku

    def customer(self, *, funds: int = 100_000, currency: str = "USD") -> Principal:
        who = customer()
        with self.db.unit_of_work() as uow:
            acme_billing.open_account(uow, who.subject_id, currency)
            if funds:
                acme_billing.credit(uow, who.subject_id, funds, reference=f"test-grant:{uuid.uuid4()}",
                                    granted_by="tests")
        return who

    def credit(self, who: Principal, amount: int) -> None:
        with self.db.unit_of_work() as uow:
            acme_billing.credit(uow, who.subject_id, amount, reference=f"test-grant:{uuid.uuid4()}",
                                granted_by="tests")

    def stock(self, sku: str) -> tuple[int, int]:
        """(on_hand, reserved)"""
        with self.db.unit_of_work() as uow:
            p = acme_catalog.get_product(uow, sku)
        return p.on_hand, p.reserved

    def balance(self, who: Principal) -> int:
        with self.db.unit_of_work() as uow:
            return acme_billing.get_balance(uow, who.subject_id).balance_cents

    def scalar(self, sql: str, **params):
        with self.db.engine.connect() as conn:
            return conn.exec_driver_sql(sql, params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.db.engine.connect() as conn:
            return list(conn.exec_driver_sql(sql, params))

    def traces_of(self, who: Principal) -> dict[str, int]:
        """Everything orders could have left behind for this customer."""
        c = who.subject_id
        return {
            "orders": self.scalar("SELECT count(*) FROM orders.orders WHERE customer_id = %(c)s", c=c),
            "lines": self.scalar("SELECT count(*) FROM orders.order_lines l JOIN orders.orders o "
                                 "ON o.id = l.order_id WHERE o.customer_id = %(c)s", c=c),
            "keys": self.scalar("SELECT count(*) FROM orders.idempotency_keys WHERE customer_id = %(c)s", c=c),
            "events": self.scalar("SELECT count(*) FROM orders.outbox WHERE payload->>'customer_id' = %(c)s", c=c),
        }
