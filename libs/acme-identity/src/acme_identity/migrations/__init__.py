"""Alembic environment of the identity schema (run by acme_platform's MigrationRunner)."""
