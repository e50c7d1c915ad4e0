"""Fixtures for integration tests. `database` (a freshly migrated throwaway database, session scoped)
comes from acme_platform.testing.

Every test makes its own products with unique skus, so tests depend on neither each other's data nor
their order. Helpers are fixtures (not importable modules) so the suite runs under
--import-mode=importlib next to other libraries' tests.
"""
from __future__ import annotations

import contextlib
import uuid
from typing import Callable, Iterator

import pytest
from acme_platform import flush_events
from sqlalchemy import event

import acme_catalog as catalog


class _Rollback(Exception):
    pass


@pytest.fixture
def uow(database):
    """A unit of work rolled back after the test, for tests that need nothing committed."""
    try:
        with database.unit_of_work() as unit:
            yield unit
            raise _Rollback
    except _Rollback:
        pass


def _new_sku(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def new_sku() -> Callable[..., str]:
    return _new_sku


@pytest.fixture
def make_product() -> Callable[..., catalog.Product]:
    """Factory: make_product(uow, **overrides) with a unique sku and 10 units in stock."""
    def make(unit, **overrides) -> catalog.Product:
        values = dict(sku=_new_sku(), name="Test product", price_cents=1999, currency="EUR", stock=10)
        values.update(overrides)
        return catalog.create_product(unit, **values)
    return make


@pytest.fixture
def committed_product(database, make_product) -> Callable[..., catalog.Product]:
    """Factory: a product created in its own, committed unit of work."""
    def make(**overrides) -> catalog.Product:
        with database.unit_of_work() as unit:
            return make_product(unit, **overrides)
    return make


@pytest.fixture
def statements():
    """statements(uow) -> context manager collecting the SQL the block sends, including the one statement
    that writes the events it published (which the platform otherwise sends just before COMMIT)."""
    @contextlib.contextmanager
    def collect(uow) -> Iterator[list[str]]:
        flush_events(uow)          # events published before the block are not the block's
        connection = uow.connection
        sent: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            sent.append(statement)

        event.listen(connection, "before_cursor_execute", record)
        try:
            yield sent
            flush_events(uow)
        finally:
            event.remove(connection, "before_cursor_execute", record)
    return collect


@pytest.fixture
def outbox():
    """outbox(uow, sku) -> the catalog outbox rows about that sku, oldest first, each with
    `this_tx` telling whether the current transaction wrote it (its pending events are written first)."""
    def rows(uow, sku: str) -> list:
        flush_events(uow)
        return uow.connection.exec_driver_sql(
            "SELECT topic, key, payload, txid = pg_current_xact_id_if_assigned()::text::bigint AS this_tx "
            "FROM catalog.outbox WHERE key = %(k)s ORDER BY id",
            {"k": sku},
        ).all()
    return rows


@pytest.fixture
def stock_of(database) -> Callable[[str], tuple[int, int]]:
    """(on_hand, reserved) as committed, read in a fresh unit of work."""
    def read(sku: str) -> tuple[int, int]:
        with database.unit_of_work() as unit:
            product = catalog.get_product(unit, sku)
            return product.on_hand, product.reserved
    return read
