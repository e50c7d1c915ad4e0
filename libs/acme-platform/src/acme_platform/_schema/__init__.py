"""Alembic environment for the platform's own schema, `acme_platform` (consumer offsets, registry, ledger)."""
