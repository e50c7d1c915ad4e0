"""Validation of an order request: lines, quantities, skus, idempotency keys."""
import pytest

from acme_orders import InvalidOrder, OrderItem
from acme_orders.model import check_idempotency_key, normalize_items


def field_of(excinfo) -> str:
    return excinfo.value.extra["field"]


def test_lines_come_back_as_normalised_order_items():
    lines = normalize_items([OrderItem(" ab-1 ", 2), ("cd-2", 1)])
    assert lines == (OrderItem("AB-1", 2), OrderItem("CD-2", 1))
    assert all(type(line) is OrderItem for line in lines)
    # An OrderItem is the (sku, quantity) line acme_catalog.reserve_many declares: no reshaping between.
    assert lines[0] == ("AB-1", 2)


def test_mappings_still_normalise_to_the_same_order_items():
    # Read as before 1.2 so existing callers keep working; what comes out is the one shape.
    assert normalize_items([{"sku": "ab-1", "quantity": 2}, {"sku": "Cd-2 ", "quantity": 1}]) == (
        OrderItem("AB-1", 2), OrderItem("CD-2", 1))


@pytest.mark.parametrize("quantity", [1, 100])
def test_quantity_bounds_are_inclusive(quantity):
    assert normalize_items([("SKU-1", quantity)]) == (("SKU-1", quantity),)


@pytest.mark.parametrize("quantity", [0, -1, 101, 2.0, "3", None, True, False])
def test_quantity_outside_1_to_100_or_not_an_int_is_rejected(quantity):
    with pytest.raises(InvalidOrder) as exc:
        normalize_items([("SKU-1", 1), ("SKU-2", quantity)])
    assert field_of(exc) == "items.1.quantity"
    assert exc.value.code == "orders.invalid_order"


def test_fifty_lines_are_fine_fifty_one_are_not():
    assert len(normalize_items([(f"SKU-{i}", 1) for i in range(50)])) == 50
    with pytest.raises(InvalidOrder) as exc:
        normalize_items([(f"SKU-{i}", 1) for i in range(51)])
    assert field_of(exc) == "items"


@pytest.mark.parametrize("items", [[], "SKU-1", b"x", {"sku": "A", "quantity": 1}, None, 3])
def test_items_must_be_a_non_empty_list(items):
    with pytest.raises(InvalidOrder) as exc:
        normalize_items(items)
    assert field_of(exc) == "items"


def test_duplicate_skus_are_rejected_after_normalisation():
    with pytest.raises(InvalidOrder) as exc:
        normalize_items([("sku-1", 1), (" SKU-1", 2)])
    assert field_of(exc) == "items"
    assert exc.value.extra["sku"] == "SKU-1"


@pytest.mark.parametrize("sku", ["", "   ", None, 12, "A\nB", "X" * 201])
def test_sku_must_be_printable_text(sku):
    with pytest.raises(InvalidOrder) as exc:
        normalize_items([(sku, 1)])
    assert field_of(exc) == "items.0.sku"


@pytest.mark.parametrize("line, field", [
    ({"sku": "A-1"}, "items.0.quantity"),
    ({"quantity": 1}, "items.0.sku"),
    (("A-1",), "items.0"),
    (("A-1", 1, 2), "items.0"),
    ("A-1", "items.0"),
])
def test_malformed_lines_name_the_line(line, field):
    with pytest.raises(InvalidOrder) as exc:
        normalize_items([line])
    assert field_of(exc) == field


def test_idempotency_key_is_optional_and_bounded():
    assert check_idempotency_key(None) is None
    assert check_idempotency_key("k") == "k"
    assert check_idempotency_key("x" * 200) == "x" * 200


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "nl\n", 42, b"bytes"])
def test_bad_idempotency_keys_are_rejected(key):
    with pytest.raises(InvalidOrder) as exc:
        check_idempotency_key(key)
    assert field_of(exc) == "Idempotency-Key"
