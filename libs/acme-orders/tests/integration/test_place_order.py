import acme_billing
import acme_catalog
import pytest

import acme_orders
from acme_orders import (
    IdempotencyKeyReused,
    InvalidOrder,
    OrderItem,
    ProductUnavailable,
    UnknownProduct,
    place_order,
)

from orders_world import new_sku


def place(db, who, items, key=None):
    with db.unit_of_work() as uow:
        return place_order(uow, who, items, idempotency_key=key)


def test_happy_path_reserves_charges_records_and_publishes(database, world):
    a, b = world.product(stock=10, price=250), world.product(stock=5, price=1000)
    who = world.customer(funds=10_000)

    placed = place(database, who, [OrderItem(a.lower(), 3), OrderItem(f" {b} ", 2)], key="k-1")

    order = placed.order
    assert placed.replayed is False
    assert order.customer_id == who.subject_id
    assert order.status == "placed" and order.currency == "USD"
    assert order.total_cents == 3 * 250 + 2 * 1000
    assert order.items == tuple(sorted([acme_orders.OrderLine(a, 3, 250), acme_orders.OrderLine(b, 2, 1000)],
                                       key=lambda line: line.sku))
    assert order.created_at.utcoffset().total_seconds() == 0

    assert world.stock(a) == (10, 3) and world.stock(b) == (5, 2)
    assert world.balance(who) == 10_000 - 2750

    with database.unit_of_work() as uow:
        assert acme_orders.get_order(uow, who, order.id) == order
    events = world.rows("SELECT topic, key, payload FROM orders.outbox WHERE key = %(k)s", k=order.id)
    assert [(e.topic, e.key, e.payload) for e in events] == [
        ("orders.order_placed", order.id, {"order_id": order.id, "customer_id": who.subject_id, "status": "placed"})
    ]
    assert world.traces_of(who) == {"orders": 1, "lines": 2, "keys": 1, "events": 1}


def test_the_charge_references_the_order(database, world):
    sku, who = world.product(price=100), world.customer(funds=1000)
    order = place(database, who, [(sku, 1)]).order
    # A refund of exactly that reference succeeds only if the charge carried it.
    with database.unit_of_work() as uow:
        acme_billing.refund(uow, who.subject_id, 100, reference=f"order:{order.id}")
    assert world.balance(who) == 1000


def test_without_a_key_two_identical_requests_are_two_orders(database, world):
    sku, who = world.product(stock=10, price=100), world.customer(funds=1000)
    first, second = place(database, who, [(sku, 1)]), place(database, who, [(sku, 1)])
    assert first.order.id != second.order.id
    assert world.balance(who) == 800 and world.stock(sku) == (10, 2)


def test_price_is_taken_from_the_catalog_at_that_moment(database, world):
    sku, who = world.product(stock=10, price=100), world.customer(funds=10_000)
    before = place(database, who, [(sku, 1)]).order
    with database.unit_of_work() as uow:
        acme_catalog.update_product(uow, sku, price_cents=300)
    after = place(database, who, [(sku, 1)]).order
    assert (before.total_cents, after.total_cents) == (100, 300)
    with database.unit_of_work() as uow:  # stored prices do not follow the catalog afterwards
        assert acme_orders.get_order(uow, who, before.id).items[0].unit_price_cents == 100


def test_a_free_order_charges_nothing(database, world):
    sku, who = world.product(price=0), world.customer(funds=0)
    order = place(database, who, [(sku, 2)]).order
    assert order.total_cents == 0 and world.stock(sku) == (10, 2)


# -- failures leave no trace -------------------------------------------------------------------

def assert_no_trace(world, who, balance, stock_before):
    assert world.traces_of(who) == {"orders": 0, "lines": 0, "keys": 0, "events": 0}
    assert world.balance(who) == balance
    for sku, level in stock_before.items():
        assert world.stock(sku) == level, sku


def snapshot(world, *skus):
    return {sku: world.stock(sku) for sku in skus}


def test_unknown_sku_leaves_no_trace(database, world):
    good, who = world.product(), world.customer(funds=5000)
    missing = new_sku()
    before = snapshot(world, good)
    with pytest.raises(UnknownProduct) as exc:
        place(database, who, [(good, 1), (missing.lower(), 1)], key="k")
    assert exc.value.extra["sku"] == missing
    assert exc.value.code == "orders.unknown_product"
    assert_no_trace(world, who, 5000, before)


def test_inactive_product_leaves_no_trace(database, world):
    good, off, who = world.product(), world.product(active=False), world.customer(funds=5000)
    before = snapshot(world, good, off)
    with pytest.raises(ProductUnavailable) as exc:
        place(database, who, [(good, 1), (off, 1)], key="k")
    assert exc.value.extra["sku"] == off
    assert exc.value.code == "orders.product_unavailable"
    assert_no_trace(world, who, 5000, before)


