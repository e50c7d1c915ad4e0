"""Keyset pagination. Runs in its own database so "every product exactly once" is checked exactly."""
from __future__ import annotations

import random

import pytest
from acme_platform import Database, Settings
from acme_platform.migrations import MigrationRunner

import acme_catalog as catalog


@pytest.fixture(scope="module")
def listing_db(make_database):
    url = make_database()
    MigrationRunner(url, progress=lambda message: None).run()
    db = Database(Settings(database_url=url, service_name="catalog-listing-tests", pool_size=2))
    skus = [f"L-{n:03d}" for n in range(47)] + ["0-FIRST", "Z-LAST", "L-0-DASH", "L0A"]
    random.Random(7).shuffle(skus)
    inactive = set(skus[::5])
    with db.unit_of_work() as uow:
        for sku in skus:
            catalog.create_product(uow, sku=sku, name=sku, price_cents=100, currency="EUR",
                                   active=sku not in inactive)
    yield db, sorted(skus), inactive
    db.dispose()


def _walk(db, limit, include_inactive):
    seen, after, pages = [], None, 0
    while True:
        with db.unit_of_work() as uow:
            page = catalog.list_products(uow, limit=limit, after=after, include_inactive=include_inactive)
        pages += 1
        assert len(page.items) <= limit
        seen += [p.sku for p in page.items]
        if page.next is None:
            return seen, pages
        assert page.next == page.items[-1].sku
        after = page.next


@pytest.mark.parametrize("limit", [1, 7, 17, 51, 100])
def test_walk_visits_every_product_exactly_once_in_sku_order(listing_db, limit):
    db, skus, _ = listing_db
    seen, pages = _walk(db, limit, include_inactive=True)
    assert seen == skus   # byte order ("C" collation): '-' < digits < letters
    assert pages == -(-len(skus) // limit)   # no empty trailing page, even when the count divides evenly


@pytest.mark.parametrize("limit", [3, 20])
def test_walk_of_active_products_skips_inactive_ones(listing_db, limit):
    db, skus, inactive = listing_db
    seen, _ = _walk(db, limit, include_inactive=False)
    assert seen == [s for s in skus if s not in inactive]


def test_default_page_and_after_normalisation(listing_db):
    db, skus, inactive = listing_db
    active = [s for s in skus if s not in inactive]
    with db.unit_of_work() as uow:
        first = catalog.list_products(uow)
        assert [p.sku for p in first.items] == active[:20]
        lower = catalog.list_products(uow, after=first.next.lower(), limit=5)
        assert [p.sku for p in lower.items] == active[20:25]
        # `after` need not exist: a sku deleted or deactivated since still places the page correctly.
        assert [p.sku for p in catalog.list_products(uow, after="L-0000", limit=2).items] == [
            s for s in active if s > "L-0000"][:2]
        last = catalog.list_products(uow, after=active[-1])
        assert (last.items, last.next) == ([], None)


def test_list_is_one_query_fetching_limit_plus_one(listing_db):
    from sqlalchemy import event

    db, _, _ = listing_db
    sent = []
    with db.unit_of_work() as uow:
        event.listen(uow.connection, "before_cursor_execute",
                     lambda c, cur, statement, params, ctx, many: sent.append((statement, params)))
        catalog.list_products(uow, limit=10, after="L-010")
    [(statement, params)] = sent
    assert "ORDER BY" in statement and 11 in params.values()


@pytest.mark.parametrize("limit", [0, 101, True, "10"])
def test_limit_out_of_range_is_invalid(uow, limit):
    with pytest.raises(catalog.InvalidProduct) as info:
        catalog.list_products(uow, limit=limit)
    assert info.value.extra["field"] == "limit"


def test_malformed_after_is_invalid(uow):
    with pytest.raises(catalog.InvalidProduct) as info:
        catalog.list_products(uow, after="no good")
    assert info.value.extra["field"] == "after"
