"""Every way an order is read back (by its owner, by staff, by idempotent replay, after a move, in a
listing) gives the order exactly as it was placed or moved: same fields, lines in code-point order,
timestamps in UTC."""
from dataclasses import replace
from datetime import timezone

import acme_catalog

from acme_orders import cancel_order, find_orders, get_order, list_orders, mark_fulfilled, place_order

from orders_world import new_sku, staff


def place(db, who, items, key=None):
    with db.unit_of_work() as uow:
        return place_order(uow, who, items, idempotency_key=key)


def test_every_read_returns_the_order_as_placed_with_lines_in_code_point_order(database, world):
    # "-" sorts before letters by code point but is ignored by linguistic collations (en_US would put
    # ...A before ...-Z): the lines must come back in Python's order whatever the server's locale.
    stem = new_sku()
    dash, letter, digit = f"{stem}-Z", f"{stem}A", f"{stem}0"
    with database.unit_of_work() as uow:
        for sku, price in ((dash, 300), (letter, 100), (digit, 200)):
            acme_catalog.create_product(uow, sku=sku, name=sku, price_cents=price, currency="USD", stock=10)
    who = world.customer()

    placed = place(database, who, [(letter, 1), (dash, 2), (digit, 3)], key="round-trip").order

    assert [line.sku for line in placed.items] == sorted([dash, letter, digit]) == [dash, digit, letter]
    assert placed.total_cents == 100 + 2 * 300 + 3 * 200
    with database.unit_of_work() as uow:
        assert get_order(uow, who, placed.id) == placed
        assert get_order(uow, staff(), placed.id) == placed
        assert list_orders(uow, who, limit=1).items == [placed]
    replay = place(database, who, [(dash, 2), (digit, 3), (letter, 1)], key="round-trip")
    assert replay.replayed and replay.order == placed


def test_a_move_changes_status_and_updated_at_only(database, world):
    a, b, who = world.product(price=100), world.product(price=50), world.customer()
    to_cancel, to_ship, for_staff = (place(database, who, items).order
                                     for items in ([(b, 1), (a, 2)], [(a, 1)], [(b, 2)]))

    with database.unit_of_work() as uow:
        cancelled = cancel_order(uow, who, to_cancel.id)  # guarded by the owner
    with database.unit_of_work() as uow:
        shipped = mark_fulfilled(uow, to_ship.id)  # no owner: staff/system
    with database.unit_of_work() as uow:
        staff_cancelled = cancel_order(uow, staff(), for_staff.id)  # no owner either

    for before, after, status in ((to_cancel, cancelled, "cancelled"), (to_ship, shipped, "fulfilled"),
                                  (for_staff, staff_cancelled, "cancelled")):
        assert after.status == status
        assert after.updated_at > before.updated_at and after.updated_at.tzinfo is timezone.utc
        assert after == replace(before, status=status, updated_at=after.updated_at)
        with database.unit_of_work() as uow:
            assert get_order(uow, who, after.id) == after


def test_reads_are_utc_whatever_the_session_time_zone(database, world):
    sku, who = world.product(), world.customer()
    placed = place(database, who, [(sku, 1)])
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql("SET LOCAL TimeZone = 'America/New_York'")
        again = get_order(uow, staff(), placed.order.id)
        [listed] = list_orders(uow, who).items
    for order in (again, listed):
        assert order == placed.order
        assert order.created_at.tzinfo is timezone.utc and order.updated_at.tzinfo is timezone.utc


def test_staff_listings_without_a_customer_filter_page_newest_first(database, world):
    # This session's database is shared by the whole suite: our orders are the newest, older pages
    # hold other tests' orders.
    sku, alice, bob = world.product(stock=100, price=1), world.customer(), world.customer()
    ids = [place(database, who, [(sku, 1)]).order.id for who in (alice, bob, alice, bob)]
    with database.unit_of_work() as uow:
        cancel_order(uow, bob, ids[3])

    admin = staff()
    with database.unit_of_work() as uow:
        first = find_orders(uow, admin, limit=2)
        second = find_orders(uow, admin, limit=2, after=first.next)
        placed_first = find_orders(uow, admin, status="placed", limit=2)
        placed_second = find_orders(uow, admin, status="placed", limit=1, after=placed_first.next)
        [latest_cancelled] = find_orders(uow, admin, status="cancelled", limit=1).items

    assert [o.id for o in first.items] == [ids[3], ids[2]]
    assert [o.id for o in second.items] == [ids[1], ids[0]]
    assert {o.customer_id for o in first.items + second.items} == {alice.subject_id, bob.subject_id}
    assert [o.id for o in placed_first.items] == [ids[2], ids[1]]
    assert [o.id for o in placed_second.items] == [ids[0]]
    assert latest_cancelled.id == ids[3]
