"""No oversell, no negative stock, no deadlock: concurrent units of work on real connections."""
from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import acme_catalog as catalog


def _run_together(n: int, work):
    """Run work(i) in n threads released at the same moment; returns results or exceptions."""
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:  # collected and asserted on by the test
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(task, range(n)))


def test_100_parallel_reservations_for_30_units_exactly_30_succeed(database, committed_product, stock_of):
    product = committed_product(stock=30)

    def reserve_one(_):
        with database.unit_of_work() as uow:
            return catalog.reserve(uow, product.sku, 1)

    results = _run_together(100, reserve_one)
    succeeded = [r for r in results if isinstance(r, catalog.Product)]
    refused = [r for r in results if isinstance(r, catalog.InsufficientStock)]
    assert len(succeeded) == 30
    assert len(refused) == 70, [r for r in results if not isinstance(r, (catalog.Product, catalog.InsufficientStock))]
    assert all(r.extra["available"] == 0 for r in refused)
    assert sorted(p.reserved for p in succeeded) == list(range(1, 31))
    assert stock_of(product.sku) == (30, 30)
    with database.unit_of_work() as uow:
        assert catalog.get_product(uow, product.sku).available == 0


def test_parallel_multi_line_reservations_in_opposite_orders_neither_deadlock_nor_oversell(
        database, committed_product, stock_of):
    a, b, c = (committed_product(stock=40) for _ in range(3))
    orders = [[(a.sku, 1), (b.sku, 1), (c.sku, 1)], [(c.sku, 1), (b.sku, 1), (a.sku, 1)],
              [(b.sku, 1), (c.sku, 1), (a.sku, 1)]]

    def reserve_order(i):
        with database.unit_of_work() as uow:
            return catalog.reserve_many(uow, orders[i % 3])

    results = _run_together(60, reserve_order)
    unexpected = [r for r in results if not isinstance(r, (dict, catalog.InsufficientStock))]
    assert unexpected == []   # a deadlock would surface here as an OperationalError
    assert sum(isinstance(r, dict) for r in results) == 40
    for product in (a, b, c):
        assert stock_of(product.sku) == (40, 40)


def test_concurrent_adjustments_and_reservations_keep_reserved_within_on_hand(
        database, committed_product, stock_of):
    product = committed_product(stock=20)
    ledger_lock = threading.Lock()
    ledger = {"on_hand": 20, "reserved": 0}
    violations = []
    expected_errors = (catalog.InsufficientStock, catalog.StockWouldGoNegative, catalog.ReleaseExceedsReserved)

    def check(on_hand, reserved):
        if not 0 <= reserved <= on_hand:
            violations.append((on_hand, reserved))

    def worker(i):
        rng = random.Random(i)
        unexpected = []
        for _ in range(40):
            kind = rng.choice(["adjust", "reserve", "release", "commit"] if i % 2 else ["adjust"])
            quantity = rng.randint(1, 6)
            try:
                with database.unit_of_work() as uow:
                    if kind == "adjust":
                        delta = quantity if rng.random() < 0.5 else -quantity
                        level = catalog.adjust_stock(uow, product.sku, delta)
                        check(level.on_hand, level.reserved)
                        change = {"on_hand": delta}
                    elif kind == "reserve":
                        check(*_stock(catalog.reserve(uow, product.sku, quantity)))
                        change = {"reserved": quantity}
                    elif kind == "release":
                        check(*_stock(catalog.release(uow, product.sku, quantity)))
                        change = {"reserved": -quantity}
                    else:
                        check(*_stock(catalog.commit_reservation(uow, product.sku, quantity)))
                        change = {"on_hand": -quantity, "reserved": -quantity}
                # Record only once the unit of work has committed.
                with ledger_lock:
                    for key, value in change.items():
                        ledger[key] += value
            except expected_errors:
                pass
            except Exception as exc:
                unexpected.append(exc)
        return unexpected

    results = _run_together(8, worker)
    assert [exc for batch in results for exc in batch] == []
    assert violations == []
    on_hand, reserved = stock_of(product.sku)
    assert (on_hand, reserved) == (ledger["on_hand"], ledger["reserved"])
    assert 0 <= reserved <= on_hand


def _stock(product):
    return product.on_hand, product.reserved
