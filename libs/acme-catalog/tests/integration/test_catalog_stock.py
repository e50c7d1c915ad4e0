"""reserve / release / commit / adjust, one line and many, inside one transaction."""
from __future__ import annotations

import pytest

import acme_catalog as catalog


# -- reserve -------------------------------------------------------------------------------------

def test_reserve_holds_units_bumps_the_version_and_publishes(uow, make_product, outbox):
    product = make_product(uow, stock=10)
    reserved = catalog.reserve(uow, product.sku.lower(), 4)
    assert (reserved.on_hand, reserved.reserved, reserved.available) == (10, 4, 6)
    assert reserved.version == product.version + 1
    event = outbox(uow, product.sku)[-1]
    assert event.payload == {"sku": product.sku, "version": reserved.version, "changes": ["stock"]}
    assert event.this_tx


def test_reserve_is_one_update_and_one_outbox_insert(uow, make_product, statements):
    product = make_product(uow)
    with statements(uow) as sent:
        catalog.reserve(uow, product.sku, 1)
    assert [s.split()[0] for s in sent] == ["UPDATE", "WITH"]
    assert '"catalog".outbox' in sent[1]            # the events, written with the wake-up


def test_reserve_everything_then_one_more(uow, make_product):
    product = make_product(uow, stock=3)
    assert catalog.reserve(uow, product.sku, 3).available == 0
    with pytest.raises(catalog.InsufficientStock) as info:
        catalog.reserve(uow, product.sku, 1)
    assert info.value.extra == {"sku": product.sku, "requested": 1, "available": 0}
    assert catalog.get_product(uow, product.sku).reserved == 3


def test_reserve_failures_are_typed(uow, make_product, new_sku):
    missing = new_sku()
    with pytest.raises(catalog.ProductNotFound) as info:
        catalog.reserve(uow, missing, 1)
    assert info.value.extra["sku"] == missing
    inactive = make_product(uow, active=False)
    with pytest.raises(catalog.ProductInactive) as info:
        catalog.reserve(uow, inactive.sku, 1)
    assert info.value.extra["sku"] == inactive.sku
    assert catalog.get_product(uow, inactive.sku).reserved == 0


@pytest.mark.parametrize("quantity", [0, -1, True, 1.0, "2", 1_000_001])
def test_reserve_rejects_bad_quantities(uow, make_product, quantity):
    product = make_product(uow)
    with pytest.raises(catalog.InvalidQuantity) as info:
        catalog.reserve(uow, product.sku, quantity)
    assert info.value.extra == {"field": "quantity", "sku": product.sku}


def test_reserve_many_is_one_statement_plus_one_outbox_statement_for_all_lines(
        uow, make_product, statements, outbox):
    a, b, c = make_product(uow, stock=5), make_product(uow, stock=5), make_product(uow, stock=5)
    with statements(uow) as sent:
        result = catalog.reserve_many(uow, [(b.sku, 2), (a.sku.lower(), 1), (c.sku, 5), (a.sku, 2)])
    assert list(result) == [b.sku, a.sku, c.sku]
    assert (result[a.sku].reserved, result[b.sku].reserved, result[c.sku].reserved) == (3, 2, 5)
    # Round trips do not grow with the number of lines: one guarded update, one statement for the events.
    assert len(sent) == 2 and '"catalog".outbox' in sent[1] and '"catalog".outbox' not in sent[0]
    for product in (a, b, c):
        [_, changed] = outbox(uow, product.sku)
        assert changed.payload == {"sku": product.sku, "version": 2, "changes": ["stock"]}


def test_reserve_many_of_nothing_does_nothing(uow, statements):
    with statements(uow) as sent:
        assert catalog.reserve_many(uow, []) == {}
    assert sent == []


def test_reserve_many_is_all_or_nothing_even_inside_the_transaction(uow, make_product, outbox):
    first, second = make_product(uow, stock=5), make_product(uow, stock=1)
    with pytest.raises(catalog.InsufficientStock) as info:
        catalog.reserve_many(uow, [(first.sku, 2), (second.sku, 2)])
    assert info.value.extra == {"sku": second.sku, "requested": 2, "available": 1}
    # Nothing was reserved, so even a caller that swallowed the error could not commit half an order.
    assert catalog.get_product(uow, first.sku).reserved == 0
    assert len(outbox(uow, first.sku)) == 1


