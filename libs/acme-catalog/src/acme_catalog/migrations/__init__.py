"""Alembic environment of the `catalog` schema, run by acme_platform's MigrationRunner."""
