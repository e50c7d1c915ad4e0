"""The orders schema as SQLAlchemy Core tables, mirroring the migrations (which are the DDL of record).

The outbox, alembic_version and the migration ledger in this schema belong to acme-platform and are not
described here (its Alembic env leaves them out of autogenerate comparisons)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "orders"
metadata = sa.MetaData(schema=SCHEMA)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    # identity's account id, kept as text: orders must not depend on how identity spells its ids.
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("total_cents", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("status IN ('placed', 'fulfilled', 'cancelled')", name="orders_status_known"),
    sa.CheckConstraint("total_cents >= 0", name="orders_total_not_negative"),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="orders_currency_iso4217"),
    sa.CheckConstraint("customer_id <> ''", name="orders_customer_not_empty"),
)
sa.Index("orders_customer_created", orders.c.customer_id, orders.c.created_at.desc(), orders.c.id.desc())
sa.Index("orders_status_created", orders.c.status, orders.c.created_at.desc(), orders.c.id.desc())
sa.Index("orders_created", orders.c.created_at.desc(), orders.c.id.desc())

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("unit_price_cents", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(["order_id"], [orders.c.id], ondelete="CASCADE", name="order_lines_order_fkey"),
    sa.CheckConstraint("quantity BETWEEN 1 AND 100", name="order_lines_quantity_range"),
    sa.CheckConstraint("unit_price_cents >= 0", name="order_lines_price_not_negative"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("order_id", UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.ForeignKeyConstraint(["order_id"], [orders.c.id], ondelete="CASCADE", deferrable=True,
                            initially="DEFERRED", name="idempotency_keys_order_fkey"),
    sa.CheckConstraint("char_length(key) BETWEEN 1 AND 200", name="idempotency_keys_key_length"),
)
sa.Index("idempotency_keys_order", idempotency_keys.c.order_id)