def test_reserve_many_second_line_failing_leaves_the_first_unreserved_after_rollback(
        database, committed_product, stock_of):
    first, second = committed_product(stock=5), committed_product(stock=1)
    with pytest.raises(catalog.InsufficientStock):
        with database.unit_of_work() as uow:
            catalog.reserve_many(uow, [(first.sku, 2), (second.sku, 2)])
    assert stock_of(first.sku) == (5, 0)
    assert stock_of(second.sku) == (1, 0)


def test_reserve_many_raises_the_first_failing_line_in_caller_order(uow, make_product, new_sku):
    ok, short, inactive = make_product(uow, stock=5), make_product(uow, stock=1), make_product(uow, active=False)
    missing = new_sku()
    with pytest.raises(catalog.ProductInactive) as info:
        catalog.reserve_many(uow, [(ok.sku, 1), (inactive.sku, 1), (short.sku, 9), (missing, 1)])
    assert info.value.extra["sku"] == inactive.sku
    with pytest.raises(catalog.ProductNotFound) as info:
        catalog.reserve_many(uow, [(ok.sku, 1), (missing, 1), (short.sku, 9)])
    assert info.value.extra["sku"] == missing
    with pytest.raises(catalog.InsufficientStock) as info:
        catalog.reserve_many(uow, [(short.sku, 2), (inactive.sku, 1)])
    assert info.value.extra["sku"] == short.sku


def test_reserve_many_adds_up_repeated_lines_before_checking(uow, make_product):
    product = make_product(uow, stock=3)
    with pytest.raises(catalog.InsufficientStock) as info:
        catalog.reserve_many(uow, [(product.sku, 2), (product.sku, 2)])
    assert info.value.extra["requested"] == 4


def test_reserve_many_validates_every_line_first(uow, make_product):
    product = make_product(uow)
    with pytest.raises(catalog.InvalidQuantity) as info:
        catalog.reserve_many(uow, [(product.sku, 1), (product.sku, 0)])
    assert info.value.extra["field"] == "quantity"
    assert catalog.get_product(uow, product.sku).reserved == 0


# -- release / commit ----------------------------------------------------------------------------

def test_release_gives_units_back(uow, make_product):
    product = make_product(uow, stock=5)
    catalog.reserve(uow, product.sku, 4)
    released = catalog.release(uow, product.sku, 3)
    assert (released.on_hand, released.reserved, released.available) == (5, 1, 4)
    assert released.version == 3


def test_release_never_below_zero(uow, make_product, new_sku):
    product = make_product(uow)
    catalog.reserve(uow, product.sku, 2)
    with pytest.raises(catalog.ReleaseExceedsReserved) as info:
        catalog.release(uow, product.sku, 3)
    assert info.value.extra == {"sku": product.sku, "requested": 3, "reserved": 2}
    assert isinstance(info.value, catalog.CatalogError) and info.value.code == "catalog.release_exceeds_reserved"
    with pytest.raises(catalog.ProductNotFound):
        catalog.release(uow, new_sku(), 1)


def test_release_and_commit_still_work_after_deactivation(uow, make_product):
    product = make_product(uow, stock=5)
    catalog.reserve(uow, product.sku, 4)
    catalog.update_product(uow, product.sku, active=False)
    assert catalog.release(uow, product.sku, 1).reserved == 3
    assert catalog.commit_reservation(uow, product.sku, 3).on_hand == 2


def test_release_many_is_all_or_nothing(uow, make_product):
    a, b = make_product(uow), make_product(uow)
    catalog.reserve_many(uow, [(a.sku, 3), (b.sku, 1)])
    with pytest.raises(catalog.ReleaseExceedsReserved) as info:
        catalog.release_many(uow, [(a.sku, 3), (b.sku, 2)])
    assert info.value.extra["sku"] == b.sku
    assert catalog.get_product(uow, a.sku).reserved == 3
    result = catalog.release_many(uow, [(a.sku, 3), (b.sku, 1)])
    assert (result[a.sku].reserved, result[b.sku].reserved) == (0, 0)


def test_commit_reservation_ships_reserved_units(uow, make_product, outbox):
    product = make_product(uow, stock=10)
    catalog.reserve(uow, product.sku, 4)
    shipped = catalog.commit_reservation(uow, product.sku, 3)
    assert (shipped.on_hand, shipped.reserved, shipped.available) == (7, 1, 6)
    assert outbox(uow, product.sku)[-1].payload["changes"] == ["stock"]


