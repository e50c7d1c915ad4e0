"""Arranging orders the way the storefront would, straight through the domain libraries."""
from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

import acme_billing
import acme_catalog
import acme_orders
from acme_platform import Consumer, Database, Principal


def new_sku() -> str:
    return f"F-{uuid.uuid4().hex[:10].upper()}"


def seed_product(db: Database, stock: int = 10, price_cents: int = 500) -> str:
    sku = new_sku()
    with db.unit_of_work() as uow:
        acme_catalog.create_product(uow, sku=sku, name="Parcel", price_cents=price_cents, currency="USD", stock=stock)
    return sku


def seed_customer(db: Database, balance_cents: int = 1_000_000) -> Principal:
    customer_id = str(uuid.uuid4())
    with db.unit_of_work() as uow:
        acme_billing.open_account(uow, customer_id)
        acme_billing.credit(uow, customer_id, balance_cents, reference=f"seed:{uuid.uuid4()}")
    return Principal(subject_id=customer_id, kind="customer", scopes=frozenset({"customer"}))


def place(db: Database, who: Principal, sku: str, quantity: int = 1) -> str:
    with db.unit_of_work() as uow:
        return acme_orders.place_order(uow, who, [(sku, quantity)]).order.id


def cancel(db: Database, who: Principal, order_id: str) -> None:
    with db.unit_of_work() as uow:
        acme_orders.cancel_order(uow, who, order_id)


STAFF = Principal(subject_id="fulfillment-tests", kind="staff", scopes=frozenset({"staff"}))


def status_of(db: Database, order_id: str) -> str:
    with db.unit_of_work() as uow:
        return acme_orders.get_order(uow, STAFF, order_id).status


def stock_of(db: Database, sku: str) -> tuple[int, int]:
    with db.unit_of_work() as uow:
        p = acme_catalog.get_product(uow, sku)
    return p.on_hand, p.reserved


def fulfilled_events(db: Database, *, expect: int, timeout: float = 5.0) -> list[str]:
    """Keys (order ids) of every orders.order_fulfilled event, read as a brand-new consumer group would:
    one per fulfilment ever committed, so a double fulfilment would show up twice.

    Polls until at least `expect` are visible: a consumer only sees events of transactions older than
    the oldest one still running anywhere on the server (acme_platform's snapshot horizon), so a
    just-committed event can stay invisible while some unrelated transaction is open.
    """
    seen: list[str] = []

    def read() -> bool:
        seen.clear()
        audit = Consumer(db, f"audit-{uuid.uuid4().hex[:8]}", [acme_orders.ORDER_FULFILLED],
                         lambda uow, event: seen.append(event.key))
        audit.run_once()
        return len(seen) >= expect

    wait_until(read, timeout, interval=0.05)
    return list(seen)


def drain(consumer: Consumer, expect: int, timeout: float = 5.0) -> int:
    """run_once until `expect` events were handled (same horizon caveat as fulfilled_events)."""
    handled = 0

    def more() -> bool:
        nonlocal handled
        handled += consumer.run_once()
        return handled >= expect

    wait_until(more, timeout, interval=0.02)
    return handled


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def open_write_transactions(url: str) -> set[str]:
    """Write transactions open anywhere on the server right now (other databases included)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname, state, left(query, 60) FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()").fetchall()
    return {f"{db}: {state}: {query}" for db, state, query in rows}


def fulfilled_within(db: Database, url: str, order_id: str, timeout: float) -> tuple[bool, str]:
    """Poll the order's status for up to `timeout` seconds. On a miss, also say which write transactions
    were open meanwhile: a consumer sees an event only once every transaction older than it has ended,
    server-wide (acme_platform's snapshot horizon), so e.g. a DROP DATABASE elsewhere delays it."""
    seen: set[str] = set()

    def fulfilled() -> bool:
        if status_of(db, order_id) == "fulfilled":
            return True
        seen.update(open_write_transactions(url))
        return False

    ok = wait_until(fulfilled, timeout, interval=0.05)
    return ok, "write transactions open while waiting: " + ("; ".join(sorted(seen)) or "none")


def run_in_threads(n: int, target: Callable[[], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded():
        try:
            target()
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors
