"""The migrated schema matches what the code declares."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from acme_platform.migrations import pending_revisions

import acme_catalog
from acme_catalog.tables import metadata


def test_catalog_is_migrated_to_head(database):
    with database.engine.connect() as conn:
        assert pending_revisions(conn, [acme_catalog.DOMAIN]) == {}
        assert conn.exec_driver_sql("SELECT version_num FROM catalog.alembic_version").scalar() == "cat0001"


# Tables acme_platform's migration runner keeps in every domain schema (besides alembic_version).
PLATFORM_OWNED_TABLES = {"acme_migration_ledger"}


def _ours(name, kind, parents):
    if kind == "schema":
        return name == "catalog"
    if kind == "table":
        return name not in PLATFORM_OWNED_TABLES
    return True


def test_tables_module_matches_the_migrations(database):
    """tables.py mirrors the DDL; autogenerate finding a difference means they drifted apart."""
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_schemas": True,
            "version_table_schema": "catalog",
            "compare_type": True,
            "include_name": _ours,
        })
        assert compare_metadata(context, metadata) == []


def test_named_constraints_and_indexes_exist(database):
    with database.engine.connect() as conn:
        constraints = set(conn.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'catalog.products'::regclass").scalars())
        indexes = set(conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'catalog'").scalars())
    assert {"products_pkey", "products_sku_format", "products_name_length", "products_description_length",
            "products_price_range", "products_currency_format", "products_on_hand_range",
            "products_reserved_not_negative", "products_reserved_within_on_hand"} <= constraints
    assert {"products_pkey", "products_active_sku", "outbox_txid_id"} <= indexes
