import threading

import pytest

from acme_orders import (
    InvalidTransition,
    OrderNotFound,
    cancel_order,
    get_order,
    mark_fulfilled,
    place_order,
)

from orders_world import customer, staff


def place(db, who, items):
    with db.unit_of_work() as uow:
        return place_order(uow, who, items).order


def cancel(db, who, order_id):
    with db.unit_of_work() as uow:
        return cancel_order(uow, who, order_id)


def fulfil(db, order_id):
    with db.unit_of_work() as uow:
        return mark_fulfilled(uow, order_id)


def events_for(world, order_id):
    return [(r.topic, r.payload["status"]) for r in world.rows(
        "SELECT topic, payload FROM orders.outbox WHERE key = %(k)s ORDER BY id", k=order_id)]


def test_cancel_releases_stock_and_refunds(database, world):
    a, b, who = world.product(stock=10, price=100), world.product(stock=10, price=50), world.customer(funds=1000)
    order = place(database, who, [(a, 2), (b, 4)])
    assert world.balance(who) == 600

    cancelled = cancel(database, who, order.id)

    assert cancelled.status == "cancelled" and cancelled.id == order.id and cancelled.items == order.items
    assert world.stock(a) == (10, 0) and world.stock(b) == (10, 0)
    assert world.balance(who) == 1000
    assert events_for(world, order.id) == [("orders.order_placed", "placed"),
                                           ("orders.order_cancelled", "cancelled")]
    with database.unit_of_work() as uow:
        assert get_order(uow, who, order.id).status == "cancelled"


def test_cancel_twice_is_an_invalid_transition_and_refunds_once(database, world):
    sku, who = world.product(price=100), world.customer(funds=1000)
    order = place(database, who, [(sku, 1)])
    cancel(database, who, order.id)
    with pytest.raises(InvalidTransition) as exc:
        cancel(database, who, order.id)
    assert exc.value.extra == {"status": "cancelled", "target": "cancelled"}
    assert world.balance(who) == 1000 and world.stock(sku) == (10, 0)


def test_staff_may_cancel_and_the_refund_goes_to_the_customer(database, world):
    sku, who = world.product(price=100), world.customer(funds=1000)
    order = place(database, who, [(sku, 3)])
    cancel(database, staff(), order.id)
    assert world.balance(who) == 1000


def test_another_customer_cannot_cancel_or_learn_the_order_exists(database, world):
    sku, who = world.product(price=100), world.customer(funds=1000)
    order = place(database, who, [(sku, 1)])
    with pytest.raises(OrderNotFound):
        cancel(database, customer(), order.id)
    with pytest.raises(OrderNotFound):
        cancel(database, customer(), "not-a-uuid")
    assert world.balance(who) == 900 and world.stock(sku) == (10, 1)


def test_fulfil_commits_stock(database, world):
    sku, who = world.product(stock=10, price=100), world.customer(funds=1000)
    order = place(database, who, [(sku, 4)])
    done = fulfil(database, order.id)
    assert done.status == "fulfilled"
    assert world.stock(sku) == (6, 0)
    assert world.balance(who) == 600  # the money stays charged
    assert events_for(world, order.id)[-1] == ("orders.order_fulfilled", "fulfilled")


def test_cancel_after_fulfil_is_an_invalid_transition(database, world):
    sku, who = world.product(stock=10, price=100), world.customer(funds=1000)
    order = place(database, who, [(sku, 4)])
    fulfil(database, order.id)
    for actor in (who, staff()):
        with pytest.raises(InvalidTransition) as exc:
            cancel(database, actor, order.id)
        assert exc.value.extra == {"status": "fulfilled", "target": "cancelled"}
    assert world.stock(sku) == (6, 0) and world.balance(who) == 600


def test_fulfil_twice_or_after_cancel_is_an_invalid_transition(database, world):
    sku, who = world.product(stock=10, price=100), world.customer(funds=1000)
    shipped, dropped = place(database, who, [(sku, 1)]), place(database, who, [(sku, 2)])
    fulfil(database, shipped.id)
    cancel(database, who, dropped.id)
    with pytest.raises(InvalidTransition) as exc:
        fulfil(database, shipped.id)
    assert exc.value.extra["status"] == "fulfilled"
    with pytest.raises(InvalidTransition) as exc:
        fulfil(database, dropped.id)
    assert exc.value.extra["status"] == "cancelled"
    assert world.stock(sku) == (9, 0)
    assert [t for t, _ in events_for(world, shipped.id)].count("orders.order_fulfilled") == 1


def test_fulfil_unknown_or_malformed_order_is_not_found(database):
    with pytest.raises(OrderNotFound):
        fulfil(database, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(OrderNotFound):
        fulfil(database, "garbage")


def test_get_order_visibility(database, world):
    sku, who = world.product(), world.customer()
    order = place(database, who, [(sku, 1)])
    with database.unit_of_work() as uow:
        assert get_order(uow, who, order.id) == order
        assert get_order(uow, staff(), order.id) == order
        with pytest.raises(OrderNotFound):
            get_order(uow, customer(), order.id)
        with pytest.raises(OrderNotFound):
            get_order(uow, who, "123")
        with pytest.raises(OrderNotFound):
            get_order(uow, staff(), "00000000-0000-4000-8000-000000000000")


def race_cancel_and_fulfil(database, who, order_id) -> dict:
    barrier = threading.Barrier(2)
    out: dict = {}

    def run(name, fn):
        barrier.wait()
        try:
            out[name] = fn()
        except BaseException as exc:
            out[name] = exc

    threads = [threading.Thread(target=run, args=("cancel", lambda: cancel(database, who, order_id))),
               threading.Thread(target=run, args=("fulfil", lambda: fulfil(database, order_id)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_concurrent_cancel_and_fulfil_exactly_one_wins(database, world):
    sku, who = world.product(stock=10, price=100), world.customer(funds=1000)
    for _ in range(3):
        order = place(database, who, [(sku, 1)])
        out = race_cancel_and_fulfil(database, who, order.id)
        errors = [v for v in out.values() if isinstance(v, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], InvalidTransition), out
    # each of the three orders ended either cancelled (stock back, money back) or fulfilled (stock gone)
    on_hand, reserved = world.stock(sku)
    assert reserved == 0
    shipped = 10 - on_hand
    assert world.balance(who) == 1000 - 100 * shipped
