"""tables.py mirrors the migrations: autogenerate against a migrated database proposes nothing."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from acme_orders.tables import metadata

# Kept in every domain schema by acme-platform, not described by the domain's metadata.
PLATFORM_TABLES = {"alembic_version", "acme_migration_ledger", "outbox"}


def include_name(name, type_, parents):
    if type_ == "schema":
        return name == "orders"
    if type_ == "table":
        return name not in PLATFORM_TABLES
    return True


def test_tables_match_the_migrated_schema(database):
    with database.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "include_schemas": True,
            "include_name": include_name,
            "compare_type": True,
            "version_table_schema": "orders",
        })
        diffs = compare_metadata(ctx, metadata)
    assert diffs == []
