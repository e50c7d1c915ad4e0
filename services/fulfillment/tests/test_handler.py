"""The handler under the real Consumer (group offsets, one transaction per batch) on a real database."""
import threading
import time
import uuid

import acme_orders
from acme_platform import Consumer
from prometheus_client import REGISTRY

from fulfillment.handler import fulfil
from fulfillment.worker import make_consumer

from .helpers import (cancel, drain, fulfilled_events, place, run_in_threads, seed_customer, seed_product,
                      status_of, stock_of, wait_until)


def outcomes() -> dict[str, float]:
    return {o: REGISTRY.get_sample_value("fulfillment_orders_total", {"outcome": o}) or 0.0
            for o in ("fulfilled", "skipped", "missing")}


def delta(before: dict[str, float]) -> dict[str, float]:
    after = outcomes()
    return {k: after[k] - before[k] for k in after}


def consumer(db, group: str | None = None) -> Consumer:
    return Consumer(db, group or f"fulfillment-{uuid.uuid4().hex[:8]}", [acme_orders.ORDER_PLACED], fulfil)


def test_a_placed_order_is_fulfilled_and_its_stock_committed(db):
    sku = seed_product(db, stock=10)
    who = seed_customer(db)
    order_id = place(db, who, sku, quantity=3)
    assert stock_of(db, sku) == (10, 3)
    before = outcomes()

    assert drain(consumer(db), expect=1) == 1

    assert status_of(db, order_id) == "fulfilled"
    assert stock_of(db, sku) == (7, 0)   # the reservation left the warehouse
    assert fulfilled_events(db, expect=1) == [order_id]
    assert delta(before) == {"fulfilled": 1, "skipped": 0, "missing": 0}


def test_an_order_cancelled_before_fulfilment_is_skipped(db):
    sku = seed_product(db, stock=10)
    who = seed_customer(db)
    cancelled = place(db, who, sku, quantity=2)
    kept = place(db, who, sku, quantity=1)
    cancel(db, who, cancelled)
    before = outcomes()
    c = consumer(db)

    assert drain(c, expect=2) == 2       # both events handled: the skip does not block the group
    assert c.run_once() == 0

    assert status_of(db, cancelled) == "cancelled"
    assert status_of(db, kept) == "fulfilled"
    assert stock_of(db, sku) == (9, 0)   # only the kept order's unit shipped; the cancelled one was released
    assert fulfilled_events(db, expect=1) == [kept]
    assert delta(before) == {"fulfilled": 1, "skipped": 1, "missing": 0}


def test_running_the_consumer_again_does_not_fulfil_twice(db):
    sku = seed_product(db, stock=10)
    who = seed_customer(db)
    orders = [place(db, who, sku) for _ in range(3)]
    group = "fulfillment"   # the service's own group, built the way the worker builds it
    before = outcomes()

    assert drain(make_consumer(db, group=group), expect=3) == 3
    # The same group again, as a restarted process would be: all three are behind its offset.
    assert make_consumer(db, group=group).run_once() == 0
    later = place(db, who, sku)
    assert drain(make_consumer(db, group=group), expect=1) == 1

    assert sorted(fulfilled_events(db, expect=4)) == sorted(orders + [later])
    assert stock_of(db, sku) == (6, 0)
    assert delta(before) == {"fulfilled": 4, "skipped": 0, "missing": 0}


def test_instances_racing_on_one_group_fulfil_each_order_once(db):
    sku = seed_product(db, stock=1000)
    who = seed_customer(db)
    orders = [place(db, who, sku) for _ in range(30)]
    group = f"race-{uuid.uuid4().hex[:8]}"
    before = outcomes()
    done = threading.Event()

    def instance():
        c = consumer(db, group)
        deadline = time.monotonic() + 20
        while not done.is_set() and time.monotonic() < deadline:
            c.run_once()
            if delta(before)["fulfilled"] >= 30:
                done.set()

    assert run_in_threads(4, instance) == []

    assert sorted(fulfilled_events(db, expect=30)) == sorted(orders)   # each exactly once
    assert stock_of(db, sku) == (970, 0)
    assert delta(before) == {"fulfilled": 30, "skipped": 0, "missing": 0}   # nobody even tried twice


def test_a_handler_failure_rolls_back_and_the_event_is_retried(db):
    sku = seed_product(db, stock=5)
    who = seed_customer(db)
    order_id = place(db, who, sku)
    group = f"retry-{uuid.uuid4().hex[:8]}"
    calls = []

    def flaky(uow, event):
        calls.append(event.key)
        fulfil(uow, event)
        if len(calls) == 1:
            raise RuntimeError("connection lost mid-handler")

    # No backoff: the retry itself is what this test is about (the platform's tests cover the pause).
    def first_attempt() -> bool:
        Consumer(db, group, [acme_orders.ORDER_PLACED], flaky, retry_backoff=0).run_once()   # recorded, not raised
        return bool(calls)

    assert wait_until(first_attempt, timeout=5)
    assert status_of(db, order_id) == "placed" and stock_of(db, sku) == (5, 1)   # nothing half-done

    assert Consumer(db, group, [acme_orders.ORDER_PLACED], flaky, retry_backoff=0).run_once() == 1   # retried from the offset
    assert status_of(db, order_id) == "fulfilled" and stock_of(db, sku) == (4, 0)
    assert fulfilled_events(db, expect=1) == [order_id]
