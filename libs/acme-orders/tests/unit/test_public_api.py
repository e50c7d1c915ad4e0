import acme_platform
import pytest

import acme_orders
from acme_orders.model import single_currency


def test_every_exported_name_exists():
    for name in acme_orders.__all__:
        assert hasattr(acme_orders, name), name


@pytest.mark.parametrize("error, category, code", [
    (acme_orders.InvalidOrder, acme_platform.InvalidInput, "orders.invalid_order"),
    (acme_orders.UnknownProduct, acme_platform.InvalidInput, "orders.unknown_product"),
    (acme_orders.ProductUnavailable, acme_platform.InvalidInput, "orders.product_unavailable"),
    (acme_orders.OrderNotFound, acme_platform.NotFound, "orders.order_not_found"),
    (acme_orders.InvalidTransition, acme_platform.Conflict, "orders.invalid_transition"),
    (acme_orders.IdempotencyKeyReused, acme_platform.Conflict, "orders.idempotency_key_reused"),
    (acme_orders.StaffOnly, acme_platform.Forbidden, "orders.staff_only"),
])
def test_errors_have_a_category_and_a_stable_code(error, category, code):
    assert issubclass(error, category)
    assert issubclass(error, acme_orders.OrdersError)
    assert error.code == code
    assert error("x", field="f").to_dict() == {"code": code, "detail": "x", "field": "f"}


def test_topics_and_domain():
    assert (acme_orders.ORDER_PLACED, acme_orders.ORDER_CANCELLED, acme_orders.ORDER_FULFILLED) == (
        "orders.order_placed", "orders.order_cancelled", "orders.order_fulfilled")
    spec = acme_orders.DOMAIN
    assert (spec.name, spec.package, spec.schema, spec.migrations) == (
        "orders", "acme-orders", "orders", "acme_orders.migrations")
    assert set(spec.depends_on) == {"catalog", "billing"}


def test_values_are_frozen():
    line = acme_orders.OrderLine("A-1", 1, 100)
    with pytest.raises(AttributeError):
        line.quantity = 2  # type: ignore[misc]
    item = acme_orders.OrderItem("A-1", 1)
    with pytest.raises(AttributeError):
        item.quantity = 2  # type: ignore[misc]


def test_one_currency_per_order():
    assert single_currency(["USD", "USD"]) == "USD"
    with pytest.raises(acme_orders.InvalidOrder) as exc:
        single_currency(["USD", "EUR"])
    assert exc.value.extra["field"] == "items"