def test_insufficient_stock_names_the_sku_and_leaves_no_trace(database, world):
    plenty, scarce, who = world.product(stock=50), world.product(stock=2), world.customer(funds=50_000)
    before = snapshot(world, plenty, scarce)
    with pytest.raises(acme_catalog.InsufficientStock) as exc:
        place(database, who, [(plenty, 5), (scarce, 3)], key="k")
    assert exc.value.extra["sku"] == scarce
    assert exc.value.extra["requested"] == 3 and exc.value.extra["available"] == 2
    assert_no_trace(world, who, 50_000, before)


def test_insufficient_funds_leaves_no_trace(database, world):
    a, b, who = world.product(price=600), world.product(price=500), world.customer(funds=1000)
    before = snapshot(world, a, b)
    with pytest.raises(acme_billing.InsufficientFunds):
        place(database, who, [(a, 1), (b, 1)], key="k")
    assert_no_trace(world, who, 1000, before)


def test_mixed_currencies_are_refused_without_trace(database, world):
    usd, eur, who = world.product(currency="USD"), world.product(currency="EUR"), world.customer(funds=5000)
    before = snapshot(world, usd, eur)
    with pytest.raises(InvalidOrder) as exc:
        place(database, who, [(usd, 1), (eur, 1)], key="k")
    assert exc.value.extra["field"] == "items"
    assert_no_trace(world, who, 5000, before)


def test_a_failed_attempt_does_not_burn_the_key(database, world):
    sku, who = world.product(stock=10, price=600), world.customer(funds=500)
    with pytest.raises(acme_billing.InsufficientFunds):
        place(database, who, [(sku, 1)], key="retry-me")
    world.credit(who, 500)
    placed = place(database, who, [(sku, 1)], key="retry-me")
    assert placed.replayed is False and world.balance(who) == 400


def test_invalid_requests_touch_nothing(database, world):
    sku, who = world.product(), world.customer(funds=5000)
    with pytest.raises(InvalidOrder):
        place(database, who, [(sku, 1), (sku.lower(), 2)], key="k")
    with pytest.raises(InvalidOrder):
        place(database, who, [(sku, 0)])
    assert_no_trace(world, who, 5000, {sku: (10, 0)})


# -- idempotency -------------------------------------------------------------------------------

def test_same_key_same_body_replays_without_a_second_charge(database, world):
    a, b, who = world.product(price=100), world.product(price=200), world.customer(funds=1000)
    first = place(database, who, [(a, 1), (b, 2)], key="abc")
    again = place(database, who, [OrderItem(b.lower(), 2), OrderItem(a, 1)], key="abc")
    assert again.replayed is True
    assert again.order == first.order
    assert world.balance(who) == 500
    assert world.stock(a) == (10, 1) and world.stock(b) == (10, 2)
    assert world.traces_of(who) == {"orders": 1, "lines": 2, "keys": 1, "events": 1}


def test_same_key_different_body_is_refused(database, world):
    sku, who = world.product(price=100), world.customer(funds=1000)
    place(database, who, [(sku, 1)], key="abc")
    with pytest.raises(IdempotencyKeyReused) as exc:
        place(database, who, [(sku, 2)], key="abc")
    assert exc.value.extra["field"] == "Idempotency-Key"
    assert exc.value.code == "orders.idempotency_key_reused"
    assert world.balance(who) == 900 and world.stock(sku) == (10, 1)


def test_keys_are_scoped_per_customer(database, world):
    sku, alice, bob = world.product(price=100), world.customer(funds=1000), world.customer(funds=1000)
    a = place(database, alice, [(sku, 1)], key="same")
    b = place(database, bob, [(sku, 2)], key="same")
    assert a.order.id != b.order.id and not b.replayed
    assert (world.balance(alice), world.balance(bob)) == (900, 800)


def test_replay_returns_the_order_as_it_is_now(database, world):
    sku, who = world.product(price=100), world.customer(funds=1000)
    first = place(database, who, [(sku, 1)], key="k")
    with database.unit_of_work() as uow:
        acme_orders.cancel_order(uow, who, first.order.id)
    again = place(database, who, [(sku, 1)], key="k")
    assert again.replayed and again.order.id == first.order.id and again.order.status == "cancelled"
    assert world.balance(who) == 1000


def test_orders_touches_its_own_tables_in_few_statements(database, world):
    """The hot path is benchmarked against raw SQL: key claim, reservation, charge, order+lines insert, and
    one statement for the events of all three domains: five round trips for the whole order."""
    import sqlalchemy as sa

    a, b, who = world.product(), world.product(), world.customer()
    ours: list[str] = []
    everything: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        everything.append(statement)
        if "orders." in statement or '"orders".' in statement:
            ours.append(statement)

    sa.event.listen(database.engine, "before_cursor_execute", spy)
    try:
        place(database, who, [(a, 1), (b, 1)], key="counted")
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", spy)
    assert len(ours) == 3, ours
    assert len(everything) == 5, everything
    assert all(f'"{domain}".outbox' in everything[-1] for domain in ("orders", "catalog", "billing"))
