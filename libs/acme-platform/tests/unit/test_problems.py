from acme_platform import Conflict, InvalidInput, NotFound, PaymentRequired
from acme_platform.events.outbox import validate_topic
from acme_platform.web.problems import status_for

import pytest


class InsufficientStock(Conflict):
    code = "catalog.insufficient_stock"


def test_categories_map_to_statuses():
    assert status_for(InsufficientStock("x", sku="A")) == 409
    assert status_for(NotFound()) == 404
    assert status_for(InvalidInput(field="x")) == 422
    assert status_for(PaymentRequired()) == 402


def test_domain_error_carries_code_and_extra():
    err = InsufficientStock("only 1 left", sku="SKU-1")
    assert err.to_dict() == {"code": "catalog.insufficient_stock", "detail": "only 1 left", "sku": "SKU-1"}


@pytest.mark.parametrize("topic", ["catalog", "Catalog.changed", "catalog.", "a.b.c", "catalog.product-changed"])
def test_bad_topics_rejected(topic):
    with pytest.raises(ValueError):
        validate_topic(topic)


def test_good_topic():
    assert validate_topic("catalog.product_changed") == "catalog.product_changed"
