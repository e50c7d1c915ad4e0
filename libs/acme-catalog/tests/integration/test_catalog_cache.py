"""ProductCache with a real ChangeListener: event-driven eviction across connections, no TTL."""
from __future__ import annotations

import time

import pytest
from acme_platform import ChangeListener
from sqlalchemy import event

import acme_catalog as catalog

SPEC_BOUND_S = 1.0   # the storefront requirement: a backoffice change shows within 1 s


def _start_listener(database) -> ChangeListener:
    started = ChangeListener(database.settings.database_url, application_name="catalog-cache-tests",
                             reconnect_delay=0.1).start()
    assert started.wait_connected(10)
    return started


@pytest.fixture(scope="module")
def shared_listener(database):
    started = _start_listener(database)
    yield started
    started.stop()


@pytest.fixture
def listener(database):
    """A listener of the test's own, for tests that disconnect it."""
    started = _start_listener(database)
    yield started
    started.stop()


@pytest.fixture
def cache(shared_listener):
    return catalog.ProductCache(shared_listener)


@pytest.fixture
def cached_get(database):
    """cached_get(cache, sku) -> (product, number of SQL statements the lookup's unit of work sent)."""
    def get(cache, sku):
        sent = []

        def record(conn, cursor, statement, parameters, context, executemany):
            sent.append(statement)

        event.listen(database.engine, "before_cursor_execute", record)
        try:
            with database.unit_of_work() as uow:
                product = cache.get(uow, sku)
        finally:
            event.remove(database.engine, "before_cursor_execute", record)
        return product, len(sent)
    return get


def _poll(condition, timeout):
    """Bounded wait; returns the seconds it took or None if the bound passed."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def _warm(cached_get, cache, sku):
    """Load until a lookup is answered from memory (the product's own creation event may still be in
    flight and evict the first copy)."""
    assert _poll(lambda: cached_get(cache, sku)[1] == 0, 5.0) is not None, "never served from memory"


def _sneak_price(database, sku, price):
    """Change the price without publishing: only a stale-serving cache could miss it."""
    with database.unit_of_work() as uow:
        uow.connection.exec_driver_sql(
            "UPDATE catalog.products SET price_cents = %(p)s WHERE sku = %(s)s", {"p": price, "s": sku})


def test_a_hit_costs_no_query_and_returns_the_product(cache, committed_product, cached_get):
    product = committed_product()
    _warm(cached_get, cache, product.sku)
    assert cached_get(cache, product.sku.lower()) == (product, 0)


def test_price_change_committed_elsewhere_evicts_within_one_second(
        database, cache, committed_product, cached_get):
    product = committed_product(price_cents=1000)
    _warm(cached_get, cache, product.sku)
    with database.unit_of_work() as uow:   # another connection, like the backoffice
        catalog.update_product(uow, product.sku, price_cents=1500)
    took = _poll(lambda: cached_get(cache, product.sku)[0].price_cents == 1500, SPEC_BOUND_S)
    assert took is not None, "cached price still served 1 s after the change committed"


def test_stock_changes_evict_too(database, cache, committed_product, cached_get):
    product = committed_product(stock=5)
    _warm(cached_get, cache, product.sku)
    with database.unit_of_work() as uow:
        catalog.reserve(uow, product.sku, 2)
    assert _poll(lambda: cached_get(cache, product.sku)[0].reserved == 2, SPEC_BOUND_S) is not None


def test_cache_really_caches_while_connected(database, cache, committed_product, cached_get):
    product = committed_product(price_cents=1000)
    _warm(cached_get, cache, product.sku)
    _sneak_price(database, product.sku, 1234)
    assert cached_get(cache, product.sku) == (product, 0)


def test_serves_nothing_while_the_listener_is_disconnected(database, listener, committed_product, cached_get):
    cache = catalog.ProductCache(listener)
    product = committed_product(price_cents=1000)
    _warm(cached_get, cache, product.sku)
    listener.stop()
    assert not listener.connected
    _sneak_price(database, product.sku, 1234)
    fresh, queries = cached_get(cache, product.sku)
    assert (fresh.price_cents, queries) == (1234, 1)
    _sneak_price(database, product.sku, 4321)
    fresh, queries = cached_get(cache, product.sku)
    assert (fresh.price_cents, queries) == (4321, 1)


def test_a_reconnect_flushes_what_may_have_been_missed(database, listener, committed_product, cached_get):
    cache = catalog.ProductCache(listener)
    product = committed_product(price_cents=1000)
    _warm(cached_get, cache, product.sku)
    _sneak_price(database, product.sku, 1234)
    listener.drop_connection()
    assert _poll(lambda: listener.reconnects >= 1 and listener.connected, 10) is not None
    assert _poll(lambda: cached_get(cache, product.sku)[0].price_cents == 1234, 5) is not None


def test_a_read_of_an_uncommitted_change_is_never_cached(database, cache, committed_product, cached_get):
    product = committed_product(price_cents=1000)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with database.unit_of_work() as uow:
            catalog.update_product(uow, product.sku, price_cents=1)
            assert cache.get(uow, product.sku).price_cents == 1   # the transaction sees its own change
            raise Abort
    assert _poll(lambda: cached_get(cache, product.sku)[1] == 0, 5.0) is not None
    assert cached_get(cache, product.sku)[0].price_cents == 1000


def test_missing_products_raise_and_are_not_cached(cache, new_sku, cached_get):
    sku = new_sku()
    with pytest.raises(catalog.ProductNotFound):
        cached_get(cache, sku)
    assert len(cache) == 0


def test_max_entries_bounds_memory(shared_listener, committed_product, cached_get):
    small = catalog.ProductCache(shared_listener, max_entries=2)
    products = [committed_product() for _ in range(3)]
    for product in products:
        _warm(cached_get, small, product.sku)
    assert len(small) == 2
    assert cached_get(small, products[-1].sku)[1] == 0
