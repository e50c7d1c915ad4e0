import pytest

from acme_orders import InvalidOrder, StaffOnly, cancel_order, find_orders, list_orders, place_order

from orders_world import customer, staff


def walk(fetch, limit):
    seen, after, pages = [], None, 0
    while True:
        page = fetch(limit=limit, after=after)
        assert len(page.items) <= limit
        seen.extend(page.items)
        pages += 1
        if page.next is None:
            return seen, pages
        after = page.next


def test_list_orders_walks_every_order_once_newest_first(database, world):
    sku, who, other = world.product(stock=100, price=1), world.customer(), world.customer()
    placed = []
    for i in range(7):
        with database.unit_of_work() as uow:
            placed.append(place_order(uow, who, [(sku, 1 + i % 3)]).order)
    with database.unit_of_work() as uow:
        place_order(uow, other, [(sku, 1)])

    with database.unit_of_work() as uow:
        seen, pages = walk(lambda **kw: list_orders(uow, who, **kw), limit=3)

    assert [o.id for o in seen] == [o.id for o in reversed(placed)]
    assert pages == 3
    assert all(o.customer_id == who.subject_id for o in seen)
    keys = [(o.created_at, o.id) for o in seen]
    assert keys == sorted(keys, reverse=True)


def test_exact_multiple_of_limit_has_no_empty_trailing_page(database, world):
    sku, who = world.product(stock=100, price=1), world.customer()
    for _ in range(4):
        with database.unit_of_work() as uow:
            place_order(uow, who, [(sku, 1)])
    with database.unit_of_work() as uow:
        first = list_orders(uow, who, limit=2)
        second = list_orders(uow, who, limit=2, after=first.next)
        assert len(first.items) == len(second.items) == 2 and second.next is None


def test_orders_created_in_one_transaction_still_page_by_id(database, world):
    # Same created_at (now() is per transaction): the id breaks the tie, nothing is lost or repeated.
    sku, who = world.product(stock=100, price=1), world.customer()
    with database.unit_of_work() as uow:
        ids = {place_order(uow, who, [(sku, 1)]).order.id for _ in range(5)}
    with database.unit_of_work() as uow:
        seen, _ = walk(lambda **kw: list_orders(uow, who, **kw), limit=2)
    assert [o.id for o in seen] == sorted(ids, reverse=True)


def test_a_new_customer_has_an_empty_page(database):
    with database.unit_of_work() as uow:
        page = list_orders(uow, customer())
    assert page.items == [] and page.next is None


@pytest.mark.parametrize("kwargs, field", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                           ({"after": "bogus"}, "after")])
def test_bad_paging_arguments(database, kwargs, field):
    with database.unit_of_work() as uow:
        with pytest.raises(InvalidOrder) as exc:
            list_orders(uow, customer(), **kwargs)
    assert exc.value.extra["field"] == field


def test_find_orders_is_staff_only(database):
    with database.unit_of_work() as uow:
        with pytest.raises(StaffOnly) as exc:
            find_orders(uow, customer())
    assert exc.value.code == "orders.staff_only"


def test_find_orders_filters_by_customer_and_status(database, world):
    sku, who = world.product(stock=100, price=10), world.customer()
    ids = []
    for _ in range(5):
        with database.unit_of_work() as uow:
            ids.append(place_order(uow, who, [(sku, 1)]).order.id)
    with database.unit_of_work() as uow:
        cancel_order(uow, who, ids[1])
        cancel_order(uow, who, ids[3])

    admin = staff()
    with database.unit_of_work() as uow:
        everything, _ = walk(lambda **kw: find_orders(uow, admin, customer_id=who.subject_id, **kw), limit=2)
        cancelled, _ = walk(lambda **kw: find_orders(uow, admin, customer_id=who.subject_id,
                                                     status="cancelled", **kw), limit=1)
        placed, _ = walk(lambda **kw: find_orders(uow, admin, customer_id=who.subject_id,
                                                  status="placed", **kw), limit=100)
        with pytest.raises(InvalidOrder):
            find_orders(uow, admin, status="lost")
        with pytest.raises(InvalidOrder) as exc:
            find_orders(uow, admin, customer_id=42)
        assert exc.value.extra["field"] == "customer_id"
        latest = find_orders(uow, admin, status="placed", limit=1)

    assert [o.id for o in everything] == list(reversed(ids))
    assert [o.id for o in cancelled] == [ids[3], ids[1]]
    assert [o.id for o in placed] == [ids[4], ids[2], ids[0]]
    assert len(latest.items) == 1 and latest.items[0].status == "placed"
