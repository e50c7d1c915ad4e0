"""The `catalog` schema as SQLAlchemy Core tables. The migrations are the source of truth for DDL;
this mirrors them for queries and for autogenerate comparisons."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "catalog"
metadata = sa.MetaData(schema=SCHEMA)

products = sa.Table(
    "products",
    metadata,
    # "C" collation: byte order, so keyset pagination and its index agree on every server locale.
    sa.Column("sku", sa.Text(collation="C"), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("price_cents", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("sku ~ '^[A-Z0-9][A-Z0-9-]{2,31}$'", name="products_sku_format"),
    sa.CheckConstraint("char_length(name) BETWEEN 1 AND 200", name="products_name_length"),
    sa.CheckConstraint("char_length(description) <= 2000", name="products_description_length"),
    sa.CheckConstraint("price_cents BETWEEN 0 AND 100000000", name="products_price_range"),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="products_currency_format"),
    sa.CheckConstraint("on_hand BETWEEN 0 AND 1000000", name="products_on_hand_range"),
    sa.CheckConstraint("reserved >= 0", name="products_reserved_not_negative"),
    sa.CheckConstraint("reserved <= on_hand", name="products_reserved_within_on_hand"),
    sa.Index("products_active_sku", "sku", postgresql_where=sa.text("active")),
)

# Written only through acme_platform.publish and created by acme_platform.migrations.create_outbox_table;
# mirrored here so autogenerate does not propose dropping it. (acme_platform has an `outbox_table`
# helper, but it is not part of its public API.)
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("txid", sa.BigInteger, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("outbox_txid_id", "txid", "id"),
)
