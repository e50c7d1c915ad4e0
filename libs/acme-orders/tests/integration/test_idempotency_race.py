"""Two requests with the same idempotency key at the same time: the database serialises them."""
import threading
import time

import pytest

from acme_orders import place_order

# How long we are prepared to wait for the second request to reach the unique index. Not a timing
# assertion: the test fails only if the duplicate never blocks at all.
BLOCK_DEADLINE = 20.0


def waiting_for_lock(world) -> int:
    return world.scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE NOT l.granted AND a.datname = current_database()"
    )


def run_race(database, world, who, items, *, first_fails: bool):
    first_inside = threading.Event()
    finish_first = threading.Event()
    results: dict[str, object] = {}

    class Abort(Exception):
        pass

    def first():
        try:
            with database.unit_of_work() as uow:
                results["first"] = place_order(uow, who, items, idempotency_key="race")
                first_inside.set()
                finish_first.wait(BLOCK_DEADLINE * 2)
                if first_fails:
                    raise Abort()
        except Abort:
            results["first"] = "rolled back"
        except BaseException as exc:  # surfaced by the asserts below
            results["first"] = exc
            first_inside.set()

    def second():
        try:
            with database.unit_of_work() as uow:
                results["second"] = place_order(uow, who, items, idempotency_key="race")
        except BaseException as exc:
            results["second"] = exc

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_inside.wait(BLOCK_DEADLINE)
    t2 = threading.Thread(target=second)
    t2.start()
    deadline = time.monotonic() + BLOCK_DEADLINE
    while waiting_for_lock(world) == 0 and t2.is_alive():
        assert time.monotonic() < deadline, "the duplicate request never waited for the first one"
        time.sleep(0.02)
    assert t2.is_alive(), f"the duplicate finished without waiting: {results.get('second')!r}"
    finish_first.set()
    t1.join(BLOCK_DEADLINE)
    t2.join(BLOCK_DEADLINE)
    assert not t1.is_alive() and not t2.is_alive()
    return results["first"], results["second"]


def test_racing_duplicates_make_one_order_and_one_charge(database, world):
    sku, who = world.product(stock=10, price=300), world.customer(funds=1000)
    first, second = run_race(database, world, who, [(sku, 2)], first_fails=False)
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    assert first.replayed is False and second.replayed is True
    assert first.order.id == second.order.id
    assert world.balance(who) == 400
    assert world.stock(sku) == (10, 2)
    assert world.traces_of(who) == {"orders": 1, "lines": 1, "keys": 1, "events": 1}


def test_when_the_first_rolls_back_the_waiting_duplicate_places_the_order(database, world):
    sku, who = world.product(stock=10, price=300), world.customer(funds=1000)
    first, second = run_race(database, world, who, [(sku, 2)], first_fails=True)
    assert first == "rolled back"
    assert not isinstance(second, BaseException), second
    assert second.replayed is False
    assert world.balance(who) == 400 and world.stock(sku) == (10, 2)
    assert world.traces_of(who) == {"orders": 1, "lines": 1, "keys": 1, "events": 1}


def test_racing_requests_without_a_shared_key_both_succeed_when_stock_allows(database, world):
    sku, who = world.product(stock=4, price=100), world.customer(funds=1000)
    barrier = threading.Barrier(2)
    out: list = []

    def go(key):
        barrier.wait()
        try:
            with database.unit_of_work() as uow:
                out.append(place_order(uow, who, [(sku, 2)], idempotency_key=key))
        except BaseException as exc:
            out.append(exc)

    threads = [threading.Thread(target=go, args=(k,)) for k in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BLOCK_DEADLINE)
    assert all(not isinstance(r, BaseException) for r in out), out
    assert len({r.order.id for r in out}) == 2
    assert world.stock(sku) == (4, 4) and world.balance(who) == 600


@pytest.mark.parametrize("n", [3])
def test_oversubscribed_stock_admits_only_what_exists(database, world, n):
    import acme_catalog

    sku = world.product(stock=2, price=100)
    buyers = [world.customer(funds=1000) for _ in range(n)]
    barrier = threading.Barrier(n)
    out: list = []

    def go(who):
        barrier.wait()
        try:
            with database.unit_of_work() as uow:
                out.append(place_order(uow, who, [(sku, 1)]))
        except BaseException as exc:
            out.append(exc)

    threads = [threading.Thread(target=go, args=(b,)) for b in buyers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BLOCK_DEADLINE)
    ok = [r for r in out if not isinstance(r, BaseException)]
    refused = [r for r in out if isinstance(r, acme_catalog.InsufficientStock)]
    assert (len(ok), len(refused)) == (2, n - 2), out
    assert world.stock(sku) == (2, 2)
    assert sum(world.balance(b) for b in buyers) == n * 1000 - 200
