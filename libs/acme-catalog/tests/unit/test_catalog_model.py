"""Validation rules of acme_catalog.model: pure, no database."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from acme_catalog import InvalidProduct, InvalidQuantity, Page, Product, ProductNotFound, StockLevel
from acme_catalog import model

SKU_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")


# -- sku ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("ABC", "ABC"),
    ("  ab-12 ", "AB-12"),
    ("9-9", "9-9"),
    ("A" * 32, "A" * 32),
    ("x--", "X--"),
])
def test_sku_is_stripped_and_upper_cased(raw, expected):
    assert model.normalize_sku(raw) == expected


@pytest.mark.parametrize("raw", ["", "AB", "-AB", "A" * 33, "AB_1", "AB 1", "ÄBC", "AB.1", "AB\n1", None, 123, b"ABC"])
def test_malformed_sku_is_rejected_with_field(raw):
    with pytest.raises(InvalidProduct) as info:
        model.normalize_sku(raw)
    assert info.value.extra["field"] == "sku"
    assert info.value.code == "catalog.invalid_product"


@given(st.text(max_size=40))
def test_normalized_sku_always_matches_the_table_check(raw):
    try:
        sku = model.normalize_sku(raw)
    except InvalidProduct:
        assert model.lookup_sku(raw) is None
    else:
        assert SKU_RE.match(sku)
        assert model.lookup_sku(raw) == sku


def test_lookup_of_malformed_sku_is_not_found_without_asking_the_database():
    with pytest.raises(ProductNotFound) as info:
        model.existing_sku("no such sku!")
    assert info.value.extra["sku"] == "no such sku!"
    assert model.existing_sku(" abc ") == "ABC"


# -- product fields ----------------------------------------------------------------------------

def test_name_is_stripped_and_bounded():
    assert model.validate_name("  Widget ") == "Widget"
    assert model.validate_name("x" * 200) == "x" * 200
    for bad in ["", "   ", "x" * 201, None, 5]:
        with pytest.raises(InvalidProduct) as info:
            model.validate_name(bad)
        assert info.value.extra["field"] == "name"


def test_description_is_bounded():
    assert model.validate_description("") == ""
    assert model.validate_description("d" * 2000) == "d" * 2000
    for bad in ["d" * 2001, None, 1]:
        with pytest.raises(InvalidProduct) as info:
            model.validate_description(bad)
        assert info.value.extra["field"] == "description"


@pytest.mark.parametrize("price", [0, 1, 100_000_000])
def test_price_accepts_integer_minor_units(price):
    assert model.validate_price(price) == price


@pytest.mark.parametrize("price", [-1, 100_000_001, True, False, 1.0, 9.99, "100", None])
def test_price_rejects_bools_floats_and_out_of_range(price):
    with pytest.raises(InvalidProduct) as info:
        model.validate_price(price)
    assert info.value.extra["field"] == "price_cents"


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY"])
def test_currency_accepts_iso_codes(currency):
    assert model.validate_currency(currency) == currency


@pytest.mark.parametrize("currency", ["eur", "EU", "EURO", "E1R", "", None, " EUR"])
def test_currency_rejects_anything_else(currency):
    with pytest.raises(InvalidProduct) as info:
        model.validate_currency(currency)
    assert info.value.extra["field"] == "currency"


@pytest.mark.parametrize("stock", [-1, 1_000_001, True, 2.0, "3"])
def test_stock_rejects_out_of_range_and_non_integers(stock):
    with pytest.raises(InvalidProduct) as info:
        model.validate_stock(stock)
    assert info.value.extra["field"] == "stock"


def test_stock_bounds_are_inclusive():
    assert model.validate_stock(0) == 0
    assert model.validate_stock(1_000_000) == 1_000_000


@pytest.mark.parametrize("active", [1, 0, "yes", None])
def test_active_must_be_a_bool(active):
    with pytest.raises(InvalidProduct) as info:
        model.validate_active(active)
    assert info.value.extra["field"] == "active"


# -- quantities ----------------------------------------------------------------------------------

@pytest.mark.parametrize("quantity", [0, -1, 1_000_001, True, 1.0, "1", None])
def test_quantity_must_be_a_positive_integer(quantity):
    with pytest.raises(InvalidQuantity) as info:
        model.validate_quantity(quantity, "ABC")
    assert info.value.extra == {"field": "quantity", "sku": "ABC"}
    assert info.value.code == "catalog.invalid_quantity"


def test_quantity_bounds_are_inclusive():
    assert model.validate_quantity(1) == 1
    assert model.validate_quantity(1_000_000) == 1_000_000


@pytest.mark.parametrize("delta", [0, 1_000_001, -1_000_001, True, 1.5])
def test_delta_must_be_a_non_zero_integer(delta):
    with pytest.raises(InvalidQuantity) as info:
        model.validate_delta(delta, "ABC")
    assert info.value.extra["field"] == "delta"


def test_negative_delta_is_allowed():
    assert model.validate_delta(-5) == -5


def test_lines_are_validated_normalised_and_merged_in_first_appearance_order():
    merged = model.merge_lines([("b-2x", 1), ("AAA", 2), (" B-2X ", 3)])
    assert merged == [("B-2X", 4), ("AAA", 2)]


def test_merged_quantity_is_bounded_too():
    with pytest.raises(InvalidQuantity) as info:
        model.merge_lines([("AAA", 600_000), ("aaa", 600_000)])
    assert info.value.extra["sku"] == "AAA"


def test_a_bad_line_names_its_problem():
    with pytest.raises(InvalidQuantity) as info:
        model.merge_lines([("AAA", 1), ("BBB", 0)])
    assert info.value.extra == {"field": "quantity", "sku": "BBB"}
    with pytest.raises(ProductNotFound):
        model.merge_lines([("AAA", 1), ("bad sku", 1)])
    with pytest.raises(InvalidQuantity) as info:
        model.merge_lines([("AAA",)])
    assert info.value.extra["field"] == "lines"


# -- paging --------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [0, 101, -1, True, 2.0, "10", None])
def test_limit_is_capped(limit):
    with pytest.raises(InvalidProduct) as info:
        model.validate_limit(limit)
    assert info.value.extra["field"] == "limit"


def test_limit_bounds_are_inclusive():
    assert model.validate_limit(1) == 1
    assert model.validate_limit(100) == 100


def test_after_is_a_normalised_sku():
    assert model.validate_after(None) is None
    assert model.validate_after(" abc ") == "ABC"
    with pytest.raises(InvalidProduct) as info:
        model.validate_after("x")
    assert info.value.extra["field"] == "after"


# -- values --------------------------------------------------------------------------------------

def test_product_available_and_immutability():
    product = Product("ABC", "n", "", 100, "EUR", True, 10, 3, 1, datetime.now(timezone.utc))
    assert product.available == 7
    with pytest.raises(AttributeError):
        product.price_cents = 5  # type: ignore[misc]


def test_value_types():
    assert Page(items=[1, 2], next="ABC").next == "ABC"
    assert Page(items=[]).next is None
    assert StockLevel("ABC", 5, 2, 3).available == 3
