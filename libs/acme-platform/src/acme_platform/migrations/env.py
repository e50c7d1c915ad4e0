"""The body of every domain's Alembic env.py, so each domain's env.py is two lines:

    from acme_platform.migrations import run_env
    from acme_catalog.tables import metadata
    run_env(schema="catalog", target_metadata=metadata)
"""
from __future__ import annotations

import os

import sqlalchemy as sa


# Tables the platform keeps inside every domain schema; the domain's metadata does not describe them.
PLATFORM_OWNED_TABLES = frozenset({"acme_migration_ledger", "outbox", "alembic_version"})


def _only_this_schema(schema: str):
    # Autogenerate must never propose changes to another domain's schema, nor to platform-owned tables.
    def include_name(name, type_, parent_names):  # noqa: ARG001 - alembic's include_name signature
        if type_ == "schema":
            return name == schema
        if type_ == "table":
            return name not in PLATFORM_OWNED_TABLES
        return True

    return include_name


def run_env(schema: str, target_metadata: sa.MetaData | None = None) -> None:
    from alembic import context

    config = context.config
    common = dict(
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=_only_this_schema(schema),
        compare_type=True,
    )
    # lock_timeout lives in the migration's own SQL (online and in offline --sql output): a DDL lock
    # request queued behind a long transaction would otherwise stall every query of the live services.
    lock_timeout_ms = int(config.attributes.get("lock_timeout_ms", os.environ.get("ACME_MIGRATION_LOCK_TIMEOUT_MS", 5000)))
    statement_timeout_ms = int(config.attributes.get(
        "statement_timeout_ms", os.environ.get("ACME_MIGRATION_STATEMENT_TIMEOUT_MS", 600_000)))
    on_apply = config.attributes.get("on_version_apply")
    if on_apply is not None:
        common["on_version_apply"] = on_apply

    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url") or "postgresql://",
                          literal_binds=True, dialect_opts={"paramstyle": "named"}, **common)
        with context.begin_transaction():
            context.execute(f"SET lock_timeout = {lock_timeout_ms}")
            context.execute(f"SET statement_timeout = {statement_timeout_ms}")
            context.run_migrations()
        return

    connection = config.attributes.get("connection")
    if connection is not None:
        # Run by acme_platform's MigrationRunner: the transaction and locks are the runner's.
        context.configure(connection=connection, **common)
        with context.begin_transaction():
            context.execute(f"SET LOCAL lock_timeout = {lock_timeout_ms}")
            context.execute(f"SET LOCAL statement_timeout = {statement_timeout_ms}")
            context.run_migrations()
        return

    # Plain `alembic -c ...` use by a developer: connect from DATABASE_DIRECT_URL (never a pooler), else DATABASE_URL.
    from ..config import to_sqlalchemy_url

    url = os.environ.get("DATABASE_DIRECT_URL") or os.environ["DATABASE_URL"]
    engine = sa.create_engine(to_sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        context.configure(connection=conn, **common)
        with context.begin_transaction():
            context.run_migrations()
