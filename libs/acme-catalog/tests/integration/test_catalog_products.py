"""create / update / get / get_products against the real schema."""
from __future__ import annotations

from datetime import timezone

import pytest
import sqlalchemy as sa

import acme_catalog as catalog


def test_create_normalises_the_sku_and_starts_at_version_1(uow, new_sku, outbox):
    sku = new_sku()
    product = catalog.create_product(
        uow, sku=f"  {sku.lower()} ", name=" Blue mug ", price_cents=1250, currency="EUR",
        description="Holds coffee.", stock=7,
    )
    assert product.sku == sku
    assert (product.name, product.description, product.price_cents, product.currency) == (
        "Blue mug", "Holds coffee.", 1250, "EUR")
    assert (product.active, product.on_hand, product.reserved, product.available) == (True, 7, 0, 7)
    assert product.version == 1
    assert product.updated_at.tzinfo is timezone.utc
    assert catalog.get_product(uow, sku) == product
    [event] = outbox(uow, sku)
    assert event.topic == catalog.PRODUCT_CHANGED
    assert event.payload == {"sku": sku, "version": 1, "changes": ["created"]}
    assert event.this_tx


def test_create_defaults(uow, new_sku):
    product = catalog.create_product(uow, sku=new_sku(), name="n", price_cents=0, currency="USD")
    assert (product.description, product.on_hand, product.active) == ("", 0, True)


def test_create_inactive_product(uow, make_product):
    assert make_product(uow, active=False).active is False


def test_duplicate_sku_is_a_conflict_even_in_another_case(database, committed_product):
    product = committed_product()
    with pytest.raises(catalog.DuplicateSku) as info:
        with database.unit_of_work() as uow:
            catalog.create_product(uow, sku=product.sku.lower(), name="other", price_cents=1, currency="EUR")
    assert info.value.extra["sku"] == product.sku


@pytest.mark.parametrize("field, value", [
    ("sku", "no"), ("name", ""), ("description", "x" * 2001), ("price_cents", 1.5),
    ("price_cents", True), ("currency", "eur"), ("stock", -1), ("active", "yes"),
])
def test_create_rejects_invalid_fields(uow, make_product, field, value):
    with pytest.raises(catalog.InvalidProduct) as info:
        make_product(uow, **{field: value})
    assert info.value.extra["field"] == field


@pytest.mark.parametrize("assignment", [
    "reserved = on_hand + 1", "on_hand = -1", "reserved = -1", "price_cents = -1",
    "currency = 'eur'", "sku = 'bad sku'", "name = ''", "on_hand = 1000001",
])
def test_the_table_refuses_what_python_refuses(database, committed_product, assignment):
    """The CHECK constraints are the last line of defence for code that bypasses the domain."""
    product = committed_product()
    with pytest.raises(sa.exc.IntegrityError):
        with database.unit_of_work() as uow:
            uow.connection.exec_driver_sql(
                f"UPDATE catalog.products SET {assignment} WHERE sku = %(s)s", {"s": product.sku})


def test_get_product_normalises_and_reports_missing_skus(uow, make_product, new_sku):
    product = make_product(uow)
    assert catalog.get_product(uow, f" {product.sku.lower()}") == product
    missing = new_sku()
    with pytest.raises(catalog.ProductNotFound) as info:
        catalog.get_product(uow, missing)
    assert info.value.extra["sku"] == missing
    assert info.value.code == "catalog.product_not_found"
    with pytest.raises(catalog.ProductNotFound):
        catalog.get_product(uow, "not a sku!")


def test_get_products_returns_only_existing_ones_in_one_query(uow, make_product, new_sku, statements):
    a, b = make_product(uow), make_product(uow)
    with statements(uow) as sent:
        found = catalog.get_products(uow, [a.sku, b.sku.lower(), new_sku(), "bad sku", a.sku])
    assert found == {a.sku: a, b.sku: b}
    assert len(sent) == 1
    assert catalog.get_products(uow, []) == {}


def test_every_read_returns_the_stored_product_in_utc(uow, make_product):
    made = make_product(uow, description="Holds tea.", price_cents=705, currency="USD", stock=9)
    catalog.reserve(uow, made.sku, 4)
    stored = catalog.update_product(uow, made.sku, active=False)
    assert (stored.active, stored.on_hand, stored.reserved, stored.version) == (False, 9, 4, 3)
    # A prefix of the sku sorts just before it: the listing's first row is this product.
    before = stored.sku[:-1]

    uow.connection.exec_driver_sql("SET LOCAL TimeZone = 'Asia/Kolkata'")
    reads = [
        catalog.get_product(uow, stored.sku),
        catalog.get_products(uow, [stored.sku])[stored.sku],
        catalog.list_products(uow, after=before, limit=1, include_inactive=True).items[0],
    ]
    for product in reads:
        assert product == stored
        assert product.updated_at.tzinfo is timezone.utc
    assert stored.sku not in [p.sku for p in catalog.list_products(uow, after=before, limit=1).items]


def test_update_changes_only_given_fields_and_says_which(uow, make_product, outbox):
    product = make_product(uow, description="old")
    updated = catalog.update_product(uow, product.sku.lower(), price_cents=2500, name=product.name)
    assert updated.price_cents == 2500
    assert (updated.name, updated.description, updated.active) == (product.name, "old", True)
    assert updated.version == product.version + 1
    assert outbox(uow, product.sku)[-1].payload == {
        "sku": product.sku, "version": updated.version, "changes": ["price_cents"]}

    again = catalog.update_product(uow, product.sku, name="New name", description="", active=False)
    assert (again.name, again.description, again.active, again.price_cents) == ("New name", "", False, 2500)
    assert outbox(uow, product.sku)[-1].payload["changes"] == ["name", "description", "active"]


def test_update_without_a_real_change_keeps_the_version_and_publishes_nothing(uow, make_product, outbox):
    product = make_product(uow)
    assert catalog.update_product(uow, product.sku) == product
    assert catalog.update_product(uow, product.sku, price_cents=product.price_cents) == product
    assert len(outbox(uow, product.sku)) == 1   # the creation only


def test_update_of_missing_or_invalid(uow, make_product, new_sku):
    with pytest.raises(catalog.ProductNotFound):
        catalog.update_product(uow, new_sku(), price_cents=5)
    product = make_product(uow)
    with pytest.raises(catalog.InvalidProduct) as info:
        catalog.update_product(uow, product.sku, price_cents=-5)
    assert info.value.extra["field"] == "price_cents"
    with pytest.raises(catalog.InvalidProduct) as info:
        catalog.update_product(uow, product.sku, active=1)
    assert info.value.extra["field"] == "active"


def test_update_is_two_statements(uow, make_product, statements):
    product = make_product(uow)
    with statements(uow) as sent:
        catalog.update_product(uow, product.sku, price_cents=1)
    assert len(sent) == 2   # UPDATE ... RETURNING, outbox INSERT