def test_commit_more_than_reserved_is_refused(uow, make_product):
    product = make_product(uow, stock=10)
    catalog.reserve(uow, product.sku, 1)
    with pytest.raises(catalog.ReleaseExceedsReserved) as info:
        catalog.commit_reservation(uow, product.sku, 2)
    assert info.value.extra == {"sku": product.sku, "requested": 2, "reserved": 1}
    assert catalog.get_product(uow, product.sku).on_hand == 10


def test_commit_many(uow, make_product, statements):
    a, b = make_product(uow, stock=4), make_product(uow, stock=4)
    catalog.reserve_many(uow, [(a.sku, 2), (b.sku, 4)])
    with statements(uow) as sent:
        result = catalog.commit_many(uow, [(a.sku, 2), (b.sku, 4)])
    assert len(sent) == 2
    assert (result[a.sku].on_hand, result[a.sku].reserved) == (2, 0)
    assert (result[b.sku].on_hand, result[b.sku].reserved) == (0, 0)
    with pytest.raises(catalog.ReleaseExceedsReserved):
        catalog.commit_many(uow, [(a.sku, 1)])


# -- adjust --------------------------------------------------------------------------------------

def test_adjust_stock_up_and_down(uow, make_product, outbox):
    product = make_product(uow, stock=5)
    assert catalog.adjust_stock(uow, product.sku, 10) == catalog.StockLevel(product.sku, 15, 0, 15)
    assert catalog.adjust_stock(uow, product.sku.lower(), -15) == catalog.StockLevel(product.sku, 0, 0, 0)
    assert catalog.get_product(uow, product.sku).version == 3
    assert outbox(uow, product.sku)[-1].payload == {"sku": product.sku, "version": 3, "changes": ["stock"]}


def test_adjust_stock_cannot_go_negative_or_below_reserved(uow, make_product):
    product = make_product(uow, stock=5)
    with pytest.raises(catalog.StockWouldGoNegative) as info:
        catalog.adjust_stock(uow, product.sku, -6)
    assert info.value.extra == {"sku": product.sku, "on_hand": 5, "reserved": 0, "delta": -6}
    catalog.reserve(uow, product.sku, 3)
    with pytest.raises(catalog.StockWouldGoNegative) as info:
        catalog.adjust_stock(uow, product.sku, -3)
    assert info.value.extra == {"sku": product.sku, "on_hand": 5, "reserved": 3, "delta": -3}
    assert catalog.adjust_stock(uow, product.sku, -2) == catalog.StockLevel(product.sku, 3, 3, 0)


def test_adjust_stock_other_failures(uow, make_product, new_sku):
    product = make_product(uow, stock=999_999)
    with pytest.raises(catalog.InvalidQuantity) as info:
        catalog.adjust_stock(uow, product.sku, 2)
    assert info.value.extra["field"] == "delta"
    for delta in (0, True, 0.5):
        with pytest.raises(catalog.InvalidQuantity):
            catalog.adjust_stock(uow, product.sku, delta)
    with pytest.raises(catalog.ProductNotFound):
        catalog.adjust_stock(uow, new_sku(), 1)
    assert catalog.get_product(uow, product.sku).on_hand == 999_999


# -- events and transactions ---------------------------------------------------------------------

def test_events_are_rolled_back_with_the_change(database, committed_product, outbox, stock_of):
    product = committed_product(stock=5)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with database.unit_of_work() as uow:
            catalog.reserve(uow, product.sku, 2)
            catalog.update_product(uow, product.sku, price_cents=1)
            assert [e.this_tx for e in outbox(uow, product.sku)] == [False, True, True]
            raise Abort
    with database.unit_of_work() as uow:
        assert [e.payload["changes"] for e in outbox(uow, product.sku)] == [["created"]]
        assert catalog.get_product(uow, product.sku).price_cents == product.price_cents
    assert stock_of(product.sku) == (5, 0)


def test_committed_changes_leave_their_events(database, committed_product, outbox):
    product = committed_product(stock=5)
    with database.unit_of_work() as uow:
        catalog.reserve(uow, product.sku, 2)
        catalog.commit_reservation(uow, product.sku, 2)
    with database.unit_of_work() as uow:
        assert [e.payload["version"] for e in outbox(uow, product.sku)] == [1, 2, 3]
