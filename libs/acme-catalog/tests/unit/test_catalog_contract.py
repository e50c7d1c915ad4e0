"""The public contract other teams code against: names, error codes, categories, migrations."""
from __future__ import annotations

import importlib
import pkgutil

import pytest
from acme_platform import Conflict, DomainError, DomainSpec, InvalidInput, NotFound

import acme_catalog
from acme_catalog import migrations

EXPECTED_API = {
    "Product", "Page", "StockLevel",
    "create_product", "update_product", "get_product", "get_products", "list_products",
    "reserve", "reserve_many", "release", "release_many", "commit_reservation", "commit_many", "adjust_stock",
    "PRODUCT_CHANGED", "ProductCache", "DOMAIN",
    "CatalogError", "ProductNotFound", "DuplicateSku", "InvalidProduct", "InvalidQuantity", "ProductInactive",
    "InsufficientStock", "StockWouldGoNegative", "ReleaseExceedsReserved",
}


def test_public_api_is_exactly_the_agreed_names():
    assert set(acme_catalog.__all__) == EXPECTED_API
    for name in acme_catalog.__all__:
        assert hasattr(acme_catalog, name), name


@pytest.mark.parametrize("error, category, code", [
    (acme_catalog.ProductNotFound, NotFound, "catalog.product_not_found"),
    (acme_catalog.DuplicateSku, Conflict, "catalog.duplicate_sku"),
    (acme_catalog.InvalidProduct, InvalidInput, "catalog.invalid_product"),
    (acme_catalog.InvalidQuantity, InvalidInput, "catalog.invalid_quantity"),
    (acme_catalog.ProductInactive, InvalidInput, "catalog.product_inactive"),
    (acme_catalog.InsufficientStock, Conflict, "catalog.insufficient_stock"),
    (acme_catalog.StockWouldGoNegative, Conflict, "catalog.stock_would_go_negative"),
    (acme_catalog.ReleaseExceedsReserved, Conflict, "catalog.release_exceeds_reserved"),
])
def test_errors_have_a_category_and_a_stable_code(error, category, code):
    assert issubclass(error, category)
    assert issubclass(error, acme_catalog.CatalogError)
    assert issubclass(error, DomainError)
    assert error.code == code
    err = error("detail", sku="ABC", requested=3)
    assert err.to_dict() == {"code": code, "detail": "detail", "sku": "ABC", "requested": 3}


def test_topic_and_domain_spec():
    assert acme_catalog.PRODUCT_CHANGED == "catalog.product_changed"
    spec = acme_catalog.DOMAIN
    assert isinstance(spec, DomainSpec)
    assert (spec.name, spec.package, spec.schema, spec.migrations) == (
        "catalog", "acme-catalog", "catalog", "acme_catalog.migrations")
    assert spec.migrations_path.joinpath("env.py").is_file()


def test_domain_is_registered_through_its_entry_point():
    from acme_platform import installed_domains

    assert acme_catalog.DOMAIN in installed_domains(["catalog"])


def test_every_revision_is_prefixed_and_declares_its_phase():
    from acme_catalog.migrations import versions

    found = []
    for info in pkgutil.iter_modules(versions.__path__):
        module = importlib.import_module(f"{versions.__name__}.{info.name}")
        found.append(module.revision)
        assert module.revision.startswith("cat"), module.revision
        assert module.phase in ("expand", "contract")
    assert "cat0001" in found
    assert migrations.__name__ == acme_catalog.DOMAIN.migrations
