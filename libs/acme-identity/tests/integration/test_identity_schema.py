"""The migration and tables.py describe the same schema (so queries and DDL cannot drift apart)."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from acme_identity.tables import metadata


def test_tables_match_the_migrated_schema(database):
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_schemas": True,
            "include_name": lambda name, type_, parents: name == "identity" if type_ == "schema" else True,
            # Tables only in the database are the platform's (outbox, alembic_version, its ledger ...).
            "include_object": lambda obj, name, type_, reflected, compare_to:
                not (type_ == "table" and reflected and compare_to is None),
            "compare_type": True,
        })
        assert compare_metadata(context, metadata) == []


def test_hot_lookups_are_indexed(database):
    with database.engine.connect() as conn:
        indexes = dict(conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'identity'").all())
    assert "UNIQUE" in indexes["accounts_email_lower_key"] and "lower(email)" in indexes["accounts_email_lower_key"]
    assert "UNIQUE" in indexes["tokens_token_hash_key"] and "(token_hash)" in indexes["tokens_token_hash_key"]
    assert "(account_id)" in indexes["tokens_account_id"]
